"""Training samples for the methods: one image paired with the action chunk that follows it.

:class:`FrameChunkDataset` turns episodes of any layout into a torch ``Dataset`` whose items are
dicts of tensors, decoding every episode's frames once and keeping them in memory (the sample
datasets are small). It also exposes all its chunks at once (:attr:`FrameChunkDataset.chunks`) so
CLASS can compute DTW positives over the whole training set before training (CLASS §4.1).

Which chunk goes with which image
---------------------------------
CAIP §2.1 / App. C.3 pairs "an image at time t0 with the subsequent action chunk spanning
t0+1, …, t0+T". We keep one sample per base step ``t`` (every ``stride`` steps) and pair the image
at ``t`` with:

* **hand** chunks: the chunk with base ``t``, which already holds the poses at ``t+1 … t+H``
  relative to the pose at ``t`` (:func:`workbench.data.chunks.hand_chunks`);
* **raw** chunks: the actions ``a_t … a_{t+H-1}``. Action ``a_t`` is the command issued after
  observing frame ``t`` and moves the robot to its state at ``t+1``, so these actions *are* the
  motion over ``t+1 … t+H`` — the usual behaviour-cloning pairing, and CAIP's;
* **ee** chunks: the end-effector poses ``t+1 … t+H`` (the chunk with base ``t+1``), because the
  pose at ``t`` is what the image already shows; with end-effector control the commanded target
  at ``t`` is approximately the pose reached at ``t+1``, so this matches the raw pairing.

A sample whose chunk has no valid step (the last frame of an episode for hand and ee chunks) is
dropped. The validity ``mask`` is False on padded steps past the episode end (CAIP App. C.1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset as TorchDataset

from workbench.data.chunks import ChunkKind, Chunks, episode_chunks
from workbench.data.dataset import Dataset
from workbench.data.normalize import NormStats
from workbench.data.text import build_vocab
from workbench.types import Episode

__all__ = ["FrameChunkDataset", "SampleMeta", "collate", "default_text", "make_action_history"]


def default_text(ep: Episode, t: int) -> str:
    """The episode's instruction, or its task name when it has none (CAIP App. C.1)."""
    return ep.instruction or ep.task


