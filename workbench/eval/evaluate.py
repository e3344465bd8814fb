"""``evaluate_run(run_dir, EvalConfig(...))``: every evaluation of one trained run, each part saved as ``RUN/eval/<name>.json``.

Parts and the files they write (``<out>-`` is prefixed when ``EvalConfig.out`` is given):

* ``probe`` — K-means action classes, linear-probe sweep and zero-shot (CAIP §3.2);
* ``retrieval`` — cross-modal Recall@1/5/10 and SigLIP matching matrices (CLAMP App. B, Fig. 8);
* ``knn`` — the k-NN retrieval policy's offline error vs baselines (CLASS §4.4);
* ``head-<kind>`` — a policy head trained on the encoder (CAIP §2.3), offline; weights in
  ``eval/heads/<name>.safetensors``;
* ``rollouts-<policy>`` — closed-loop metaworld success, videos under ``eval/rollouts/``.

Held-out numbers use the run's validation episodes; corpora and heads its training episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.eval.features import Features, SplitData, embed_split, load_split
from workbench.eval.head_training import HeadConfig, HeadKind, TrainedHead, train_head
from workbench.eval.knn import KNNConfig, KNNPolicy, mean_chunk_prediction, offline_error, standardize_state
from workbench.eval.probe import ProbeConfig, probe_action_chunks, run_probe
from workbench.eval.results import EvalError, EvalReport, HeadResult, KNNResult, OfflineError, RolloutResult, TaskRollout, save_result
from workbench.eval.retrieval import run_retrieval
from workbench.train.run import TrainedRun, load_run

__all__ = ["EvalConfig", "evaluate_run", "offline_baselines"]


def offline_baselines(train: SplitData, val: SplitData, knn: KNNConfig) -> dict[str, OfflineError]:
    """The blind mean chunk, and k-NN on standardised true state (the reference protocol's strong
    non-visual baseline) when the dataset records state."""
    out = {"mean_chunk": offline_error(mean_chunk_prediction(train.raw, train.raw_mask)[None], val.raw, val.raw_mask)}
    if train.state is not None and val.state is not None:
        s_train, s_val = standardize_state(train.state, val.state)
        pol = KNNPolicy(knn).fit(s_train, train.raw, train.raw_mask)
        out["state_knn"] = offline_error(pol.predict(s_val).chunks, val.raw, val.raw_mask)
    return out


def _check_rollouts(restored: TrainedRun, train: SplitData, tasks: Sequence[str]) -> None:
    cam = restored.sample_meta.camera
    if cam not in ("scene", "wrist"):
        raise EvalError(f"rollouts render the 'scene' or 'wrist' camera; run {restored.id} trained on {cam!r}")
    if train.raw.shape[-1] != 4:
        raise EvalError(f"rollouts execute metaworld's 4-D actions; run {restored.id}'s data has {train.raw.shape[-1]}-D actions")
    unknown = sorted(set(tasks) - set(train.task))
    if unknown:
        raise EvalError(f"tasks {unknown} are not in run {restored.id}'s training data (it has {sorted(set(train.task))})")


@dataclass(frozen=True)
class EvalConfig:
    """Which evaluations to run and how (what ``workbench eval`` and the app's quick evaluation ask)."""

    probe: bool = True  # K-means action classes: linear-probe sweep + zero-shot (CAIP §3.2)
    retrieval: bool = True  # cross-modal Recall@k (CLAMP App. B)
    knn: bool = True  # the k-NN retrieval policy's offline error (CLASS §4.4)
    head: str | None = None  # train a policy head: "mlp" or "flow" (CAIP §2.3); None = none
    unfreeze: bool = False  # fine-tune (a copy of) the encoder with the head
    head_steps: int = 500  # head optimiser steps
    rollouts: int = 0  # closed-loop metaworld episodes per task (k-NN policy and/or head)
    tasks: tuple[str, ...] | None = None  # rollout tasks; None = every task of the run
    max_steps: int = 200  # step cap per rollout episode
    execute: int = 8  # actions executed per chunk before re-planning
    save_episodes: int = 1  # first rollout episodes per task saved as video
    camera_setup: str | None = None  # fixed / random / dynamic / wrist; None = the training data's setups
    seed_start: int = 2000  # first evaluation seed (disjoint from the training placements)
    workers: int = 2  # rollout processes (0 = in this process)
    per_task_corpus: bool = False  # k-NN corpus restricted to the rolled-out task (default: pooled)
    out: str | None = None  # prefix of the result names (RUN/eval/<out>-<part>.json)
    probe_config: ProbeConfig = field(default_factory=ProbeConfig)
    knn_config: KNNConfig = field(default_factory=KNNConfig)
    head_config: HeadConfig | None = None  # None = HeadConfig(kind=head, steps=head_steps, unfreeze=unfreeze)
    stride: int = 1  # every n-th step of the episodes (1 = all, as the reference's corpus stores every step)
    device: str | None = None  # cpu, cuda, cuda:N; None = CUDA when available

    def __post_init__(self) -> None:
        if self.head is not None:
            HeadKind(self.head)  # refuse a bad name before any work
        if self.rollouts < 0:
            raise ValueError(f"rollouts must be >= 0, got {self.rollouts}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.camera_setup is not None and self.camera_setup not in ("fixed", "random", "dynamic", "wrist"):
            raise ValueError(f"unknown camera setup {self.camera_setup!r}; rollouts render fixed, random, dynamic, wrist")
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if self.tasks is not None:
            object.__setattr__(self, "tasks", tuple(self.tasks))

    def name(self, part: str) -> str:
        return f"{self.out}-{part}" if self.out else part

    def resolved_head(self) -> HeadConfig | None:
        if self.head is None:
            return None
        return self.head_config or HeadConfig(kind=HeadKind(self.head), steps=self.head_steps, unfreeze=self.unfreeze)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (what an evaluation job records)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalConfig:
        d = dict(d)
        if d.get("probe_config") is not None:
            pc = dict(d["probe_config"])
            pc["shots"] = tuple(pc.get("shots", ()))
            d["probe_config"] = ProbeConfig(**pc)
        if d.get("knn_config") is not None:
            d["knn_config"] = KNNConfig(**d["knn_config"])
        if d.get("head_config") is not None:
            hc = dict(d["head_config"])
            hc["kind"] = HeadKind(hc["kind"])
            d["head_config"] = HeadConfig(**hc)
        if d.get("tasks") is not None:
            d["tasks"] = tuple(d["tasks"])
        return cls(**d)


@dataclass
class _Evaluation:
    """One evaluation in progress: the run, its two splits and their frozen features."""

    run: TrainedRun
    config: EvalConfig
    train: SplitData
    val: SplitData
    f_train: Features
    f_val: Features
    parts: dict[str, Any]
    dataset: Any = None  # the run's dataset, opened once

    @property
    def run_dir(self) -> Path:
        assert self.run.run_dir is not None
        return self.run.run_dir

    def save(self, part: str, name: str, result: Any) -> None:
        self.parts[part] = result
        save_result(self.run_dir, name, result)


def evaluate_run(run_dir: str | Path, config: EvalConfig | None = None, *, progress: bool = False) -> EvalReport:
    """Evaluate the latest checkpoint of ``run_dir`` as ``config`` says; each part is saved under ``eval/``.

    ``config.rollouts`` episodes per task of ``config.tasks`` (default: every task of the run) are
    run for the k-NN policy (when ``knn``) and the head (when ``head``).
    """
    cfg = config or EvalConfig()
    ev = _prepare(run_dir, cfg, progress)
    if cfg.probe:
        _probe(ev)
    if cfg.retrieval:
        ev.save("retrieval", cfg.name("retrieval"), run_retrieval(ev.run.method_name, ev.run.method, ev.f_val))
    knn_policy = KNNPolicy(cfg.knn_config).fit(ev.f_train.image, ev.train.raw, ev.train.raw_mask)
    baselines = offline_baselines(ev.train, ev.val, cfg.knn_config) if (cfg.knn or cfg.head) else {}
    if cfg.knn:
        _knn(ev, knn_policy, baselines)
    trained = _head(ev, baselines, progress) if cfg.head is not None else None
    results = _rollouts(ev, knn_policy, trained, progress) if cfg.rollouts else []
    p = ev.parts
    return EvalReport(run=ev.run.id, checkpoint_step=ev.run.step, probe=p.get("probe"), retrieval=p.get("retrieval"),
                      knn=p.get("knn"), head=p.get("head"), rollouts=tuple(results))  # fmt: skip


def _prepare(run_dir: str | Path, cfg: EvalConfig, progress: bool) -> _Evaluation:
    """Load the run once, open its dataset once, take both splits and embed them."""
    dev = torch.device(cfg.device) if cfg.device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run = load_run(run_dir, map_location=dev)
    if run.run_dir is None:
        raise EvalError(f"{run_dir}: evaluate a run directory (a bare checkpoint file carries no split)")
    ds = run.open_dataset()
    train = load_split(run, "train", dataset=ds, stride=cfg.stride)
    val = load_split(run, "val", dataset=ds, stride=cfg.stride)
    if cfg.rollouts:
        _check_rollouts(run, train, list(cfg.tasks) if cfg.tasks else sorted(set(train.task)))
    f_train = embed_split(run.method, train, progress=progress)
    f_val = embed_split(run.method, val, progress=progress)
    return _Evaluation(run, cfg, train, val, f_train, f_val, {}, ds)


def _probe(ev: _Evaluation) -> None:
    # classes from raw relative SE(3) chunks (CAIP §3.2): the same for every method on this data
    pcfg = ev.config.probe_config
    chunks = probe_action_chunks(ev.dataset, ev.val.episode, ev.val.time, pcfg.horizon)
    res = run_probe(ev.run.method_name, ev.f_val.image, chunks, ev.val.episode, ev.f_val.action, pcfg,
                    task=ev.val.task, action_source=ev.f_val.action_source)  # fmt: skip
    ev.save("probe", ev.config.name("probe"), res)


def _knn(ev: _Evaluation, knn_policy: KNNPolicy, baselines: dict[str, OfflineError]) -> None:
    pred = knn_policy.predict(ev.f_val.image).chunks
    notes = ("corpus: training samples' raw action chunks (what the simulator executes), whatever chunk kind "
             f"the encoder was aligned with ({ev.run.sample_meta.chunk_kind})")  # fmt: skip
    res = KNNResult(method=ev.run.method_name, k=knn_policy.k_, temperature=ev.config.knn_config.temperature,
                    corpus_size=len(ev.train), policy=offline_error(pred, ev.val.raw, ev.val.raw_mask),
                    baselines=baselines, notes=notes)  # fmt: skip
    ev.save("knn", ev.config.name("knn"), res)


def _head(ev: _Evaluation, baselines: dict[str, OfflineError], progress: bool) -> TrainedHead:
    hcfg = ev.config.resolved_head()
    assert hcfg is not None
    trained = train_head(ev.run.method, ev.train, hcfg, embeddings=None if hcfg.unfreeze else ev.f_train.image,
                         method_name=ev.run.method_name, progress=progress)  # fmt: skip
    hname = ev.config.name(f"head-{hcfg.kind.value}" + ("-unfrozen" if hcfg.unfreeze else ""))
    path = trained.save(ev.run_dir / "eval" / "heads" / f"{hname}.safetensors")
    if hcfg.unfreeze:
        pred = np.concatenate([trained.predict(*_batch(ev.val, s)) for s in range(0, len(ev.val), 64)])
    else:
        pred = trained.predict_from_embeddings(ev.f_val.image)
    res = HeadResult(method=ev.run.method_name, head=hcfg.kind.value, frozen=not hcfg.unfreeze, steps=hcfg.steps,
                     losses=tuple(trained.losses), offline=offline_error(pred, ev.val.raw, ev.val.raw_mask),
                     baselines=baselines, path=str(path.relative_to(ev.run_dir)))  # fmt: skip
    ev.save("head", hname, res)
    return trained


def rollout_setups(run: TrainedRun, dataset: Any, episodes: Sequence[int]) -> tuple[str, ...]:
    """The camera setups a run's closed-loop episodes use: those of its training episodes (CLASS
    Fig. 3: a policy is evaluated under the camera it was trained for); ``wrist`` for a wrist run."""
    from workbench.sim.vector_env import ROLLOUT_SETUPS

    if run.sample_meta.camera == "wrist":
        return ("wrist",)
    by_index = {info.index: info for info in dataset.infos}
    setups = sorted({str(by_index[i].camera_setup) for i in episodes if i in by_index})
    known = tuple(s for s in setups if s in ROLLOUT_SETUPS)
    return known or ("fixed",)  # data without a recorded setup (e.g. converted): the generator's scene camera


def _rollouts(ev: _Evaluation, knn_policy: KNNPolicy, trained: TrainedHead | None, progress: bool) -> list:
    """Closed loop through :mod:`workbench.eval.parallel`: parallel workers, batched encoder
    forward, each episode under one of the training data's camera setups (cycled over episodes)."""
    from workbench.eval.batch_policies import EncoderKNN, HeadPolicy
    from workbench.eval.parallel import (ParallelRolloutConfig, check_disjoint_seeds, make_depth_rig, make_specs,
                                         placement_seeds, run_parallel_rollouts)

    cfg, run, train = ev.config, ev.run, ev.train
    tasks = list(cfg.tasks) if cfg.tasks else sorted(set(train.task))
    setups = (cfg.camera_setup,) if cfg.camera_setup else rollout_setups(run, ev.dataset, run.episodes("train"))
    per_setup = {s: make_specs(tasks, cfg.rollouts, s, seed_start=cfg.seed_start, save_episodes=cfg.save_episodes) for s in setups}
    # episode i of each task under setups[i % len(setups)]: the same seeds, whatever the policy
    specs = [per_setup[setups[k % len(setups)]][t * cfg.rollouts + k] for t in range(len(tasks)) for k in range(cfg.rollouts)]
    check_disjoint_seeds(specs, placement_seeds(ev.dataset.episode(i) for i in run.episodes("train")))
    texts = train.task_texts()
    policies: list[tuple[str, Any]] = []
    if cfg.knn or cfg.head is None:
        labels = list(train.task) if cfg.per_task_corpus else None
        policies.append(("knn", EncoderKNN.fit(run.method, ev.f_train.image, train.raw, train.raw_mask, KNNPolicy(cfg.knn_config), texts,
                                               sample_tasks=labels)))  # fmt: skip
    if trained is not None:
        policies.append((f"head-{trained.config.kind.value}", HeadPolicy(trained, texts)))
    rcfg = ParallelRolloutConfig(max_steps=cfg.max_steps, execute=cfg.execute, image_size=run.sample_meta.image_size,
                                 workers=cfg.workers)  # fmt: skip
    results = []
    for pname, policy in policies:
        # an encoder on depth + XYZ virtual views gets them re-rendered at every decision from the
        # cameras its training data recorded (CLAMP §III-B)
        rig = make_depth_rig(policy.views, ev.dataset.episode(run.episodes("train")[0])) if policy.views is not None else None
        outcomes = run_parallel_rollouts(policy, specs, rcfg, rig=rig, progress=progress, desc=f"rollouts {pname}")
        r = _rollout_result(ev.run_dir, pname, "+".join(setups), rcfg, tasks, outcomes)
        save_result(ev.run_dir, cfg.name(f"rollouts-{pname}"), r)
        results.append(r)
    return results


def _rollout_result(run_dir: Path, policy: str, camera: str, rcfg: Any, tasks: Sequence[str], outcomes: Sequence[Any]) -> RolloutResult:
    from workbench.data.video import write_video
    from workbench.eval.parallel import outcomes_by_task

    per_task = []
    safe = policy.replace(":", "-").replace("/", "-")
    groups = outcomes_by_task(outcomes)
    for task in tasks:
        mine = groups.get(task.removesuffix("-v3"), [])
        saved = []
        for o in mine:
            if o.frames is not None:
                path = run_dir / "eval" / "rollouts" / f"{safe}_{task}_{o.spec.camera_setup}_seed{o.spec.seed}.mp4"
                write_video(path, o.frames, 20.0)
                saved.append(str(path.relative_to(run_dir)))
        per_task.append(TaskRollout(task, tuple(o.spec.seed for o in mine), tuple(o.success for o in mine),
                                    tuple(o.steps for o in mine), tuple(saved)))  # fmt: skip
    return RolloutResult(policy=policy, camera=camera, image_size=rcfg.image_size, execute=rcfg.execute,
                         max_steps=rcfg.max_steps, tasks=tuple(per_task))  # fmt: skip


def _batch(data: SplitData, start: int, size: int = 64) -> tuple[torch.Tensor, list[str]]:
    from workbench.data.training_samples import collate

    b = collate([data.dataset[i] for i in range(start, min(start + size, len(data)))])
    return b["image"], b["text"]
