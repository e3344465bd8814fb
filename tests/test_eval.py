"""workbench.eval: probes, retrieval, the k-NN policy, heads, rollouts, results, the CLI.

The trained model comes from a tiny synthetic dataset whose images determine the action chunk:
each episode cycles through four action "classes" in segments of 8 steps; the frame at step t
shows a bright square in the quadrant of the current class and a bar whose length is the phase
within the segment, and the next class is always (class + 1) mod 4, so the image fixes the chunk.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")

from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.data import write_lerobot
from workbench.eval import (
    EvalConfig,
    EvalReport,
    HeadConfig,
    KNNConfig,
    KNNPolicy,
    ProbeConfig,
    ProbeResult,
    RolloutResult,
    evaluate_run,
    linear_probe_sweep,
    load_eval_results,
    load_head,
    matching_probabilities,
    mean_chunk_prediction,
    offline_error,
    recall_at_k,
    train_head,
)
from workbench.eval.features import embed_split, load_split
from workbench.eval.results import KNNResult, OfflineError, RetrievalResult, TaskRollout, load_result, save_result
from workbench.types import CameraStream, Episode

SEG, CLASSES, T, SIZE = 8, 4, 32, 32
#: one action per class: xyz delta + gripper, far apart
CLASS_ACTIONS = np.array([[0.8, 0, 0, -1], [0, 0.8, 0, -1], [0, 0, 0.8, 1], [-0.8, -0.8, 0, 1]], dtype=np.float32)


def make_pattern_episode(index: int, seed: int = 0) -> Episode:
    rng = np.random.default_rng(seed + index)
    start = index % CLASSES
    cls = (start + np.arange(T) // SEG) % CLASSES
    phase = np.arange(T) % SEG
    actions = CLASS_ACTIONS[cls] + rng.normal(0, 0.05, size=(T, 4)).astype(np.float32)
    rgb = rng.integers(0, 40, size=(T, SIZE, SIZE, 3), dtype=np.uint8)
    h = SIZE // 2
    for t in range(T):
        qy, qx = divmod(int(cls[t]), 2)
        rgb[t, qy * h + 2 : qy * h + h - 6, qx * h + 2 : qx * h + h - 2, int(cls[t]) % 3] = 230
        rgb[t, -4:, : 4 * (phase[t] + 1)] = 255  # phase bar along the bottom
    state = np.concatenate([np.eye(CLASSES)[cls], phase[:, None] / SEG], 1).astype(np.float32)
    task = ("reach", "push")[index % 2]
    return Episode(index=index, actions=actions, fps=10.0,
                   cameras={"scene": CameraStream(name="scene", rgb=rgb, setup="fixed")},
                   ee_pos=np.cumsum(actions[:, :3], 0) * 0.01, ee_quat=np.tile([0, 0, 0, 1.0], (T, 1)),
                   gripper=actions[:, 3], state=state, instruction=f"{task} the goal", task=task,
                   camera_setup="fixed", success=True, source="synthetic")  # fmt: skip


ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one intra-op thread is as fast


@pytest.fixture(scope="module")
def pattern_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("evaldata")
    return write_lerobot([make_pattern_episode(i) for i in range(8)], root / "patterns", lossless=True)


def _train_run(path: Path, out: Path, method: str, steps: int, extra: list[str] = ()) -> Path:
    from workbench.train import create_run, make_config
    from workbench.train.loop import train

    cfg = make_config(method, "smoke", [f"data.path={path}", f"steps={steps}", "data.chunk_kind=raw", "data.horizon=4",
                                        "data.image_size=32", "data.stride=1", "data.camera=scene", "ckpt_every=1000",
                                        "device=cpu", "num_threads=1", *extra])  # fmt: skip
    rd = create_run(cfg, out)
    train(rd.path)
    return rd.path


@pytest.fixture(scope="module")
def caip_run(pattern_data, tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return _train_run(pattern_data, tmp_path_factory.mktemp("runs") / "caip", "caip", 30)


@pytest.fixture(scope="module")
def restored(caip_run):
    from workbench.train.run import load_run

    return load_run(caip_run)


@pytest.fixture(scope="module")
def splits(restored):
    train, val = load_split(restored, "train"), load_split(restored, "val")
    return train, val, embed_split(restored.method, train), embed_split(restored.method, val)


# -- retrieval ------------------------------------------------------------------------------------


def _brute_recall(q, keys, k, pos):
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    keys = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    hits = 0
    for i in range(len(q)):
        sims = [(float(q[i] @ keys[j]), -j, j) for j in range(len(keys))]
        top = [j for _, _, j in sorted(sims, reverse=True)[:k]]
        hits += any(pos[i, j] for j in top)
    return hits / len(q)


def test_recall_matches_brute_force_on_random_embeddings():
    rng = np.random.default_rng(0)
    q, keys = rng.normal(size=(40, 8)), rng.normal(size=(40, 8))
    keys[:10] = q[:10] + 0.1 * rng.normal(size=(10, 8))  # some easy pairs
    r = recall_at_k(q, keys, (1, 5, 10))
    eye = np.eye(40, dtype=bool)
    for k in (1, 5, 10):
        assert r[k] == pytest.approx(_brute_recall(q, keys, k, eye))
    pos = rng.random((40, 40)) < 0.05
    r2 = recall_at_k(q, keys, (1, 5), pos)
    for k in (1, 5):
        assert r2[k] == pytest.approx(_brute_recall(q, keys, k, pos))
    assert 0.2 < r[1] < 1.0  # the easy pairs are found, the random ones mostly not
    same = recall_at_k(q, q, (1,))
    assert same[1] == 1.0


def test_matching_probabilities_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    m = matching_probabilities(x, y, 10.0, -5.0)
    assert m.shape == (3, 3)
    assert m[1, 2] == pytest.approx(1 / (1 + np.exp(-(10.0 * x[1] @ y[2] - 5.0))))


# -- k-NN -----------------------------------------------------------------------------------------


def test_knn_policy_matches_hand_written_reference():
    rng = np.random.default_rng(2)
    emb, chunks = rng.normal(size=(7, 5)), rng.normal(size=(7, 3, 2)).astype(np.float32)
    q = rng.normal(size=(2, 5))
    pol = KNNPolicy(KNNConfig(k=3, temperature=0.5)).fit(emb, chunks)
    pred = pol.predict(q)
    for b in range(2):
        sims = np.array([q[b] @ e / np.linalg.norm(q[b]) / np.linalg.norm(e) for e in emb])
        top = np.argsort(-sims)[:3]
        w = np.exp(sims[top] / 0.5)
        w /= w.sum()
        ref = sum(wi * chunks[j] for wi, j in zip(w, top))
        np.testing.assert_allclose(pred.chunks[b], ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(pred.neighbours[b], top)
        np.testing.assert_allclose(pred.weights[b], w)
    np.testing.assert_allclose(pred.weights.sum(1), 1.0)
    capped = KNNPolicy(KNNConfig(k=64)).fit(emb, chunks)
    assert capped.k_ == 7 and capped.predict(q).neighbours.shape == (2, 7)


def test_knn_padding_is_averaged_over_valid_neighbours():
    emb = np.array([[1.0, 0.0], [1.0, 0.01]])
    chunks = np.array([[[1.0], [1.0]], [[3.0], [99.0]]], dtype=np.float32)
    mask = np.array([[True, True], [True, False]])  # the second neighbour's last step is padding
    pred = KNNPolicy(KNNConfig(k=2, temperature=1.0)).fit(emb, chunks, mask).predict([[1.0, 0.0]])
    assert pred.chunks[0, 1, 0] == pytest.approx(1.0)
    assert 1.0 < pred.chunks[0, 0, 0] < 3.0


def test_knn_offline_error_beats_mean_chunk(splits):
    train, val, f_train, f_val = splits
    pol = KNNPolicy(KNNConfig(k=8, temperature=0.01)).fit(f_train.image, train.raw, train.raw_mask)
    err = offline_error(pol.predict(f_val.image).chunks, val.raw, val.raw_mask)
    base = offline_error(mean_chunk_prediction(train.raw, train.raw_mask)[None], val.raw, val.raw_mask)
    assert err.mse < 0.75 * base.mse, (err, base)


# -- probe ----------------------------------------------------------------------------------------


def test_probe_sweep_shapes_and_above_chance(splits, restored):
    from workbench.data import load_dataset
    from workbench.eval.probe import probe_action_chunks, run_probe

    _, val, _, f_val = splits
    chunks = probe_action_chunks(restored.open_dataset(), val.episode, val.time, horizon=16)
    res = run_probe("caip", f_val.image, chunks, val.episode, f_val.action,
                    ProbeConfig(num_clusters=4, shots=(1, 2, 4, 8, 1000), repeats=3), task=val.task)  # fmt: skip
    assert res.num_clusters == 4 and res.split.startswith("episodes")
    assert res.shots == (1, 2, 4, 8) and len(res.accuracy) == len(res.accuracy_std) == 4  # 1000 > any class
    assert res.zero_shot is not None and 0.0 <= res.zero_shot <= 1.0
    assert res.accuracy[-1] > res.uniform_chance and res.uniform_chance == pytest.approx(0.25)
    # chance is the test set's majority class under the same classes and split
    from workbench.eval.probe import cluster_chunks, probe_split

    labels = cluster_chunks(chunks, 4, seed=0)
    test, _ = probe_split(val.episode, 0.5, 0, val.task)
    assert res.chance == pytest.approx(np.bincount(labels[test]).max() / test.sum())
    assert res.num_test == test.sum() and res.num_train == (~test).sum()
    blind = run_probe("bc", f_val.image, chunks, val.episode, None, ProbeConfig(num_clusters=4, shots=(4,), repeats=1))
    assert blind.zero_shot is None and "N/A" in blind.notes


def test_probe_classes_come_from_raw_relative_chunks(restored):
    """CAIP §3.2 clusters raw relative actions: the chunk after sample (e, t) is relative_chunks(e)[t]."""
    from workbench.data import load_dataset
    from workbench.data.chunks import relative_chunks
    from workbench.eval.probe import probe_action_chunks

    ds = restored.open_dataset()
    e0, e1 = ds[0], ds[1]
    eps = np.array([e1.index, e0.index, e0.index, e1.index])
    times = np.array([3, 0, len(e0) - 1, 0])
    got = probe_action_chunks(ds, eps, times, horizon=8)
    want0, _ = relative_chunks(e0, 8)
    want1, _ = relative_chunks(e1, 8)
    np.testing.assert_array_equal(got, np.stack([want1[3], want0[0], want0[-1], want1[0]]))
    assert got.shape[-1] == 10  # end effector: 9-D relative pose + gripper, not normalised


def test_probe_split_is_stratified_and_never_shares_an_episode():
    from workbench.eval.probe import probe_split

    episode = np.repeat(np.arange(12), 5)
    task = np.repeat(["a"] * 4 + ["b"] * 4 + ["c"] * 4, 5)
    for seed in range(5):
        test, how = probe_split(episode, 0.5, seed, task)
        assert how == "episodes, stratified by task"
        assert not set(episode[test]) & set(episode[~test])  # no episode on both sides
        for t in "abc":  # every task gives 2 of its 4 episodes to the test set
            assert len(set(episode[test & (task == t)])) == 2


def test_zero_shot_prototypes_never_see_the_test_episodes():
    """A class whose only members are test samples has no prototype: with leakage it would be
    predicted perfectly (its prototype is the test samples' own action embedding)."""
    from workbench.eval.probe import zero_shot_accuracy

    rng = np.random.default_rng(1)
    action = rng.normal(size=(30, 8))
    image = action + 0.01 * rng.normal(size=(30, 8))  # images sit on their own action embeddings
    labels = np.repeat(np.arange(3), 10)
    test = labels == 2  # class 2 appears only in the test set
    assert zero_shot_accuracy(image, action, labels, test, 3) == 0.0
    with pytest.raises(ValueError, match="overlaps"):
        zero_shot_accuracy(image, action, labels, test, 3, prototype_pool=np.ones(30, dtype=bool))
    # on classes the pool does hold, the prototypes classify the test images
    onehot = np.repeat(np.eye(3, 8), 10, axis=0)
    test2 = np.zeros(30, dtype=bool)
    test2[[0, 10, 20]] = True
    assert zero_shot_accuracy(onehot + 0.01 * rng.normal(size=(30, 8)), onehot, labels, test2, 3) == 1.0


def test_linear_probe_learns_separable_labels():
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(3, 6)) * 4
    y = np.repeat(np.arange(3), 30)
    x = centers[y] + rng.normal(size=(90, 6))
    shots, acc, _ = linear_probe_sweep(x[::2], y[::2], x[1::2], y[1::2], (1, 8), repeats=2)
    assert shots == (1, 8) and acc[1] > 0.9


