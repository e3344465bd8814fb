"""Frozen features of a trained run on its train and held-out splits, what every evaluation reads.

:func:`load_split` takes the samples a run trained on for one split of its episodes (through
:meth:`~workbench.train.run.TrainedRun.samples`, the one place that rebuilds them) and adds the **raw action chunks**
``a_t … a_{t+H-1}`` of every sample. Policies (k-NN, heads) predict and execute raw actions even
when the run aligned images with end-effector chunks: in metaworld the raw action (xyz delta +
gripper) is what the simulator takes, and an ee chunk would need an inverse model to execute.

:func:`embed_split` runs the method's encoders once over the samples, in eval mode, on the
method's device (CUDA when the run was restored there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.data.chunks import action_chunks
from workbench.data.dataset import Dataset
from workbench.data.normalize import NormStats, compute_norm_stats
from workbench.data.training_samples import FrameChunkDataset, collate
from workbench.eval.results import EvalError
from workbench.methods.capabilities import ActionEmbedder, ActionSource, HistoryEmbedder, TextEmbedder, action_source
from workbench.train.run import TrainedRun
from workbench.train.rundir import JobError

__all__ = ["Features", "SplitData", "embed_split", "has_action_encoder", "has_text_encoder", "load_split", "raw_stats"]


@dataclass(frozen=True)
class SplitData:
    """One split's samples and what the evaluations need beside the images."""

    dataset: FrameChunkDataset  # chunks normalised with the run's statistics
    raw: npt.NDArray[np.float32]  # (N, H, A) raw action chunks, un-normalised
    raw_mask: npt.NDArray[np.bool_]  # (N, H)
    state: npt.NDArray[np.float32] | None  # (N, S) the episode state at each sample's image, if any
    episode: npt.NDArray[np.int64]  # (N,)
    time: npt.NDArray[np.int64]  # (N,)
    task: tuple[str, ...]  # (N,) each sample's task name

    def __len__(self) -> int:
        return len(self.dataset)

    def task_texts(self) -> dict[str, str]:
        """Each task's instruction, as its first sample in the split reads it."""
        texts: dict[str, str] = {}
        for task, text in zip(self.task, self.dataset.texts):
            texts.setdefault(task, text)
        return texts


def load_split(run: TrainedRun, split: str, *, dataset: Dataset | None = None, stride: int | None = None) -> SplitData:
    """The samples of ``split`` ("train" or "val") of a trained run (:meth:`TrainedRun.samples`),
    with each sample's raw action chunk, state, episode, step and task."""
    try:
        episodes = run.episodes(split)
        ds = dataset if dataset is not None else run.open_dataset()
    except JobError as e:
        raise EvalError(str(e)) from e
    eps = [ds.episode(i) for i in episodes]
    fcd = run.samples(eps, stride=stride)
    by_index = {ep.index: ep for ep in eps}
    H = fcd.horizon
    raw, mask, state = [], [], []
    has_state = all(ep.state is not None for ep in eps)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for e, t in zip(fcd.chunks.episode, fcd.chunks.time):
        e, t = int(e), int(t)
        if e not in cache:
            cache[e] = action_chunks(by_index[e].actions, H)  # (T, H, A), (T, H)
        raw.append(cache[e][0][t])
        mask.append(cache[e][1][t])
        if has_state:
            state.append(np.asarray(by_index[e].state[t], dtype=np.float32))
    return SplitData(
        dataset=fcd,
        raw=np.stack(raw).astype(np.float32),
        raw_mask=np.stack(mask),
        state=np.stack(state) if has_state else None,
        episode=fcd.chunks.episode.astype(np.int64),
        time=fcd.chunks.time.astype(np.int64),
        task=tuple(by_index[int(e)].task for e in fcd.chunks.episode),
    )


def raw_stats(data: SplitData) -> NormStats:
    """Per-dimension statistics of the raw action chunks (what the heads predict, normalised)."""
    return compute_norm_stats(data.raw, data.raw_mask)


def has_action_encoder(method: Any) -> bool:
    """Whether ``method`` embeds actions (the following chunk or the history)."""
    return isinstance(method, (ActionEmbedder, HistoryEmbedder))


def has_text_encoder(method: Any) -> bool:
    return isinstance(method, TextEmbedder)


@dataclass(frozen=True)
class Features:
    """L2-normalised embeddings of one split's samples; None for a modality the method lacks."""

    image: npt.NDArray[np.float32]  # (N, C)
    action: npt.NDArray[np.float32] | None  # (N, C): future chunk (CAIP) or action history (CLAMP)
    text: npt.NDArray[np.float32] | None  # (N, C)
    texts: tuple[str, ...]
    action_source: str  # "chunk", "history" or ""


@torch.no_grad()
def embed_split(method: Any, data: SplitData, *, batch_size: int = 64, progress: bool = False) -> Features:
    """Run the method's encoders over every sample of ``data`` (eval mode, no gradients)."""
    was_training = method.training
    method.eval()
    imgs, acts, txts = [], [], []
    src = action_source(method)
    n = len(data.dataset)
    starts = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="embed", unit="batch", leave=False)
    for s in starts:
        b = collate([data.dataset[i] for i in range(s, min(s + batch_size, n))])
        imgs.append(method.encode_images(b["image"], b["text"]).float().cpu())
        if src is ActionSource.CHUNK:
            acts.append(method.encode_actions(b["chunk"], b["mask"]).float().cpu())
        elif src is ActionSource.HISTORY:
            acts.append(method.encode_history(b["history"]).float().cpu())
        if has_text_encoder(method):
            txts.append(method.encode_text(b["text"]).float().cpu())
    method.train(was_training)
    cat = lambda xs: torch.cat(xs).numpy().astype(np.float32) if xs else None  # noqa: E731
    return Features(cat(imgs), cat(acts), cat(txts), tuple(data.dataset.texts), src.value)
