"""Pseudo action tokens from a trained VD-VAE (CLAP §III-C2: "the discrete pseudo action tokens
inferred from human video transitions"): label a video dataset, and score the labels where the
truth is known.

* :func:`label_video` — every ``(o_t, o_{t+H})`` of a dataset (actions ignored) -> the VD-VAE's
  tokens ``ẑ_a``, saved as one ``.npz`` (episode, time, tokens; loads without pickle).
* :func:`score_pseudo_tokens` — on the run's held-out *labelled* episodes: token accuracy against
  the Act-VAE tokens of the true chunks, and the error of the chunks the tokens decode to, beside
  chance (uniform 1/K, and the per-position majority token of those episodes, an oracle constant),
  and a copy baseline that predicts the true tokens of the previous transition ``(o_{t-H}, o_t)``
  of the same episode.
* :func:`score_token_policy` — a ``clap_ntp`` / ``clap_rf`` token policy on held-out robot
  episodes: greedy token accuracy, teacher-forced NLL (Eq. 5), executed-chunk error and, for RF,
  the reverse KL to the frozen reference (Eq. 7) — what Knowledge Matching is meant to keep small.
* :func:`probe_token_features` — a linear probe from the VD-VAE's frozen features to the true
  tokens: what the features hold, beside what the VD-VAE makes of them.
* :func:`rollout_token_policy` — the same policies in closed loop (parallel, camera-matched
  metaworld rollouts), success with a Wilson interval.

Intervals: percentile bootstrap over episodes (samples of one episode are not independent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.atomic import atomic_path
from workbench.eval.results import EvalError
from workbench.stats import Interval, bootstrap_interval

__all__ = ["ArmSuccess", "ArmSweep", "PseudoTokenScore", "TokenChunkPolicy", "TokenPolicyScore", "TokenRolloutScore", "compare_arms_closed_loop",
           "embed_transitions", "label_video", "load_labels", "probe_token_features", "rollout_token_policies", "rollout_token_policy", "score_pseudo_tokens",
           "score_token_policy", "sweep_arms", "training_instructions"]


def _episode_bootstrap(values: np.ndarray, episodes: np.ndarray) -> Interval:
    """Mean of ``values`` over samples, with a 95 % percentile bootstrap that resamples whole
    episodes (seeded)."""
    eps = np.unique(episodes)
    per_episode = np.array([[values[episodes == e].sum(), (episodes == e).sum()] for e in eps], dtype=np.float64)
    return bootstrap_interval(per_episode, lambda x: float(x[:, 0].sum() / max(x[:, 1].sum(), 1.0)), resamples=1000, seed=0)


@dataclass(frozen=True)
class PseudoTokenScore:
    run: str  # the VD-VAE run
    episodes: int  # held-out labelled episodes
    samples: int  # transitions scored
    codebook_size: int  # K
    tokens_per_chunk: int  # N_q
    accuracy: Interval  # VD-VAE tokens == Act-VAE tokens of the true chunk, per token
    chance_uniform: float  # 1 / K
    chance_majority: Interval  # the most frequent true token at each position
    copy_previous: Interval  # the true tokens of the previous transition of the episode
    decoded_mse: Interval  # chunk decoded from the VD-VAE tokens vs the true chunk (Act-VAE scale, valid steps)
    decoded_mse_true_tokens: Interval  # the Act-VAE's own reconstruction: the floor for any token
    decoded_mse_copy_previous: Interval  # the chunk the copied tokens decode to
    mean_chunk_mse: float  # predicting the Act-VAE's mean chunk (0 in its normalised scale)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error over valid steps: pred, target (B, H, D), mask (B, H) -> (B,)."""
    w = mask.to(target.device)[..., None].float()
    return ((pred - target).pow(2) * w).sum((1, 2)) / (w.sum((1, 2)) * target.shape[-1]).clamp_min(1.0)


def _held_out(restored: Any, kinds: tuple[type, ...], what: str, split: str, stride: int, dataset: Any) -> Any:
    """The transitions ``(o_t, o_{t+H})`` with their chunks of ``split`` of a run whose method is one of ``kinds``."""
    from workbench.data import load_dataset

    if not isinstance(restored.method, kinds):
        raise EvalError(f"run {restored.id} is a {restored.method_name!r} run; {what}")
    episodes = restored.split.get(split) or []
    if not episodes:
        raise EvalError(f"run {restored.id}: its split has no {split!r} episodes")
    ds = dataset if dataset is not None else load_dataset(restored.data.path)
    return _video_samples(restored, episodes, ds, stride)