# -- heads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mlp", "flow"])
def test_head_losses_fall_and_save_load(kind, splits, restored, tmp_path):
    train, val, f_train, f_val = splits
    cfg = HeadConfig(kind=kind, steps=150, batch_size=32, hidden=64, depth=1, lr=3e-3)
    th = train_head(restored.method, train, cfg, embeddings=f_train.image)
    first, last = np.mean(th.losses[:10]), np.mean(th.losses[-10:])
    assert last < 0.7 * first, (first, last)
    pred = th.predict_from_embeddings(f_val.image)
    assert pred.shape == val.raw.shape
    path = th.save(tmp_path / "h.safetensors")
    again = load_head(path, restored.method)
    np.testing.assert_allclose(again.predict_from_embeddings(f_val.image), pred, rtol=1e-5, atol=1e-5)


def test_flow_head_noise_per_row_does_not_depend_on_the_batch(splits, restored):
    # closed-loop batches follow worker timing: a row's chunk must depend on its own seed only
    train, _, f_train, f_val = splits
    th = train_head(restored.method, train, HeadConfig(kind="flow", steps=5, batch_size=16, hidden=32, depth=1), embeddings=f_train.image)
    e = f_val.image[:3]
    together = th.predict_from_embeddings(e, seed=[7, 8, 9])
    alone = th.predict_from_embeddings(e[2:3], seed=[9])
    np.testing.assert_allclose(together[2:3], alone, rtol=1e-5, atol=1e-6)
    assert not np.allclose(th.predict_from_embeddings(e[2:3], seed=[10]), alone, atol=1e-4)
    with pytest.raises(ValueError, match="noise seeds"):
        th.predict_from_embeddings(e, seed=[1])


