"""Image embeddings of every frame of a dataset under a trained method, cached on disk.

:func:`compute_embeddings` runs ``Method.encode_images`` over the frames of a dataset (the same
image + following-chunk samples the method trained on, :class:`~workbench.data.training_samples.FrameChunkDataset`)
in batches on the method's device, and returns an :class:`Embeddings`: the vectors plus, per row,
the episode, the image step, the task, the camera setup and the action chunk that follows the
frame — everything the latent-trajectory (CLASS App. J.1) and neighbour (CLASS App. J.2) views need
without touching the model again.

The result is cached as one ``.npz`` keyed by the model's content hash (the checkpoint file's, or
its weights' for an in-memory model), the dataset's content (:func:`dataset_fingerprint`) and the settings,
so a second call — or the app after a restart — reads it back instead of re-encoding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.atomic import atomic_path
from workbench.paths import cache_root
from workbench.data.dataset import Dataset
from workbench.data.layouts import load_dataset
from workbench.data.training_samples import FrameChunkDataset, collate
from workbench.methods.base import Method
from workbench.train.run import TrainedRun, load_run, model_hash
from workbench.types import Episode

__all__ = ["Embeddings", "as_trained_run", "compute_embeddings", "dataset_fingerprint", "default_cache_dir", "model_hash", "load_frames"]

#: bump when the cached layout or the way embeddings are computed changes
_CACHE_VERSION = 2  # 2: keyed by the dataset's content, not its path and mtimes


def default_cache_dir() -> Path:
    """``$ACTIONLENS_CACHE/embeddings`` or ``~/.cache/actionlens/embeddings``."""
    return cache_root() / "embeddings"


@dataclass(frozen=True)
class Embeddings:
    """Per-frame embeddings and where each frame came from.

    Row ``i`` is the image at step ``time[i]`` of episode ``episode[i]`` (the ``Episode.index``) of
    camera ``camera`` in the dataset at ``dataset``; ``chunks[i]`` (H, D) is the action chunk that
    follows it, un-normalised, with validity ``chunk_mask[i]`` (what DTW compares, CLASS §4.1).
    """

    vectors: npt.NDArray[np.float32]  # (N, C) as the method returns them (L2-normalised)
    episode: npt.NDArray[np.int64]  # (N,)
    time: npt.NDArray[np.int64]  # (N,) image step within the episode
    progress: npt.NDArray[np.float32]  # (N,) time / (episode length - 1), in [0, 1]
    task: npt.NDArray[np.str_]  # (N,)
    camera_setup: npt.NDArray[np.str_]  # (N,) fixed / random / dynamic / wrist / unknown
    chunks: npt.NDArray[np.float32]  # (N, H, D)
    chunk_mask: npt.NDArray[np.bool_]  # (N, H)
    dataset: str  # the dataset path ("" for in-memory episodes)
    camera: str
    chunk_kind: str
    image_size: int
    model_id: str  # content hash of the model that produced the vectors

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def select(self, idx: npt.ArrayLike) -> Embeddings:
        """The rows ``idx`` (indices or a boolean mask), other fields unchanged."""
        idx = np.asarray(idx)
        per_row = {f.name for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray)}
        return Embeddings(**{f.name: getattr(self, f.name)[idx] if f.name in per_row else getattr(self, f.name)
                             for f in fields(self)})  # fmt: skip

    def frame_refs(self, idx: npt.ArrayLike | None = None) -> list[tuple[int, int]]:
        """``(episode, time)`` of rows ``idx`` (all rows by default), for fetching images."""
        idx = np.arange(len(self)) if idx is None else np.asarray(idx).ravel()
        return [(int(self.episode[i]), int(self.time[i])) for i in idx]

    # -- npz round trip -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write to ``path`` (.npz) atomically, so a crash never leaves a half file in the cache."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)  # chunks and ids compress well; shipped caches count against the samples budget
        return path

    @classmethod
    def load(cls, path: str | Path) -> Embeddings:
        with np.load(path, allow_pickle=False) as z:
            kw: dict[str, Any] = {}
            for f in fields(cls):
                a = z[f.name]
                kw[f.name] = a.item() if a.ndim == 0 else a
        kw["image_size"] = int(kw["image_size"])
        for name in ("dataset", "camera", "chunk_kind", "model_id"):
            kw[name] = str(kw[name])
        return cls(**kw)


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def dataset_fingerprint(path: str | Path) -> str:
    """A content hash of the dataset at ``path``: every file's relative path and bytes (flag files
    beside it are not inside it). The embedding cache is keyed by it, not by the folder's place
    or modification times, so a cache shipped with a dataset (``data_samples/``) still hits on a
    fresh clone, and rewriting an episode misses. Memoised per process on every file's name, size
    and modification time (not just the newest time: a file rewritten with an older time than the
    newest must still miss), so it is hashed once until something changes."""
    path = Path(path).resolve()
    files = [path] if path.is_file() else sorted(Path(r) / f for r, _, fs in os.walk(path) for f in fs)
    stat = [f.stat() for f in files]
    memo = (str(path), tuple((str(f), s.st_size, s.st_mtime_ns) for f, s in zip(files, stat)))
    if memo not in _FINGERPRINTS:
        h = hashlib.sha256()
        for f in files:
            h.update((f.relative_to(path).as_posix() if f != path else f.name).encode() + b"\0")
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        _FINGERPRINTS[memo] = h.hexdigest()[:24]
    return _FINGERPRINTS[memo]


def as_trained_run(model_or_run: Any) -> TrainedRun:
    """A :class:`~workbench.train.run.TrainedRun` from a run, a run directory / checkpoint path
    (loaded onto CUDA when present) or an in-memory :class:`~workbench.methods.Method`."""
    if isinstance(model_or_run, TrainedRun):
        return model_or_run
    if isinstance(model_or_run, (str, Path)):
        return load_run(model_or_run)
    if isinstance(model_or_run, Method):
        return TrainedRun.from_method(model_or_run)
    raise ValueError(f"model_or_run must be a Method, a TrainedRun, or a run directory / checkpoint path, got {type(model_or_run).__name__}")


@dataclass(frozen=True)
class _Settings:
    """What the frames are read with (part of the cache key)."""

    camera: str | None
    image_size: int | None
    chunk_kind: str
    horizon: int


def _settings(run: TrainedRun, camera: str | None, image_size: int | None, chunk_kind: str | None,
              horizon: int | None) -> _Settings:  # fmt: skip
    # the run's own settings unless overridden: the frames look like those it trained on
    meta = run.sample_meta
    return _Settings(camera if camera is not None else run.camera, image_size or meta.image_size or run.data.image_size,
                     chunk_kind or meta.chunk_kind, int(horizon or meta.horizon))  # fmt: skip


def _cache_file(run: TrainedRun, key_path: str, st: _Settings, episodes: Sequence[int] | None, stride: int,
                with_text: bool, cache_dir: str | Path | None) -> Path:  # fmt: skip
    settings = {"v": _CACHE_VERSION, "model": run.model_id, "dataset": dataset_fingerprint(key_path),
                "camera": st.camera, "image_size": st.image_size, "chunk_kind": st.chunk_kind, "horizon": st.horizon,
                "episodes": None if episodes is None else sorted(int(e) for e in episodes), "stride": stride,
                "with_text": with_text}  # fmt: skip
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]
    root = Path(cache_dir) if cache_dir is not None else (run.run_dir / "embeddings" if run.run_dir else default_cache_dir())
    return root / f"{run.model_id}-{key}.npz"


def _encode_images(method: Any, samples: FrameChunkDataset, batch_size: int, with_text: bool) -> np.ndarray:
    """(N, C) image embeddings of every sample, in batches on the method's device, eval mode."""
    was_training = method.training
    method.eval()
    vecs = []
    try:
        with torch.no_grad():
            for b0 in range(0, len(samples), batch_size):
                batch = collate([samples[i] for i in range(b0, min(len(samples), b0 + batch_size))])
                images = batch["image"].to(method.device)  # (B, 3, S, S) uint8
                z = method.encode_images(images, batch["text"] if with_text else None)  # (B, C)
                vecs.append(z.float().cpu().numpy())
    finally:
        method.train(was_training)
    return np.concatenate(vecs).astype(np.float32)