def _video_samples(restored: Any, episodes: Sequence[int], dataset: Any, stride: int) -> Any:
    from workbench.data.training_samples import FrameChunkDataset

    meta = restored.sample_meta
    eps = [dataset.episode(int(i)) for i in episodes]
    return FrameChunkDataset(eps, camera=meta.camera or None, chunk_kind=meta.chunk_kind, horizon=meta.horizon, stride=stride,
                             image_size=meta.image_size, norm_stats=restored.norm_stats, future_offset=meta.horizon)


def _batches(ds: Any, size: int = 128):
    from workbench.data.training_samples import collate

    for s in range(0, len(ds), size):
        yield collate([ds[i] for i in range(s, min(s + size, len(ds)))])


@torch.no_grad()
def score_pseudo_tokens(restored: Any, *, split: str = "val", stride: int = 1, dataset: Any = None) -> PseudoTokenScore:
    """Score a restored ``clap_vdvae`` run's pseudo tokens on the labelled episodes of ``split``."""
    from workbench.methods.clap_vdvae import VDVAEMethod

    samples = _held_out(restored, (VDVAEMethod,), "pseudo tokens come from a clap_vdvae run", split, stride, dataset)
    vd = restored.method
    pred, true, ep, tm, mse_p, mse_t, chunks_act = [], [], [], [], [], [], []
    for b in _batches(samples):
        p = vd.pseudo_tokens(b["image"], b["future_image"], b["text"])
        t = vd.action_tokens(b["chunk"], b["mask"])
        target = vd.to_actvae_scale(b["chunk"].to(vd.device))
        decode = vd.actvae.act_vae.decode
        pred.append(p.cpu())
        true.append(t.cpu())
        mse_p.append(_masked_mse(decode(p), target, b["mask"]).cpu())
        mse_t.append(_masked_mse(decode(t), target, b["mask"]).cpu())
        chunks_act.append(_masked_mse(torch.zeros_like(target), target, b["mask"]).cpu())
        ep.append(b["episode"])
        tm.append(b["time"])
    pred_t, true_t = torch.cat(pred), torch.cat(true)
    episode, time = torch.cat(ep).numpy(), torch.cat(tm).numpy()
    k, nq = vd.actvae.act_vae.config.codebook_size, pred_t.shape[1]
    acc = (pred_t == true_t).float().mean(1).numpy()
    majority = torch.mode(true_t, dim=0).values  # (Nq,)
    maj = (true_t == majority[None]).float().mean(1).numpy()
    # copy baseline: the true tokens of the transition H steps earlier in the same episode
    index = {(int(e), int(t)): i for i, (e, t) in enumerate(zip(episode, time))}
    prev = np.array([index.get((int(e), int(t) - restored.sample_meta.horizon), -1) for e, t in zip(episode, time)])
    has_prev = prev >= 0
    if not has_prev.any():
        raise EvalError(f"run {restored.id}: the {split} episodes are too short for a previous transition (H = {restored.sample_meta.horizon})")
    copied = true_t[prev[has_prev]]
    copy_acc = (copied == true_t[has_prev]).float().mean(1).numpy()
    sel = np.flatnonzero(has_prev)
    mse_copy = []
    for s in range(0, len(sel), 128):
        items = [samples[int(i)] for i in sel[s : s + 128]]
        target = vd.to_actvae_scale(torch.stack([it["chunk"] for it in items]).to(vd.device))
        rec = vd.actvae.act_vae.decode(copied[s : s + 128].to(vd.device))
        mse_copy.append(_masked_mse(rec, target, torch.stack([it["mask"] for it in items])).cpu())
    return PseudoTokenScore(
        run=restored.id, episodes=len(np.unique(episode)), samples=len(acc), codebook_size=k, tokens_per_chunk=nq,
        accuracy=_episode_bootstrap(acc, episode), chance_uniform=1.0 / k,
        chance_majority=_episode_bootstrap(maj, episode), copy_previous=_episode_bootstrap(copy_acc, episode[has_prev]),
        decoded_mse=_episode_bootstrap(torch.cat(mse_p).numpy(), episode),
        decoded_mse_true_tokens=_episode_bootstrap(torch.cat(mse_t).numpy(), episode),
        decoded_mse_copy_previous=_episode_bootstrap(torch.cat(mse_copy).numpy(), episode[has_prev]),
        mean_chunk_mse=float(torch.cat(chunks_act).mean()),
    )