def test_unfrozen_head_trains_a_copy(splits, restored):
    train = splits[0]
    before = {k: v.clone() for k, v in restored.method.state_dict().items()}
    th = train_head(restored.method, train, HeadConfig(kind="mlp", steps=8, batch_size=8, hidden=32, unfreeze=True))
    assert th.method is not restored.method
    for k, v in restored.method.state_dict().items():
        assert torch.equal(v, before[k]), k
    changed = any(not torch.equal(v, before[k]) for k, v in th.method.state_dict().items())
    assert changed


# -- rollouts -------------------------------------------------------------------------------------


def test_expert_policy_solves_reach():
    from workbench.eval.rollout import ExpertPolicy, RolloutConfig, run_rollouts

    r = run_rollouts(ExpertPolicy, ["reach"], RolloutConfig(episodes=2, image_size=32, save_episodes=0), policy_name="expert")
    assert r.tasks[0].seeds == (2000, 2001)
    assert r.success_rate == 1.0


def test_learned_policy_rollout_end_to_end(caip_run):
    report = evaluate_run(caip_run, EvalConfig(probe=False, retrieval=False, knn=True, rollouts=2, tasks=["reach"], max_steps=40,
                          out="ro", device="cpu", workers=1))  # fmt: skip
    (ro,) = report.rollouts
    # the camera the run was trained under (its synthetic episodes are all "fixed"), not a default
    assert ro.policy == "knn" and ro.camera == "fixed" and ro.image_size == 32
    assert ro.tasks[0].seeds == (2000, 2001)
    # an episode ends on success or runs every step (metaworld truncates at 500, far past 40)
    for ok, n in zip(ro.tasks[0].successes, ro.tasks[0].steps):
        assert ok or n == 40
    assert ro.success_rate == float(np.mean(ro.tasks[0].successes))
    (video,) = ro.tasks[0].frames
    assert (caip_run / video).stat().st_size > 0 and video.startswith("eval/rollouts/")
    from workbench.data.video import probe_video

    assert probe_video(caip_run / video)[0] == ro.tasks[0].steps[0] + 1
    assert isinstance(load_eval_results(caip_run)["ro-rollouts-knn"], RolloutResult)
    # the same seeds in this process give the same outcomes (the parallel path is the serial one)
    again = evaluate_run(caip_run, EvalConfig(probe=False, retrieval=False, knn=True, rollouts=2, tasks=["reach"], max_steps=40,
                         out="ro0", device="cpu", workers=0, save_episodes=0))  # fmt: skip
    assert again.rollouts[0].tasks[0].successes == ro.tasks[0].successes
    assert again.rollouts[0].tasks[0].steps == ro.tasks[0].steps