@dataclass(frozen=True)
class SampleMeta:
    """What a method needs to know about the samples to build its networks (JSON-able)."""

    chunk_kind: str  # "raw", "ee" or "hand"
    horizon: int  # chunk length H
    chunk_dim: int  # per-step chunk size D
    action_dim: int  # raw action size A (what the history holds)
    history: int  # CLAMP history length h (0 = none)
    image_size: int  # side of the square images the samples carry (of each view for tiled views)
    image_channels: int  # 3 for RGB
    vocab: tuple[str, ...]  # word vocabulary of every sample's text (WordTokenizer order)
    tasks: tuple[str, ...]  # task names; task_id indexes this
    camera: str  # which camera the images come from

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["vocab"], d["tasks"] = list(self.vocab), list(self.tasks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampleMeta:
        d = dict(d)
        d["vocab"], d["tasks"] = tuple(d["vocab"]), tuple(d["tasks"])
        return cls(**d)


def _resize(frames: np.ndarray, size: int | None, mode: str) -> torch.Tensor:
    """(T, H, W[, C]) array -> (T, C, size, size) tensor in the input dtype's range."""
    # a copy: decoders may hand out read-only buffers, and the episode (with its decode cache)
    # is dropped once its frames are held here
    x = torch.from_numpy(np.array(frames, copy=True))
    if x.ndim == 3:
        x = x[..., None]
    x = x.permute(0, 3, 1, 2)  # (T, C, H, W)
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x.contiguous()
    dtype = x.dtype
    y = F.interpolate(x.float(), size=(size, size), mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    if dtype == torch.uint8:
        return y.round().clamp(0, 255).to(torch.uint8)
    return y.to(dtype)


def _check_sizes(*, horizon: int, stride: int, history: int, future_offset: int, image_size: int | None) -> None:
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if history < 0:
        raise ValueError(f"history must be >= 0, got {history}")
    if future_offset < 0:
        raise ValueError(f"future_offset must be >= 0, got {future_offset}")
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be >= 1 or None, got {image_size}")


@dataclass(frozen=True)
class _EpisodeSamples:
    """One episode's samples before they are concatenated."""

    pos: int  # position of the episode among the selected ones
    episode: int  # its Episode.index
    starts: np.ndarray  # (n,) image steps
    values: np.ndarray  # (n, H, D) raw chunks
    mask: np.ndarray  # (n, H)
    texts: list[str]
    progress: np.ndarray  # (n,) round(100 t / T)


class FrameChunkDataset(TorchDataset):
    """Image + following action chunk samples from a workbench dataset or a list of episodes.

    Args:
        source: a :class:`workbench.data.Dataset` (any layout) or a sequence of episodes.
        camera: camera name; None takes each episode's first camera.
        chunk_kind: "raw", "ee" or "hand" (see the module docstring for the image pairing).
        horizon: chunk length H.
        stride: one sample every ``stride`` base steps.
        image_size: resize frames to this square side (bilinear); None keeps them.
        episodes: episode indices (``Episode.index``) to use, e.g. a training split; None = all.
        history: CLAMP action-history length (§III-A); 0 for none.
        norm_stats: per-dimension chunk statistics; chunks are normalised when given.
        history_stats: per-dimension statistics for the raw actions in the history.
        with_depth: add ``depth`` (1, H, W) float32 metres (0 = no reading).
        future_offset: when > 0 add ``future_image``, the frame ``future_offset`` steps later
            (clamped to the last frame), for inverse-dynamics models (CLAP §III-C2).
        text_fn: ``(episode, t) -> str`` for each sample's text; the instruction by default.
        image_fn: ``episode -> (T, C, H, W)`` array of per-step images that replace the camera's
            frames as ``image`` (e.g. CLAMP's tiled depth + XYZ views,
            :func:`workbench.data.views.episode_view_images`); taken as they are, not resized.
        chunk_kwargs: passed to the chunk function (e.g. ``relative=True`` for ee chunks).

    Items are dicts: ``image`` (3, S, S) uint8, ``chunk`` (H, D) float32, ``mask`` (H,) bool,
    ``index`` (global sample id), ``episode``, ``time``, ``task_id``, ``progress`` (round(100 t/T)),
    ``text`` (str), and ``history`` (h, A) + ``history_mask`` (h,) when ``history > 0``.
    """

    def __init__(
        self,
        source: Dataset | Sequence[Episode],
        *,
        camera: str | None = "scene",
        chunk_kind: ChunkKind | str = ChunkKind.RAW,
        horizon: int = 16,
        stride: int = 1,
        image_size: int | None = None,
        episodes: Sequence[int] | None = None,
        history: int = 0,
        norm_stats: NormStats | None = None,
        history_stats: NormStats | None = None,
        with_depth: bool = False,
        future_offset: int = 0,
        text_fn: Callable[[Episode, int], str] | None = None,
        image_fn: Callable[[Episode], np.ndarray] | None = None,
        chunk_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.chunk_kind = ChunkKind(chunk_kind)
        _check_sizes(horizon=horizon, stride=stride, history=history, future_offset=future_offset, image_size=image_size)
        self.horizon, self.stride, self.history = horizon, stride, history
        self.image_size, self.with_depth, self.future_offset = image_size, with_depth, future_offset
        self.norm_stats, self.history_stats = norm_stats, history_stats
        self._image_fn = image_fn

        eps = self._select(source, episodes)
        if not eps:
            raise ValueError("no episodes to build samples from")
        self.tasks: tuple[str, ...] = tuple(sorted({ep.task for ep in eps}))
        task_ids = {t: i for i, t in enumerate(self.tasks)}

        self._frames, self._depths, self._actions = [], [], []
        parts, cam_name = [], camera
        for pos, ep in enumerate(eps):
            cam_name = self._load_streams(ep, camera)
            parts.append(self._episode_samples(pos, ep, text_fn or default_text, chunk_kwargs or {}))
        self.camera = cam_name or ""
        self._task_of = [task_ids[ep.task] for ep in eps]
        self._episode_lengths = [len(ep) for ep in eps]
        self._assemble(parts)

    # -- construction steps -----------------------------------------------------------------
    def _load_streams(self, ep: Episode, camera: str | None) -> str:
        """Decode one episode's frames (resized), depth and actions into memory; the camera's name."""
        cam = self._camera(ep, camera)
        if self._image_fn is not None:
            images = np.asarray(self._image_fn(ep))
            if images.ndim != 4 or len(images) != len(ep):
                raise ValueError(f"episode {ep.index}: image_fn gave shape {images.shape}, expected ({len(ep)}, C, H, W)")
            self._frames.append(torch.from_numpy(np.ascontiguousarray(images)))  # (T, C, H, W) as given
        else:
            rgb = cam.rgb.load()
            if len(rgb) != len(ep):
                raise ValueError(f"episode {ep.index}: camera {cam.name!r} has {len(rgb)} frames for {len(ep)} steps")
            self._frames.append(_resize(rgb, self.image_size, "bilinear"))  # (T, 3, S, S) uint8
        if self.with_depth:
            if cam.depth is None:
                raise ValueError(f"episode {ep.index}: camera {cam.name!r} has no depth (with_depth=True)")
            d = _resize(cam.depth.load().astype(np.float32) / 1000.0, self.image_size, "nearest")
            self._depths.append(d)  # (T, 1, S, S) float32 metres
        acts = np.array(ep.actions, dtype=np.float32, copy=True)
        if self._actions and acts.shape[1] != self._actions[0].shape[1]:
            raise ValueError(f"episode {ep.index}: action size {acts.shape[1]} differs from the first episode's {self._actions[0].shape[1]}")
        if self.history_stats is not None:
            acts = self.history_stats.normalize(acts)
        self._actions.append(torch.from_numpy(acts))
        return cam.name

    def _episode_samples(self, pos: int, ep: Episode, text_fn: Callable[[Episode, int], str],
                         chunk_kwargs: dict[str, Any]) -> _EpisodeSamples:  # fmt: skip
        """One sample every ``stride`` steps: the image step, its chunk (see the module docstring
        for the pairing), its text and progress; samples whose chunk has no valid step are dropped."""
        T = len(ep)
        offset = 1 if self.chunk_kind is ChunkKind.EE else 0
        # ee: chunk base t+1 for image t, i.e. compute on the stream shifted by one step
        c, m = episode_chunks(ep, self.chunk_kind, self.horizon, 1, **chunk_kwargs)  # (T, H, D)
        starts = np.arange(0, T, self.stride)
        base = starts + offset
        keep = base < T
        starts, base = starts[keep], base[keep]
        c, m = c[base], m[base]
        has_valid = m.any(axis=1)
        starts, c, m = starts[has_valid], c[has_valid], m[has_valid]
        return _EpisodeSamples(pos, ep.index, starts, c, m, [text_fn(ep, int(t)) for t in starts],
                               np.round(100.0 * starts / T).astype(np.int64))  # fmt: skip

    def _assemble(self, parts: list[_EpisodeSamples]) -> None:
        """Concatenate the episodes' samples; chunks stay raw in :attr:`chunks`, normalised in the items."""
        raw = np.concatenate([p.values for p in parts]).astype(np.float32)  # (N, H, D)
        mask = np.concatenate([p.mask for p in parts])
        self._ep_pos = np.concatenate([np.full(len(p.starts), p.pos) for p in parts])
        times_all = np.concatenate([p.starts for p in parts]).astype(np.int64)
        ep_idx = np.concatenate([np.full(len(p.starts), p.episode) for p in parts]).astype(np.int64)
        #: every sample's chunk, un-normalised, with its episode and image step — what DTW sees
        self.chunks = Chunks(raw, mask, ep_idx, times_all, self.chunk_kind.value)
        normed = self.norm_stats.normalize(raw) if self.norm_stats is not None else raw
        self._chunk_t = torch.from_numpy(np.ascontiguousarray(normed, dtype=np.float32))
        self._mask_t = torch.from_numpy(mask)
        self._progress = np.concatenate([p.progress for p in parts])
        self.texts: list[str] = [t for p in parts for t in p.texts]

    # -- construction helpers ---------------------------------------------------------------
    @staticmethod
    def _select(source: Dataset | Sequence[Episode], episodes: Sequence[int] | None) -> list[Episode]:
        if isinstance(source, Dataset):
            if episodes is None:
                return list(source)
            return [source.episode(int(i)) for i in episodes]
        eps = list(source)
        if episodes is None:
            return eps
        wanted = {int(i) for i in episodes}
        missing = wanted - {ep.index for ep in eps}
        if missing:
            raise ValueError(f"episodes {sorted(missing)} are not among the given episodes")
        return [ep for ep in eps if ep.index in wanted]

    @staticmethod
    def _camera(ep: Episode, camera: str | None):
        if not ep.cameras:
            raise ValueError(f"episode {ep.index} has no camera")
        if camera is None:
            return next(iter(ep.cameras.values()))
        if camera not in ep.cameras:
            raise ValueError(f"episode {ep.index} has no camera {camera!r}; it has {sorted(ep.cameras)} (or pass camera=None)")
        return ep.cameras[camera]

    # -- the torch Dataset surface ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} is out of range (0..{len(self) - 1})")
        pos = int(self._ep_pos[i])
        t = int(self.chunks.time[i])
        item: dict[str, Any] = {
            "image": self._frames[pos][t],  # (3, S, S) uint8
            "chunk": self._chunk_t[i],  # (H, D)
            "mask": self._mask_t[i],  # (H,)
            "index": torch.tensor(i, dtype=torch.long),
            "episode": torch.tensor(int(self.chunks.episode[i]), dtype=torch.long),
            "time": torch.tensor(t, dtype=torch.long),
            "task_id": torch.tensor(self._task_of[pos], dtype=torch.long),
            "progress": torch.tensor(int(self._progress[i]), dtype=torch.long),
            "text": self.texts[i],
        }
        if self.with_depth:
            item["depth"] = self._depths[pos][t]  # (1, S, S)
        if self.future_offset:
            t_future = min(t + self.future_offset, self._episode_lengths[pos] - 1)
            item["future_image"] = self._frames[pos][t_future]
        if self.history:
            hist, hmask = make_action_history(self._actions[pos], t, self.history)
            item["history"], item["history_mask"] = hist, hmask
        return item

    # -- what methods need ------------------------------------------------------------------
    @property
    def chunk_dim(self) -> int:
        return self.chunks.dim

    @property
    def action_dim(self) -> int:
        return int(self._actions[0].shape[1])

    def meta(self) -> SampleMeta:
        """The facts a method needs to size its networks, including the text vocabulary."""
        vocab = build_vocab(self.texts)
        s = int(self._frames[0].shape[-2])  # the height: tiled views are (S, V·S)
        return SampleMeta(
            chunk_kind=self.chunk_kind.value,
            horizon=self.horizon,
            chunk_dim=self.chunk_dim,
            action_dim=self.action_dim,
            history=self.history,
            image_size=s,
            image_channels=int(self._frames[0].shape[1]),
            vocab=tuple(vocab),
            tasks=self.tasks,
            camera=self.camera,
        )


def make_action_history(actions: torch.Tensor, t: int, history: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CLAMP's action history A_t = (a_{t-1}, ..., a_{t-H}) (§III-A), zero-padded before the
    episode start.

    Args:
        actions: one episode's actions (T_ep, A_d).
        t: current step; the history holds steps strictly before it.
        history: H.

    Returns:
        history (H, A_d), most recent first as in the paper, and its validity mask (H,) bool.
    """
    if actions.ndim != 2:
        raise ValueError(f"actions must be (T_ep, A_d), got {tuple(actions.shape)}")
    if history < 1:
        raise ValueError(f"history must be >= 1, got {history}")
    if not 0 <= t <= actions.shape[0]:
        raise ValueError(f"t must be in [0, {actions.shape[0]}], got {t}")
    out = actions.new_zeros(history, actions.shape[1])
    mask = torch.zeros(history, dtype=torch.bool, device=actions.device)
    n = min(history, t)
    if n:
        out[:n] = actions[t - n : t].flip(0)
        mask[:n] = True
    return out, mask


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors along a new batch axis; strings stay a list (the text encoders tokenise)."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    out: dict[str, Any] = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        if isinstance(vals[0], torch.Tensor):
            out[key] = torch.stack(vals)
        elif isinstance(vals[0], str):
            out[key] = list(vals)
        else:
            out[key] = torch.as_tensor(vals)
    return out
