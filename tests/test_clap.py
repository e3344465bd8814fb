"""CLAP beyond the Act-VAE (paper 001 §III-C2 – §III-E, Alg. 2–4, Eq. 3–7): the contrastive term
reaches the plotted latents (Fig. 9), the VD-VAE's loss terms against hand computations, the EMA
teacher, the frozen codebook, the token policy and the RF head with knowledge matching.

The data is synthetic with structure to learn (conftest's ``learnable_robot_episodes``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import learnable_robot_episodes
from workbench.data.training_samples import FrameChunkDataset, collate
from workbench.data.normalize import compute_norm_stats
from workbench.methods import ActVAEMethodConfig, build_method

SIZE, HORIZON = 32, 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: a second thread only adds synchronisation


def robot_episodes(n: int = 8, T: int = 16) -> list:
    return learnable_robot_episodes(n, T, SIZE)


def dataset(**kw) -> FrameChunkDataset:
    eps = robot_episodes()
    base = FrameChunkDataset(eps, chunk_kind="raw", horizon=HORIZON)
    return FrameChunkDataset(eps, chunk_kind="raw", horizon=HORIZON, norm_stats=compute_norm_stats(base.chunks.values, base.chunks.mask), **kw)


# -- Fig. 9: the contrastive term reaches the Act-VAE latents the notebook plots -------------------


def _act_vae_grad(contrastive_weight: float, to_actions: bool) -> torch.Tensor:
    ds = dataset()
    torch.manual_seed(0)
    cfg = ActVAEMethodConfig.preset("smoke", contrastive_weight=contrastive_weight, contrastive_to_actions=to_actions,
                                    dead_code_window=0, patch_size=8)
    m = build_method("clap_actvae", cfg, ds.meta())
    m.train()
    m.training_step(collate([ds[i] for i in range(16)]))["loss"].backward()
    return m.act_vae.to_code.weight.grad.detach().clone()


def test_fig9_contrastive_gradient_reaches_the_plotted_act_vae_latents():
    # the Act-VAE's own loss is the same in all three: the difference is the SigLIP term's gradient
    without = _act_vae_grad(0.0, True)
    reaching = _act_vae_grad(1.0, True) - without
    detached = _act_vae_grad(1.0, False) - without
    assert float(reaching.abs().sum()) > 1e-4  # the term now shapes E_act's latents
    assert float(detached.abs().sum()) == 0.0  # the old stop-gradient target: nothing reached them


def test_actvae_paper_preset_is_table_ix():
    from workbench.train.config import make_config

    cfg = make_config("clap_actvae", "paper")
    mc = cfg.method_config_object()
    assert (mc.beta, mc.codebook_lr_scale, mc.num_registers, mc.codebook_size) == (1.0, 50.0, 16, 256)
    assert cfg.data.horizon == 32 and cfg.optim.lr == 2e-5 and cfg.optim.warmup_steps == 1000 and cfg.steps == 100_000
    ds = dataset()
    m = build_method("clap_actvae", mc.replace(width=32, heads=2, code_dim=8, patch_size=8), ds.meta())
    groups = m.param_groups()
    assert [g["lr_scale"] for g in groups] == [1.0, 50.0]
    assert groups[1]["params"] == [m.act_vae.quantizer.codebook]
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in m.parameters())
    vd = make_config("clap_vdvae", "paper")
    vmc = vd.method_config_object()
    assert (vmc.lambda_con, vmc.lambda_reg, vmc.beta, vmc.num_env_codes, vmc.frame_gap) == (0.1, 0.5, 1.0, 2, 32)
    assert vd.data.horizon == 32 and vd.optim.lr == 2e-4 and vd.batch_size == 256 and vd.data.chunk_kind == "raw"


# -- VD-VAE (Alg. 2, Eq. 3–4) --------------------------------------------------------------------

from pathlib import Path  # noqa: E402

from workbench.losses import siglip_loss  # noqa: E402
from workbench.methods.clap_vdvae import VDVAEConfig, clap_contrastive_loss, ema_update, vdvae_loss  # noqa: E402
from workbench.train.run import TrainedRun  # noqa: E402


def frozen_run(method, ds: FrameChunkDataset, name: str) -> TrainedRun:
    """A trained-run record around a real method, as load_run gives it."""
    import dataclasses

    run = TrainedRun.from_method(method.eval())
    return dataclasses.replace(run, norm_stats=ds.norm_stats, checkpoint=Path(f"/runs/{name}/ckpt.safetensors"),
                               run_dir=Path(f"/runs/{name}"))


def actvae_run(ds: FrameChunkDataset, name: str = "act-run", **kw) -> TrainedRun:
    torch.manual_seed(1)
    cfg = ActVAEMethodConfig.preset("smoke", contrastive_weight=1.0, patch_size=8, dead_code_window=0, **kw)
    return frozen_run(build_method("clap_actvae", cfg, ds.meta()), ds, name)


def vdvae(ds: FrameChunkDataset, **kw):
    act = actvae_run(ds)
    torch.manual_seed(0)
    cfg = VDVAEConfig.preset("smoke", actvae_run="act-run", image_run="act-run", frame_gap=HORIZON, **kw)
    return build_method("clap_vdvae", cfg, ds.meta(), runs={"actvae": act, "image": act}, dataset=ds)


def test_eq3_is_the_projects_siglip_with_scale_one_over_tau():
    g = torch.Generator().manual_seed(0)
    z, z_pos = torch.randn(3, 2, 4, generator=g), torch.randn(3, 2, 4, generator=g)
    tau, b = 0.5, 0.3
    x, y = z.flatten(1), z_pos.flatten(1)
    x, y = x / x.norm(dim=1, keepdim=True), y / y.norm(dim=1, keepdim=True)
    total = 0.0
    for i in range(3):  # Eq. 3 term by term: one positive, M = 2 negatives per row
        total += -math.log(torch.sigmoid((x[i] @ y[i] - b) / tau))
        for j in range(3):
            if j != i:
                total += -math.log(1 - torch.sigmoid((x[i] @ y[j] - b) / tau))
    assert float(clap_contrastive_loss(z, z_pos, tau, b)) == pytest.approx(total / 3, rel=1e-5)
    assert float(siglip_loss(x, y, 1 / tau, -b / tau)) == pytest.approx(total / 3, rel=1e-5)


def test_eq4_terms_by_hand():
    f = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    f_hat = torch.tensor([[1.5, 2.0], [0.0, 0.0]])
    z_env = torch.tensor([[[0.5, -1.0]], [[0.0, 2.5]]])
    out = vdvae_loss(f, f_hat, torch.tensor(0.2), torch.tensor(0.1), torch.tensor(0.7), z_env, 2.0, 0.1, 0.5)
    rec = (0.25 + 0 + 0 + 1.0) / 4
    reg = (0.5 + 1.0 + 0.0 + 2.5) / 4
    assert float(out["recon"]) == pytest.approx(rec) and float(out["reg"]) == pytest.approx(reg)
    assert float(out["loss"]) == pytest.approx(rec + 2.0 * 0.3 + 0.1 * 0.7 + 0.5 * reg)


def test_ema_update_by_hand():
    torch.manual_seed(0)
    student, teacher = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    expect = [0.9 * t.detach().clone() + 0.1 * s.detach() for t, s in zip(teacher.parameters(), student.parameters())]
    ema_update(teacher, student, 0.9)
    for t, e in zip(teacher.parameters(), expect):
        assert torch.allclose(t, e)


def test_vdvae_trains_with_a_frozen_codebook_and_a_teacher_without_gradient():
    ds = dataset(future_offset=HORIZON)
    m = vdvae(ds, labelled_fraction=0.5)
    assert 0 < len(m.labelled) < len(set(ds.chunks.episode.tolist()))  # a mixed split: half the episodes are video
    frozen = {k: v.detach().clone() for k, v in m.actvae.state_dict().items()}
    codebook = m.action_codebook().detach().clone()
    opt = torch.optim.AdamW([{"params": g["params"], "lr": 3e-3 * g["lr_scale"]} for g in m.param_groups()])
    m.train()
    assert not m.actvae.training and not m.image_tower.training and not m.teacher.training
    order = torch.randint(0, len(ds), (40, 16), generator=torch.Generator().manual_seed(0))
    losses, shares = [], []
    for step, idx in enumerate(order):
        teacher_before = [p.detach().clone() for p in m.teacher.parameters()]
        out = m.training_step(collate([ds[int(i)] for i in idx]))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        assert all(p.grad is None for p in m.teacher.parameters())  # the teacher receives no gradient
        assert all(p.grad is None for p in m.actvae.parameters())
        opt.step()
        m.after_step()
        if step == 0:  # the EMA moved the teacher by (1 - mu) of the way to the student
            for t0, t1, s in zip(teacher_before, m.teacher.parameters(), m.inverse.parameters()):
                assert torch.allclose(t1, m.config.ema * t0 + (1 - m.config.ema) * s.detach(), atol=1e-6)
        losses.append(float(out["loss"].detach()))
        shares.append(float(out["labelled_share"]))
    assert torch.equal(m.action_codebook(), codebook)  # C_act is frozen
    for k, v in m.actvae.state_dict().items():
        assert torch.equal(v, frozen[k]), k
    assert 0 < np.mean(shares) < 1  # batches mix labelled and video samples
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])


def test_vdvae_refuses_incompatible_runs_naming_both():
    ds = dataset(future_offset=HORIZON)
    act = actvae_run(ds)
    other = FrameChunkDataset(robot_episodes(), chunk_kind="raw", horizon=HORIZON + 2)
    wrong_horizon = frozen_run(build_method("clap_actvae", ActVAEMethodConfig.preset("smoke", patch_size=8, contrastive_weight=1.0),
                                            other.meta()), other, "act-h6")
    bc = frozen_run(build_method("caip", "smoke", ds.meta()), ds, "caip-run")
    untrained_tower = actvae_run(ds, "no-con").method.config.replace(contrastive_weight=0.0)
    no_con = frozen_run(build_method("clap_actvae", untrained_tower, ds.meta()), ds, "no-con")
    cfg = VDVAEConfig.preset("smoke", frame_gap=HORIZON)
    for a, i, words in ((bc, act, "not a clap_actvae"), (wrong_horizon, act, "chunks"), (act, no_con, "never trained")):
        with pytest.raises(ValueError, match=words) as e:
            build_method("clap_vdvae", cfg, ds.meta(), runs={"actvae": a, "image": i})
        assert repr(a.id) in str(e.value) and repr(i.id) in str(e.value)
    with pytest.raises(ValueError, match="not loaded"):
        build_method("clap_vdvae", cfg, ds.meta())


# -- CLAP-NTP and CLAP-RF (Alg. 3–4, Eq. 5–7) -----------------------------------------------------

from workbench.methods.clap_policy import ClapNTPConfig, ClapRFConfig  # noqa: E402
from workbench.models.token_policy import TokenPolicy, TokenPolicyConfig, reverse_kl  # noqa: E402


def test_reverse_kl_against_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    lp, lq = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    p, q = lp.softmax(-1), lq.softmax(-1)
    direct = torch.zeros(2)
    for b in range(2):
        for pos in range(3):
            direct[b] += sum(float(p[b, pos, k]) * math.log(float(p[b, pos, k]) / float(q[b, pos, k])) for k in range(5))
    assert torch.allclose(reverse_kl(lp, lq), direct, atol=1e-5)
    forward = (q * (q.log() - p.log())).sum(-1).sum(-1)
    assert not torch.allclose(reverse_kl(lp, lq), forward, atol=1e-3)  # the direction matters: KL(policy || ref)
    assert torch.allclose(reverse_kl(lp, lp), torch.zeros(2), atol=1e-6)


def test_token_policy_is_causal_over_the_action_tokens():
    torch.manual_seed(0)
    pol = TokenPolicy(TokenPolicyConfig(image_size=SIZE, patch_size=8, vocab_size=5, max_text=3, num_codes=7, seq_len=4,
                                        width=16, depth=2, heads=2)).eval()
    img = torch.randint(0, 256, (1, 3, SIZE, SIZE), dtype=torch.uint8)
    ids, mask = torch.tensor([[3, 4, 0]]), torch.tensor([[True, True, False]])
    a, b = torch.tensor([[7, 1, 2, 3]]), torch.tensor([[7, 1, 5, 6]])  # differ from position 2 on
    la, lb = pol(img, ids, mask, a).logits, pol(img, ids, mask, b).logits
    assert torch.allclose(la[:, :2], lb[:, :2], atol=1e-6) and not torch.allclose(la[:, 2:], lb[:, 2:])
    assert pol.generate(img, ids, mask).shape == (1, 4)


def _vdvae_run(ds: FrameChunkDataset, **kw) -> TrainedRun:
    m = vdvae(ds, labelled_fraction=0.5, **kw)
    return frozen_run(m, ds, "vdvae-run")


def _train_steps(m, ds, steps: int, lr: float = 3e-3, seed: int = 0) -> list[dict[str, float]]:
    opt = torch.optim.AdamW([{"params": g["params"], "lr": lr * g["lr_scale"]} for g in m.param_groups() if g["params"]])
    order = torch.randint(0, len(ds), (steps, 16), generator=torch.Generator().manual_seed(seed))
    m.train()
    logs = []
    for idx in order:
        out = m.training_step(collate([ds[int(i)] for i in idx]))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        m.after_step()
        logs.append({k: float(v.detach()) for k, v in out.items()})
    return logs


def _ntp(ds: FrameChunkDataset, vdvae_run: TrainedRun, **kw):
    torch.manual_seed(0)
    return build_method("clap_ntp", ClapNTPConfig.preset("smoke", frame_gap=HORIZON, patch_size=8, **kw), ds.meta(),
                        runs={"vdvae": vdvae_run}, dataset=ds)


def test_ntp_loss_falls_on_robot_and_pseudo_tokens():
    ds = dataset(future_offset=HORIZON)
    run = _vdvae_run(ds)
    m = _ntp(ds, run)
    assert m.robot.any() and not m.robot.all() and bool((m.weights == 1).all())  # video samples carry pseudo tokens
    robot_only = _ntp(ds, run, use_video=False)
    assert torch.equal(robot_only.weights, m.robot.float())  # the same robot tokens, no video
    assert torch.equal(robot_only.targets[m.robot], m.targets[m.robot])
    logs = _train_steps(m, ds, 40)
    first, last = np.mean([r["loss"] for r in logs[:5]]), np.mean([r["loss"] for r in logs[-5:]])
    assert last < 0.7 * first, (first, last)
    chunk = m.predict_chunk(ds[0]["image"][None], [ds[0]["text"]])
    assert chunk.shape == (1, HORIZON, 4) and torch.isfinite(chunk).all()
    from workbench.eval.policies import ChunkPredictor, MethodChunkPolicy

    assert isinstance(m, ChunkPredictor)  # what rollouts take: the image as rendered -> raw actions
    executed = MethodChunkPolicy(m, ds[0]["text"])(ds[0]["image"].permute(1, 2, 0).numpy(), np.zeros(39))
    assert executed.shape == (HORIZON, 4) and np.allclose(executed, chunk[0].numpy(), atol=1e-5)


def test_rf_post_training_keeps_the_reference_frozen_and_starts_at_zero_kl():
    ds = dataset(future_offset=HORIZON)
    ntp = _ntp(ds, _vdvae_run(ds))
    _train_steps(ntp, ds, 10)
    ntp.zero_grad(set_to_none=True)
    ntp_run = frozen_run(ntp, ds, "ntp-run")
    ref = {k: v.detach().clone() for k, v in ntp.state_dict().items()}
    for alpha in (0.0, 1.0):
        torch.manual_seed(0)
        m = build_method("clap_rf", ClapRFConfig.preset("smoke", alpha=alpha), ds.meta(), runs={"ntp": ntp_run}, dataset=ds)
        logs = _train_steps(m, ds, 15)
        assert logs[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # φ_policy starts as φ_ref
        assert all(math.isfinite(r["loss"]) for r in logs) and logs[-1]["rf"] < logs[0]["rf"]
        assert all(p.grad is None for p in m.reference.parameters())
        for k, v in m.reference.state_dict().items():
            assert torch.equal(v, ref[k]), k
        chunk = m.predict_chunk(ds[0]["image"][None], [ds[0]["text"]], seed=3)
        assert torch.equal(chunk, m.predict_chunk(ds[0]["image"][None], [ds[0]["text"]], seed=3)) and chunk.shape == (1, HORIZON, 4)


def test_token_policies_in_parallel_rollouts_are_batch_invariant():
    """What parallel rollouts rely on: a row's chunk does not depend on the rest of the batch (NTP's
    greedy tokens; RF's flow noise is the same seeded draw for every row), and one closed-loop
    episode runs through the parallel protocol."""
    from workbench.eval.latent_actions import TokenChunkPolicy
    from workbench.eval.parallel import ParallelRolloutConfig, make_specs, run_parallel_rollouts

    ds = dataset(future_offset=HORIZON)
    ntp = _ntp(ds, _vdvae_run(ds))
    _train_steps(ntp, ds, 5)
    torch.manual_seed(0)
    rf = build_method("clap_rf", ClapRFConfig.preset("smoke", alpha=1.0), ds.meta(), runs={"ntp": frozen_run(ntp, ds, "ntp")}, dataset=ds)
    images = np.stack([ds[i]["image"].permute(1, 2, 0).numpy() for i in (0, 5, 9)])  # (3, S, S, 3)
    tasks = [ds.tasks[int(ds[i]["task_id"])] for i in (0, 5, 9)]
    for m in (ntp.eval(), rf.eval()):
        policy = TokenChunkPolicy(m, {}, seed=3)
        batch = policy(images, np.zeros((3, 39)), tasks)
        assert batch.shape == (3, HORIZON, 4)
        for i in range(3):
            np.testing.assert_allclose(policy(images[i : i + 1], np.zeros((1, 39)), tasks[i : i + 1])[0], batch[i], atol=1e-5)
    assert not np.allclose(batch[0], batch[1])  # the rows do differ: the images drive the chunks
    out = run_parallel_rollouts(TokenChunkPolicy(rf, {}), make_specs(["reach"], 1, "fixed"),
                                ParallelRolloutConfig(max_steps=12, execute=HORIZON, image_size=SIZE, workers=0))
    assert len(out) == 1 and 1 <= out[0].steps <= 12


# -- the registry methods as jobs: auto dependencies, stop / resume ------------------------------------


@pytest.fixture(scope="module")
def disk_dataset(tmp_path_factory):
    from workbench.data import write_lerobot

    return write_lerobot(robot_episodes(n=6, T=20), tmp_path_factory.mktemp("clap") / "ds")


def _check_pseudo_tokens(restored, data_path, tmp_path):
    from workbench.data import load_dataset
    from workbench.eval.latent_actions import label_video, load_labels, score_pseudo_tokens

    s = score_pseudo_tokens(restored)
    k = restored.method.actvae.act_vae.config.codebook_size
    assert s.episodes == len(restored.split["val"]) and s.chance_uniform == 1 / k
    for score in (s.accuracy, s.copy_previous, s.chance_majority):
        assert 0 <= score.low <= score.estimate <= score.high <= 1
    assert s.decoded_mse_true_tokens.estimate <= s.mean_chunk_mse * 2  # the Act-VAE decodes its own tokens sensibly
    out = label_video(restored, data_path, tmp_path / "labels.npz", stride=3)
    labels = load_labels(out)
    lengths = [len(load_dataset(data_path).episode(i)) for i in range(6)]
    assert len(labels["tokens"]) == sum(-(-n // 3) for n in lengths) and labels["tokens"].shape[1] == s.tokens_per_chunk
    assert labels["tokens"].max() < k and str(labels["run"]) == restored.id


def test_vdvae_job_trains_its_act_vae_then_stops_and_resumes_exactly(tmp_path, disk_dataset):
    from test_jobs import _losses, _wait_step

    from workbench.train import create_run, launch, make_config, resume_run, stop_run, wait_for
    from workbench.train.loop import train
    from workbench.train.run import load_run

    sets = [f"data.path={disk_dataset}", "steps=30", "data.image_size=32", f"data.horizon={HORIZON}", "log_every=1",
            "ckpt_every=3", "num_threads=1", f"method_config.frame_gap={HORIZON}", "method_config.video_per_batch=4",
            f"method_config.video_path={disk_dataset}"]
    ref = create_run(make_config("clap_vdvae", "smoke", sets), tmp_path / "ref")
    train(ref.path)
    deps = sorted((tmp_path / "deps").iterdir())
    assert [d.name.split("-")[0] for d in deps] == ["clap_actvae"]  # "auto" trained the Act-VAE + image tower once
    restored = load_run(ref.path)
    assert restored.method.config.actvae_run == str(deps[0].resolve())  # the checkpoint names the run it used
    _check_pseudo_tokens(restored, disk_dataset, tmp_path)
    rd = create_run(make_config("clap_vdvae", "smoke", sets), tmp_path / "job")
    launch(rd)
    _wait_step(rd, 6)
    st = stop_run(rd, timeout=60)
    assert st.state == "stopped" and st.step < 30
    resume_run(rd)
    assert wait_for(rd, timeout=300).state == "finished"
    assert sorted((tmp_path / "deps").iterdir()) == deps  # reused, not trained again
    got, want = _losses(rd), _losses(ref)
    assert [s for s, _ in got] == [s for s, _ in want]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-5)


def test_rf_smoke_preset_trains_its_whole_chain_from_nothing(tmp_path, disk_dataset):
    """`workbench train clap_rf --preset smoke` on a fresh clone: Act-VAE -> VD-VAE -> NTP -> RF."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "workbench.cli", "train", "clap_rf", "--preset", "smoke", "--runs-root",
                        str(tmp_path), "--set", f"data.path={disk_dataset}", "--set", "num_threads=1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    deps = sorted(d.name.split("-")[0] for d in (tmp_path / "deps").iterdir())
    assert deps == ["clap_actvae", "clap_ntp", "clap_vdvae"]
    from workbench.train.run import load_run

    (run,) = [d for d in tmp_path.iterdir() if d.name != "deps"]
    restored = load_run(run)
    assert restored.method_name == "clap_rf" and restored.step == 12
    assert restored.method.reference.vdvae.actvae.act_vae.config.horizon == restored.sample_meta.horizon