def test_rollouts_use_the_camera_setups_the_run_was_trained_under():
    from workbench.eval.evaluate import rollout_setups
    from workbench.train.run import load_run

    run = load_run(ROOT / "data_samples" / "runs" / "bc-sample")
    ds = run.open_dataset()
    trained = {str(i.camera_setup) for i in ds.infos if i.index in set(run.episodes("train"))}
    assert len(trained) > 1  # the sample mixes fixed, random and dynamic scene cameras
    assert set(rollout_setups(run, ds, run.episodes("train"))) == trained
    with pytest.raises(ValueError, match="unknown camera setup 'orbit'"):
        EvalConfig(rollouts=1, camera_setup="orbit")


# -- results and the whole evaluation -------------------------------------------------------------


def test_results_round_trip_through_json(tmp_path):
    e = OfflineError(0.5, 0.25, 10)
    results = {
        "p": ProbeResult("caip", 4, (1, 2), (0.5, 0.75), (0.1, 0.0), None, 0.3, 0.25, 20, 20, 3, "episodes"),
        "r": RetrievalResult("clamp", 8, (1, 5), {"image->text": {"1": 0.5, "5": 1.0}}, {"image-text": [[0.1, 0.9], [0.2, 0.3]]}, 10.0, -10.0),
        "k": KNNResult("caip", 4, 0.01, 30, e, {"mean_chunk": OfflineError(1.0, 0.5, 10)}),
        "o": RolloutResult("knn", "scene", 32, 8, 200, (TaskRollout("reach", (2000, 2001), (True, False), (50, 200), ("a.mp4",)),)),
    }
    for name, res in results.items():
        save_result(tmp_path, name, res)
        back = load_result(tmp_path / "eval" / f"{name}.json")
        assert back == res and type(back) is type(res)
    assert load_eval_results(tmp_path)["o"].success_rate == 0.5
    assert json.loads((tmp_path / "eval" / "o.json").read_text())["success_rate"] == 0.5
    rep = EvalReport("run", 3, probe=results["p"], knn=results["k"], rollouts=(results["o"],))
    assert EvalReport.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep


