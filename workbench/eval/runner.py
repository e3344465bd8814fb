"""``evaluate_run``: every evaluation of one trained run, each part saved as ``RUN/eval/<name>.json``.

Parts and the files they write (``<out>-`` is prefixed when ``out`` is given):

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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.eval.features import SplitData, embed_split, load_split
from workbench.eval.heads import HeadConfig, HeadKind, train_head
from workbench.eval.knn import KNNConfig, KNNPolicy, mean_chunk_prediction, offline_error, standardize_state
from workbench.eval.probe import ProbeConfig, run_probe
from workbench.eval.results import EvalError, EvalReport, HeadResult, KNNResult, OfflineError, save_result
from workbench.eval.retrieval import run_retrieval

__all__ = ["evaluate_run", "offline_baselines"]


def offline_baselines(train: SplitData, val: SplitData, knn: KNNConfig) -> dict[str, OfflineError]:
    """The blind mean chunk, and k-NN on standardised true state (the reference protocol's strong
    non-visual baseline) when the dataset records state."""
    out = {"mean_chunk": offline_error(mean_chunk_prediction(train.raw, train.raw_mask)[None], val.raw, val.raw_mask)}
    if train.state is not None and val.state is not None:
        s_train, s_val = standardize_state(train.state, val.state)
        pol = KNNPolicy(knn).fit(s_train, train.raw, train.raw_mask)
        out["state_knn"] = offline_error(pol.predict(s_val).chunks, val.raw, val.raw_mask)
    return out


def _task_texts(train: SplitData) -> dict[str, str]:
    texts: dict[str, str] = {}
    for task, text in zip(train.task, train.dataset.texts):
        texts.setdefault(task, text)
    return texts


def _check_rollouts(restored: Any, train: SplitData, tasks: Sequence[str]) -> None:
    cam = restored.sample_meta.camera
    if cam not in ("scene", "wrist"):
        raise EvalError(f"rollouts render the 'scene' or 'wrist' camera; run {restored.id} trained on {cam!r}")
    if train.raw.shape[-1] != 4:
        raise EvalError(f"rollouts execute metaworld's 4-D actions; run {restored.id}'s data has {train.raw.shape[-1]}-D actions")
    unknown = sorted(set(tasks) - set(train.task))
    if unknown:
        raise EvalError(f"tasks {unknown} are not in run {restored.id}'s training data (it has {sorted(set(train.task))})")


def evaluate_run(
    run_dir: str | Path,
    *,
    probe: bool = True,
    retrieval: bool = True,
    knn: bool = True,
    head: str | None = None,
    unfreeze: bool = False,
    head_steps: int = 500,
    rollouts: int = 0,
    tasks: Sequence[str] | None = None,
    max_steps: int = 200,
    execute: int = 8,
    save_episodes: int = 1,
    per_task_corpus: bool = False,
    out: str | None = None,
    probe_config: ProbeConfig | None = None,
    knn_config: KNNConfig | None = None,
    head_config: HeadConfig | None = None,
    stride: int = 1,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> EvalReport:
    """Evaluate the latest checkpoint of ``run_dir``; each part asked for is saved under ``eval/``.

    ``rollouts`` episodes per task of ``tasks`` (default: every task of the run) are run for the
    k-NN policy (when ``knn``) and the head (when ``head``). ``per_task_corpus`` restricts the
    k-NN corpus to the task being rolled out (default: pooled, which also tests that the
    representation finds the right task). ``stride`` samples every n-th step of the episodes
    (1 = all, as the reference's corpus stores every step).
    """
    from workbench.train.restore import load_run

    if head is not None:
        HeadKind(head)  # refuse a bad name before any work
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    restored = load_run(run_dir, map_location=dev)
    if restored.run_dir is None:
        raise EvalError(f"{run_dir}: evaluate a run directory (a bare checkpoint file carries no split)")
    rd = restored.run_dir
    name = (lambda part: f"{out}-{part}") if out else (lambda part: part)  # noqa: E731
    knn_cfg = knn_config or KNNConfig()
    method = restored.method
    from workbench.data import load_dataset

    ds = load_dataset(restored.data["path"])
    train = load_split(restored, "train", dataset=ds, stride=stride)
    val = load_split(restored, "val", dataset=ds, stride=stride)
    if rollouts:
        tasks = list(tasks) if tasks else sorted(set(train.task))
        _check_rollouts(restored, train, tasks)
    f_train = embed_split(method, train, progress=progress)
    f_val = embed_split(method, val, progress=progress)
    parts: dict[str, Any] = {}

    if probe:
        # the run's chunk kind, normalised with its statistics: what its action encoder saw
        values = val.dataset.chunks.values
        chunks = restored.norm_stats.normalize(values) if restored.norm_stats is not None else values
        parts["probe"] = run_probe(restored.method_name, f_val.image, chunks, val.episode, f_val.action, probe_config,
                                   task=np.asarray(val.task))  # fmt: skip
        save_result(rd, name("probe"), parts["probe"])
    if retrieval:
        parts["retrieval"] = run_retrieval(restored.method_name, method, f_val)
        save_result(rd, name("retrieval"), parts["retrieval"])

    knn_policy = KNNPolicy(knn_cfg).fit(f_train.image, train.raw, train.raw_mask)
    baselines = offline_baselines(train, val, knn_cfg) if (knn or head) else {}
    if knn:
        pred = knn_policy.predict(f_val.image).chunks
        notes = ("corpus: training samples' raw action chunks (what the simulator executes), whatever chunk kind "
                 f"the encoder was aligned with ({restored.sample_meta.chunk_kind})")  # fmt: skip
        parts["knn"] = KNNResult(method=restored.method_name, k=knn_policy.k_, temperature=knn_cfg.temperature,
                                 corpus_size=len(train), policy=offline_error(pred, val.raw, val.raw_mask),
                                 baselines=baselines, notes=notes)  # fmt: skip
        save_result(rd, name("knn"), parts["knn"])

    trained = None
    if head is not None:
        hcfg = head_config or HeadConfig(kind=HeadKind(head), steps=head_steps, unfreeze=unfreeze)
        trained = train_head(method, train, hcfg, embeddings=None if hcfg.unfreeze else f_train.image,
                             method_name=restored.method_name, progress=progress)  # fmt: skip
        hname = name(f"head-{hcfg.kind.value}" + ("-unfrozen" if hcfg.unfreeze else ""))
        path = trained.save(rd / "eval" / "heads" / f"{hname}.safetensors")
        if hcfg.unfreeze:
            pred = np.concatenate([trained.predict(*_batch(val, s)) for s in range(0, len(val), 64)])
        else:
            pred = trained.predict_from_embeddings(f_val.image)
        parts["head"] = HeadResult(method=restored.method_name, head=hcfg.kind.value, frozen=not hcfg.unfreeze,
                                   steps=hcfg.steps, losses=tuple(trained.losses),
                                   offline=offline_error(pred, val.raw, val.raw_mask), baselines=baselines,
                                   path=str(path.relative_to(rd)))  # fmt: skip
        save_result(rd, hname, parts["head"])

    results = []
    if rollouts:
        from workbench.eval.policies import HeadChunkPolicy, KNNChunkPolicy
        from workbench.eval.rollout import RolloutConfig, run_rollouts

        rcfg = RolloutConfig(episodes=rollouts, max_steps=max_steps, execute=execute, camera=restored.sample_meta.camera,
                             image_size=restored.sample_meta.image_size, save_episodes=save_episodes)  # fmt: skip
        texts = _task_texts(train)
        videos = rd / "eval" / "rollouts"
        policies: list[tuple[str, Any]] = []
        if knn or head is None:
            def make_knn(task: str) -> KNNChunkPolicy:
                pol = knn_policy
                if per_task_corpus:
                    sel = np.array([t == task for t in train.task])
                    pol = KNNPolicy(knn_cfg).fit(f_train.image[sel], train.raw[sel], train.raw_mask[sel])
                return KNNChunkPolicy(method, pol, texts.get(task, ""))

            policies.append(("knn", make_knn))
        if trained is not None:
            policies.append((f"head-{trained.config.kind.value}", lambda task: HeadChunkPolicy(trained, texts.get(task, ""))))
        for pname, make in policies:
            r = run_rollouts(make, tasks, rcfg, policy_name=pname, out_dir=videos, run_dir=rd, progress=progress)  # type: ignore[arg-type]
            save_result(rd, name(f"rollouts-{pname}"), r)
            results.append(r)
    return EvalReport(run=restored.id, checkpoint_step=restored.step, probe=parts.get("probe"),
                      retrieval=parts.get("retrieval"), knn=parts.get("knn"), head=parts.get("head"),
                      rollouts=tuple(results))  # fmt: skip


def _batch(data: SplitData, start: int, size: int = 64) -> tuple[torch.Tensor, list[str]]:
    from workbench.data.loader import collate

    b = collate([data.dataset[i] for i in range(start, min(start + size, len(data)))])
    return b["image"], b["text"]