def test_sweep_arms_and_closed_loop_lines():
    from workbench.eval.latent_actions import ArmSuccess, TokenRolloutScore, sweep_arms
    from workbench.stats import Interval, pooled_rate, seed_sweep, wilson_interval

    class Score:
        def __init__(self, acc: float) -> None:
            self.token_accuracy = Interval(acc, acc - 0.1, acc + 0.1)

    sweep = sweep_arms({"a": [Score(0.2), Score(0.4)], "b": [Score(0.1), Score(0.1), Score(0.3)]}, ["token_accuracy"])
    assert sweep.values == {"a": {"token_accuracy": [0.2, 0.4]}, "b": {"token_accuracy": [0.1, 0.1, 0.3]}}
    assert sweep.over_seeds["a"]["token_accuracy"] == seed_sweep([0.2, 0.4])
    assert sweep.to_dict()["over_seeds"]["b"]["token_accuracy"] == seed_sweep([0.1, 0.1, 0.3]).to_dict()

    runs = tuple(TokenRolloutScore("r", "reach", "fixed", 10, k, wilson_interval(k, 10), 150.0, (2000, 2009), 3.0) for k in (1, 4))
    arm = ArmSuccess("robot", runs, pooled_rate([(1, 10), (4, 10)]), seed_sweep([0.1, 0.4]))
    lines = arm.describe([0, 1]).splitlines()
    assert lines[0] == f"robot, seed 0: reach success 1/10 = {wilson_interval(1, 10).format(2)} (3 s)"
    assert lines[1].startswith("robot, seed 1: reach success 4/10")
    assert lines[2] == f"robot: pooled {pooled_rate([(1, 10), (4, 10)]).format(3)}, over seeds {seed_sweep([0.1, 0.4]).format(3)}"