def test_evaluate_run_writes_every_part(caip_run):
    rep = evaluate_run(caip_run, EvalConfig(head="mlp", head_steps=20, out="all", device="cpu"))
    saved = load_eval_results(caip_run)
    for part in ("probe", "retrieval", "knn", "head-mlp"):
        assert saved[f"all-{part}"] == getattr(rep, part.split("-")[0])
    assert set(rep.retrieval.recall) == {"image->action", "action->image"}
    m = rep.retrieval.matching_array("action-image")
    assert m.shape == (16, 16) and ((m > 0) & (m < 1)).all()
    assert set(rep.knn.baselines) == {"mean_chunk", "state_knn"}
    assert (caip_run / rep.head.path).exists()


def test_cli_writes_eval_json(caip_run, capsys):
    from workbench.cli import main

    assert main(["eval", str(caip_run), "--probe", "--clusters", "3", "--out", "cli", "--quiet"]) == 0
    assert (caip_run / "eval" / "cli-probe.json").exists()
    assert "probe (K=3" in capsys.readouterr().out
    assert main(["eval", str(caip_run), "--rollouts", "1", "--tasks", "door-open", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "door-open" in err and err.count("\n") == 1


def test_clamp_retrieval_covers_text_and_history(pattern_data, tmp_path):
    torch.manual_seed(0)
    rd = _train_run(pattern_data, tmp_path / "clamp", "clamp", 6, ["data.history=4"])
    rep = evaluate_run(rd, EvalConfig(knn=False, device="cpu", probe_config=ProbeConfig(num_clusters=3, repeats=1)))
    pairs = set(rep.retrieval.recall)
    assert pairs == {f"{a}->{b}" for a in ("image", "action", "text") for b in ("image", "action", "text") if a != b}
    assert set(rep.retrieval.matching) == {"action-image", "image-text", "action-text"}
    for rec in rep.retrieval.recall.values():
        assert 0.0 <= rec["1"] <= rec["5"] <= rec["10"] <= 1.0
    # both val episodes of a task share a text, so text retrieval is judged on the text, not the index
    assert rep.retrieval.recall["image->text"]["10"] > 0.0
    assert rep.probe.zero_shot is not None and "history" in rep.probe.notes