@torch.no_grad()
def label_video(restored: Any, dataset_path: str | Path, out: str | Path, *, camera: str | None = None, stride: int = 1,
                episodes: Sequence[int] | None = None) -> Path:
    """Pseudo-label every ``(o_t, o_{t+H})`` of a dataset with a restored ``clap_vdvae`` run and
    write ``out`` (``.npz``: ``episode`` (N,), ``time`` (N,), ``tokens`` (N, Nq), ``run``)."""
    from workbench.data.video_pairs import load_video_pairs
    from workbench.methods.clap_vdvae import VDVAEMethod

    vd = restored.method
    if not isinstance(vd, VDVAEMethod):
        raise EvalError(f"run {restored.id} is a {restored.method_name!r} run; label video with a clap_vdvae run")
    if stride < 1:
        raise EvalError(f"stride must be >= 1, got {stride}")
    pairs = load_video_pairs(dataset_path, camera, restored.sample_meta.image_size, episodes)
    gap = restored.sample_meta.horizon
    ep_ids, times, tokens = [], [], []
    for e, frames in enumerate(pairs.frames):
        t = torch.arange(0, len(frames), stride)
        fut = (t + gap).clamp(max=len(frames) - 1)
        for s in range(0, len(t), 128):
            tt, ff = t[s : s + 128], fut[s : s + 128]
            tokens.append(vd.pseudo_tokens(frames[tt], frames[ff], [pairs.texts[e]] * len(tt)).cpu().numpy())
            ep_ids.append(np.full(len(tt), pairs.episodes[e]))
            times.append(tt.numpy())
    out = Path(out)
    if out.suffix != ".npz":
        raise EvalError(f"{out}: pseudo labels are written as .npz")
    with atomic_path(out, suffix=".npz") as tmp:
        np.savez(tmp, episode=np.concatenate(ep_ids), time=np.concatenate(times), tokens=np.concatenate(tokens),
                 run=np.array(str(restored.id)), codebook_size=np.array(vd.actvae.act_vae.config.codebook_size))
    return out