def _episode_facts(source: Dataset | Sequence[Episode], episodes: npt.NDArray) -> dict[int, tuple[str, str, int]]:
    """``{episode: (task, camera setup, length)}`` for the given episode indices."""
    out: dict[int, tuple[str, str, int]] = {}
    if isinstance(source, Dataset):
        infos = {info.index: info for info in source.infos}
        for e in np.unique(episodes):
            info = infos[int(e)]
            out[int(e)] = (info.task, str(info.camera_setup), info.length)
    else:
        by_index = {ep.index: ep for ep in source}
        for e in np.unique(episodes):
            ep = by_index[int(e)]
            out[int(e)] = (ep.task, ep.camera_setup.value, len(ep))
    return out


def compute_embeddings(
    model_or_run: Any,
    dataset_or_path: Dataset | str | Path | Sequence[Episode] | None = None,
    *,
    camera: str | None = None,
    image_size: int | None = None,
    chunk_kind: str | None = None,
    horizon: int | None = None,
    episodes: Sequence[int] | None = None,
    stride: int = 1,
    batch_size: int = 64,
    with_text: bool = True,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> Embeddings:
    """Embed every ``stride``-th frame of ``dataset_or_path`` with a method's image encoder.

    Args:
        model_or_run: a :class:`~workbench.methods.Method`, a :class:`~workbench.train.run.TrainedRun`,
            or a run directory / checkpoint path (loaded onto CUDA when present).
        dataset_or_path: a dataset, its path, or a list of episodes; None = the run's own dataset.
        camera, image_size, chunk_kind, horizon: override the run's settings (by default the
            frames are :meth:`TrainedRun.samples`, as the method trained on them).
        episodes: ``Episode.index`` values to embed; None = all.
        with_text: give text-conditioned encoders (CAIP) each sample's instruction.
        cache: read/write the ``.npz`` cache; ``cache_dir`` defaults to ``<run>/embeddings`` for a
            run directory, else :func:`default_cache_dir`. In-memory episodes are never cached.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    run = as_trained_run(model_or_run)
    if dataset_or_path is None:
        if not run.data.path:
            raise ValueError("no dataset given and the model carries no run data settings; pass dataset_or_path")
        source: Dataset | Sequence[Episode] = run.open_dataset()
    elif isinstance(dataset_or_path, (str, Path)):
        source = load_dataset(dataset_or_path)
    else:
        source = dataset_or_path
    key_path = str(source.path.resolve()) if isinstance(source, Dataset) else ""
    st = _settings(run, camera, image_size, chunk_kind, horizon)

    cache_file = _cache_file(run, key_path, st, episodes, stride, with_text, cache_dir) if cache and key_path else None
    if cache_file is not None and cache_file.exists():
        try:
            # the entry may come from another checkout (shipped samples): name this one's path
            return dataclasses.replace(Embeddings.load(cache_file), dataset=key_path)
        except (OSError, ValueError, KeyError):
            cache_file.unlink(missing_ok=True)  # a damaged cache entry is recomputed

    samples = run.samples(source, episodes=episodes, stride=stride, chunk_kind=st.chunk_kind, horizon=st.horizon,
                          camera=st.camera, image_size=st.image_size)  # fmt: skip
    vectors = _encode_images(run.method, samples, batch_size, with_text)
    ep_ids = samples.chunks.episode
    facts = _episode_facts(source, ep_ids)
    # the scene camera's setup varies per episode (CLASS Fig. 3); a wrist camera is always "wrist"
    cam_setup = np.array([("wrist" if samples.camera == "wrist" else facts[int(e)][1]) for e in ep_ids], dtype=np.str_)
    lengths = np.array([facts[int(e)][2] for e in ep_ids], dtype=np.float32)
    emb = Embeddings(
        vectors=vectors,
        episode=ep_ids.astype(np.int64),
        time=samples.chunks.time.astype(np.int64),
        progress=(samples.chunks.time / np.maximum(lengths - 1, 1)).astype(np.float32),
        task=np.array([facts[int(e)][0] for e in ep_ids], dtype=np.str_),
        camera_setup=cam_setup,
        chunks=samples.chunks.values.astype(np.float32),
        chunk_mask=samples.chunks.mask.astype(bool),
        dataset=key_path,
        camera=samples.camera,
        chunk_kind=str(st.chunk_kind),
        image_size=int(samples.meta().image_size) if st.image_size is None else int(st.image_size),
        model_id=run.model_id,
    )
    if cache_file is not None:
        emb.save(cache_file)
    return emb


def load_frames(embeddings: Embeddings, idx: npt.ArrayLike, *, source: Dataset | Sequence[Episode] | None = None) -> np.ndarray:
    """The RGB images ``(k, H, W, 3) uint8`` of rows ``idx`` (for neighbour grids), read from the
    dataset the embeddings came from (or ``source``), at their stored resolution."""
    if source is None:
        if not embeddings.dataset:
            raise ValueError("these embeddings came from in-memory episodes; pass source=")
        source = load_dataset(embeddings.dataset)
    by_index: dict[int, Episode] = {}
    out = []
    for e, t in embeddings.frame_refs(idx):
        if e not in by_index:
            by_index[e] = source.episode(e) if isinstance(source, Dataset) else next(x for x in source if x.index == e)
        ep = by_index[e]
        cam = ep.cameras[embeddings.camera] if embeddings.camera in ep.cameras else next(iter(ep.cameras.values()))
        out.append(np.asarray(cam.rgb[t], dtype=np.uint8))
    return np.stack(out) if out else np.zeros((0, 1, 1, 3), np.uint8)
