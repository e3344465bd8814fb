"""Frozen features of a trained run on its train and held-out splits, what every evaluation reads.

:func:`load_split` rebuilds the samples a run trained on (same camera, chunk kind, horizon, image
size, history, normalisation) for one split of its episodes, and adds the **raw action chunks**
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
from workbench.data.loader import FrameChunkDataset, collate
from workbench.data.normalize import NormStats, compute_stats
from workbench.eval.results import EvalError

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


def _text_fn(restored: Any):
    if restored.method_name == "clamp":
        from workbench.methods.clamp import clamp_text_fn

        return clamp_text_fn(restored.method.config)
    return None


def load_split(restored: Any, split: str, *, dataset: Any = None, stride: int | None = None) -> SplitData:
    """The samples of ``split`` ("train" or "val") of a restored run (see :func:`load_run`)."""
    from workbench.data import load_dataset

    if split not in restored.split or not restored.split[split]:
        raise EvalError(f"run {restored.id}: its split has no {split!r} episodes (a checkpoint without a run directory "
                        "carries no split; evaluate the run directory)")  # fmt: skip
    d = restored.data
    if not d.get("path"):
        raise EvalError(f"run {restored.id}: the checkpoint does not say which dataset it trained on")
    ds = dataset if dataset is not None else load_dataset(d["path"])
    eps = [ds.episode(int(i)) for i in restored.split[split]]
    meta = restored.sample_meta
    fcd = FrameChunkDataset(
        eps,
        camera=meta.camera or d.get("camera"),
        chunk_kind=d.get("chunk_kind", meta.chunk_kind),
        horizon=int(d.get("horizon", meta.horizon)),
        stride=int(stride if stride is not None else d.get("stride", 1)),
        image_size=meta.image_size,
        history=int(d.get("history", meta.history)),
        norm_stats=restored.norm_stats,
        text_fn=_text_fn(restored),
    )
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
    return compute_stats(data.raw, data.raw_mask)


def has_action_encoder(method: Any) -> bool:
    return hasattr(method, "encode_actions") or hasattr(method, "encode_history")


def has_text_encoder(method: Any) -> bool:
    return hasattr(method, "encode_text")


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
    src = "chunk" if hasattr(method, "encode_actions") else "history" if hasattr(method, "encode_history") else ""
    n = len(data.dataset)
    starts = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="embed", unit="batch", leave=False)
    for s in starts:
        b = collate([data.dataset[i] for i in range(s, min(s + batch_size, n))])
        imgs.append(method.encode_images(b["image"], b["text"]).float().cpu())
        if src == "chunk":
            acts.append(method.encode_actions(b["chunk"], b["mask"]).float().cpu())
        elif src == "history":
            acts.append(method.encode_history(b["history"]).float().cpu())
        if has_text_encoder(method):
            txts.append(method.encode_text(b["text"]).float().cpu())
    method.train(was_training)
    cat = lambda xs: torch.cat(xs).numpy().astype(np.float32) if xs else None  # noqa: E731
    return Features(cat(imgs), cat(acts), cat(txts), tuple(data.dataset.texts), src)