def load_labels(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays :func:`label_video` wrote (never unpickles)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise EvalError(f"{path}: not a pseudo-label file written by `workbench label` ({e})") from e


@dataclass(frozen=True)
class TokenPolicyScore:
    """A token policy (clap_ntp, or clap_rf's trainable branch) on held-out robot episodes."""

    run: str
    episodes: int
    samples: int
    token_accuracy: Interval  # greedy tokens == Act-VAE tokens of the true chunk
    nll: Interval  # teacher-forced -Σ_ℓ log P(y_ℓ | y_<ℓ, o_t, I) of the true tokens (Eq. 5)
    chunk_mse: Interval  # the method's executed chunk vs the true raw chunk (valid steps)
    kl_to_reference: Interval | None  # clap_rf: Eq. 7 on the true tokens' contexts; None for clap_ntp

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def score_token_policy(restored: Any, *, split: str = "val", stride: int = 1, dataset: Any = None) -> TokenPolicyScore:
    """How well a restored ``clap_ntp`` or ``clap_rf`` run predicts the held-out robot tokens and
    chunks of ``split`` (all its episodes carry actions)."""
    from workbench.methods.clap_policy import ClapNTP, ClapRF
    from workbench.models.token_policy import reverse_kl, token_nll

    samples = _held_out(restored, (ClapNTP, ClapRF), "not a clap_ntp or clap_rf token policy", split, stride, dataset)
    m = restored.method
    ntp = m if isinstance(m, ClapNTP) else m.reference
    acc, nll, mse, kl, ep = [], [], [], [], []
    for b in _batches(samples):
        raw = m.scale.raw(b["chunk"].to(m.device))
        y = ntp.vdvae.raw_action_tokens(raw, b["mask"])
        ids, tmask = m.text_ids(b["text"], len(y))
        images = b["image"].to(m.device)
        out = m.policy(images, ids, tmask, m.policy.shift_right(y))
        nll.append(token_nll(out.logits, y).cpu())
        acc.append((m.policy.generate(images, ids, tmask) == y).float().mean(1).cpu())
        mse.append(_masked_mse(m.predict_chunk(images, b["text"], seed=0), raw, b["mask"]).cpu())
        if isinstance(m, ClapRF):
            kl.append(reverse_kl(out.logits, m.reference.policy(images, ids, tmask, m.policy.shift_right(y)).logits).cpu())
        ep.append(b["episode"])
    episode = torch.cat(ep).numpy()
    return TokenPolicyScore(
        run=restored.id, episodes=len(np.unique(episode)), samples=len(episode),
        token_accuracy=_episode_bootstrap(torch.cat(acc).numpy(), episode), nll=_episode_bootstrap(torch.cat(nll).numpy(), episode),
        chunk_mse=_episode_bootstrap(torch.cat(mse).numpy(), episode),
        kl_to_reference=_episode_bootstrap(torch.cat(kl).numpy(), episode) if kl else None)


@torch.no_grad()
def embed_transitions(restored: Any, *, split: str = "val", stride: int = 1, dataset: Any = None) -> tuple[np.ndarray, list[str]]:
    """The VD-VAE's continuous action features z_{v,a} of every ``(o_t, o_{t+H})`` of ``split``
    (L2-normalised, (N, Nq·d)) and each transition's task: the points of CLAP Fig. 9."""
    from workbench.methods.clap_vdvae import VDVAEMethod

    samples = _held_out(restored, (VDVAEMethod,), "transitions are embedded by a clap_vdvae run", split, stride, dataset)
    vd = restored.method
    feats, tasks = [], []
    for b in _batches(samples):
        feats.append(vd.encode_transitions(b["image"], b["future_image"], b["text"]).cpu().numpy())
        tasks += [samples.tasks[int(i)] for i in b["task_id"]]
    return np.concatenate(feats), tasks


@dataclass(frozen=True)
class TokenRolloutScore:
    """Closed-loop success of one token-policy run on one task (the reference protocol)."""

    run: str
    task: str
    camera_setup: str
    episodes: int
    successes: int
    success_rate: Interval  # Wilson 95 % over the episodes
    mean_steps: float  # environment steps per episode (200 = never succeeded)
    eval_seeds: tuple[int, int]  # first and last placement seed
    seconds: float  # wall time of the rollouts (workers included)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TokenChunkPolicy:
    """A ``clap_ntp`` / ``clap_rf`` method as a batch policy for
    :func:`workbench.eval.parallel.run_parallel_rollouts`: the images waiting for a decision go
    through ``predict_chunk`` in one forward pass, each with its task's training instruction.

    The chunk of an image depends on that image and its instruction only (NTP: greedy tokens; RF:
    the flow head integrates the same seeded noise for every row), so which episodes share a batch
    does not change any episode's outcome."""

    def __init__(self, method: Any, texts: Mapping[str, str], seed: int = 0) -> None:
        self.method, self.texts, self.seed = method, dict(texts), seed

    @torch.no_grad()
    def __call__(self, images: np.ndarray, obs: np.ndarray, tasks: Sequence[str]) -> np.ndarray:
        from workbench.eval.batch_policies import images_tensor

        self.method.eval()
        chunks = self.method.predict_chunk(images_tensor(images), [self.texts.get(t, t) for t in tasks], seed=self.seed)
        return chunks.float().cpu().numpy()  # (B, H, 4)


def training_instructions(restored: Any) -> tuple[dict[str, str], list[int]]:
    """The instruction a run trained with for each task (else the task name), and the placement
    seeds of its training episodes (so that an evaluation can refuse to reuse them)."""
    from workbench.data import load_dataset
    from workbench.eval.parallel import placement_seeds

    ds = load_dataset(restored.data.path)
    train = sorted(set(restored.split.get("train", [])))
    texts = {t: t for t in restored.sample_meta.tasks}
    for info in reversed(ds.infos):
        if info.index in train and info.instruction:
            texts[info.task] = info.instruction
    seeds = placement_seeds(ds.episode(i) for i in train)
    return texts, seeds


def rollout_token_policy(restored: Any, episodes: int, *, tasks: Sequence[str] = ("reach",), camera_setup: str = "fixed",
                         seed: int = 0, workers: int = 2, seed_start: int = 2000, pool: Any = None,
                         progress: bool = False) -> list[TokenRolloutScore]:  # fmt: skip
    """Closed-loop metaworld success of a restored ``clap_ntp`` / ``clap_rf`` run through the
    parallel, camera-matched protocol (:func:`workbench.eval.parallel.run_parallel_rollouts`:
    placement seeds from ``seed_start``, 200-step cap, 8 actions executed per decision), one
    :class:`TokenRolloutScore` with a Wilson interval per task. Reach is the default: of the
    reference tasks it is one where policies separate (blind replay 13 %, state k-NN on 8 demos
    18–22 %; ``shared/reference/metaworld-baselines.md``). ``camera_setup`` ``fixed`` is the
    generator's scene camera (a third of the sample's episodes were recorded under it)."""
    import time

    from workbench.eval.parallel import (ParallelRolloutConfig, check_disjoint_seeds, check_rollout_camera, make_specs,
                                         outcomes_by_task, run_parallel_rollouts)
    from workbench.eval.policies import ChunkPredictor
    from workbench.stats import wilson_interval

    if not isinstance(restored.method, ChunkPredictor):
        raise EvalError(f"run {restored.id} is a {restored.method_name!r} run, which predicts no action chunks itself")
    meta = restored.sample_meta
    if meta.chunk_kind != "raw":
        raise EvalError(f"run {restored.id} predicts {meta.chunk_kind} chunks; rollouts execute raw actions")
    check_rollout_camera(restored.id, meta.camera, camera_setup)
    texts, training_seeds = training_instructions(restored)
    specs = make_specs(list(tasks), episodes, camera_setup, seed_start=seed_start)
    check_disjoint_seeds(specs, training_seeds)
    cfg = ParallelRolloutConfig(image_size=meta.image_size, workers=workers)
    t0 = time.perf_counter()
    outcomes = run_parallel_rollouts(TokenChunkPolicy(restored.method, texts, seed), specs, cfg, pool=pool, progress=progress,
                                     desc=str(restored.id))
    seconds = time.perf_counter() - t0
    scores = []
    for task, mine in outcomes_by_task(outcomes).items():
        wins = int(sum(o.success for o in mine))
        scores.append(TokenRolloutScore(
            run=str(restored.id), task=task, camera_setup=camera_setup, episodes=len(mine), successes=wins,
            success_rate=wilson_interval(wins, len(mine)), mean_steps=float(np.mean([o.steps for o in mine])),
            eval_seeds=(mine[0].spec.seed, mine[-1].spec.seed), seconds=round(seconds, 1)))
    return scores


def rollout_token_policies(restored_runs: Sequence[Any], episodes: int, *, workers: int = 2,
                           **kwargs: Any) -> list[list[TokenRolloutScore]]:  # fmt: skip
    """:func:`rollout_token_policy` for several runs on one set of environment workers (started
    once): every run meets the same episodes (placements and cameras)."""
    from workbench.eval.parallel import RolloutWorkers

    sizes = {r.sample_meta.image_size for r in restored_runs}
    if len(sizes) != 1:
        raise EvalError(f"the runs see images of different sizes ({sorted(sizes)}); roll them out separately")
    with RolloutWorkers(workers, sizes.pop()) as pool:
        return [rollout_token_policy(r, episodes, workers=workers, pool=pool, **kwargs) for r in restored_runs]


@dataclass(frozen=True)
class ArmSuccess:
    """One arm of a closed-loop comparison: its runs (one per training seed) on the same episodes."""

    arm: str
    per_seed: tuple[TokenRolloutScore, ...]  # one per run (first task)
    pooled: Interval  # Wilson over every run's episodes (the seeds' episodes pooled)
    over_seeds: Interval | None  # mean success rate over seeds, Student-t (None with one seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, seeds: Sequence[int]) -> str:
        """One line per run (its training seed from ``seeds``, in order) and the pooled line."""
        lines = [f"{self.arm}, seed {s}: {sc.task} success {sc.successes}/{sc.episodes} = {sc.success_rate.format(2)} ({sc.seconds:.0f} s)"
                 for s, sc in zip(seeds, self.per_seed)]  # fmt: skip
        lines.append(f"{self.arm}: pooled {self.pooled.format(3)}" + (f", over seeds {self.over_seeds.format(3)}" if self.over_seeds else ""))
        return "\n".join(lines)


@dataclass(frozen=True)
class ArmSweep:
    """Arms of an offline comparison, each trained at several seeds: every metric's per-seed
    estimates and their mean over seeds with a Student-t interval (:func:`~workbench.stats.seed_sweep`)."""

    values: dict[str, dict[str, list[float]]]  # arm -> metric -> one estimate per seed
    over_seeds: dict[str, dict[str, Interval]]  # arm -> metric -> mean over seeds [95 % t]

    def to_dict(self) -> dict[str, Any]:
        """``{"arms": values, "over_seeds": …}``, as the CLAP notebooks' figure metadata holds them."""
        return {"arms": self.values, "over_seeds": {a: {k: i.to_dict() for k, i in v.items()} for a, v in self.over_seeds.items()}}


def sweep_arms(scores: Mapping[str, Sequence[Any]], metrics: Sequence[str]) -> ArmSweep:
    """:class:`ArmSweep` of ``scores`` (arm -> one score per seed, each metric an :class:`Interval`
    attribute, e.g. :class:`TokenPolicyScore`): the arms differ on a metric when their
    ``over_seeds`` intervals do not overlap (:func:`~workbench.stats.separated`)."""
    from workbench.stats import seed_sweep

    values = {a: {k: [float(getattr(x, k).estimate) for x in v] for k in metrics} for a, v in scores.items()}
    return ArmSweep(values, {a: {k: seed_sweep(vals) for k, vals in v.items()} for a, v in values.items()})


def compare_arms_closed_loop(arms: Mapping[str, Sequence[Any]], episodes: int, *, workers: int = 2,
                             **kwargs: Any) -> dict[str, ArmSuccess]:  # fmt: skip
    """Every restored run of every arm through :func:`rollout_token_policy` on one task (reach by
    default), same episodes for all -> per arm the per-seed scores, the pooled Wilson interval and
    the interval over seeds."""
    from workbench.stats import pooled_rate, seed_sweep

    flat = [(arm, r) for arm, runs in arms.items() for r in runs]
    scores = rollout_token_policies([r for _, r in flat], episodes, workers=workers, **kwargs)
    out = {}
    for arm in arms:
        mine = tuple(s[0] for (a, _), s in zip(flat, scores) if a == arm)
        rates = [s.successes / s.episodes for s in mine]
        out[arm] = ArmSuccess(arm, mine, pooled_rate([(s.successes, s.episodes) for s in mine]),
                              seed_sweep(rates) if len(rates) > 1 else None)
    return out


@torch.no_grad()
def probe_token_features(restored: Any, *, split: str = "val", stride: int = 1, dataset: Any = None, c: float = 1.0) -> Interval:
    """How much of the Act-VAE tokens a restored ``clap_vdvae`` run's *frozen features* hold: one
    logistic regression per token position on ``[f_t, f_{t+H}, f_{t+H} - f_t]``, fit on the run's
    labelled training episodes (the same actions the VD-VAE saw), scored as held-out token accuracy
    on ``split`` (bootstrap over episodes). Beside :func:`score_pseudo_tokens` it tells whether the
    features or the VD-VAE's objective limit the pseudo tokens."""
    from sklearn.linear_model import LogisticRegression

    from workbench.data import load_dataset
    from workbench.methods.clap_vdvae import VDVAEMethod, labelled_episodes

    held = _held_out(restored, (VDVAEMethod,), "the probe reads a clap_vdvae run's frozen features", split, stride, dataset)
    vd = restored.method
    ds = dataset if dataset is not None else load_dataset(restored.data.path)
    train = [int(i) for i in restored.split.get("train") or []]
    task_of = {int(info.index): info.task for info in ds.infos}
    labelled = sorted(labelled_episodes(np.array(train), np.array([task_of[i] for i in train]), vd.config.labelled_fraction,
                                        vd.config.split_seed))  # fmt: skip
    if not labelled:
        raise EvalError(f"run {restored.id}: no labelled training episodes to fit the probe on")

    def arrays(samples: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y, e = [], [], []
        for b in _batches(samples):
            ft, fh = vd.features(b["image"], b["text"]), vd.features(b["future_image"], b["text"])
            x.append(torch.cat([ft, fh, fh - ft], 1).cpu().numpy())
            y.append(vd.action_tokens(b["chunk"], b["mask"]).cpu().numpy())
            e.append(b["episode"].numpy())
        return np.concatenate(x), np.concatenate(y), np.concatenate(e)

    x, y, _ = arrays(_video_samples(restored, labelled, ds, stride))
    xv, yv, ev = arrays(held)
    pred = np.stack([np.full(len(xv), y[0, q]) if len(set(y[:, q].tolist())) < 2
                     else LogisticRegression(C=c, max_iter=2000).fit(x, y[:, q]).predict(xv) for q in range(y.shape[1])], 1)  # fmt: skip
    return _episode_bootstrap((pred == yv).mean(1), ev)
