"""Saliency of a trained run on chosen frames, every map in one call (what the app's Saliency
page and a notebook need without wiring targets by hand).

* :func:`frame_samples` — the frames as the run saw them in training (its camera, image size,
  chunk kind and normalisation), with their instruction (optionally replaced) and following chunk;
* :func:`saliency_target` — what the gradient maps explain, chosen by what the method has: the
  embedding of the following action chunk (CAIP, CLAP: ``encode_actions``), of the instruction
  (CLAMP: ``encode_text``), else the DTW prototype of the frame's action chunk in image-embedding
  space (CLASS and the baselines; see :func:`~workbench.analysis.saliency.dtw_prototype_target`);
* :func:`run_saliency` — captum maps (:data:`~workbench.analysis.saliency.SALIENCY_METHODS`) and the
  native maps (CAIP text pooling, MAP probe, PCA of patch tokens) with their overlays;
* :func:`randomisation_score` — Adebayo et al.'s model-parameter randomisation check on one map kind.

Text-conditioned encoders (CAIP's pooling) see ``samples.texts`` in every forward, so editing
the instruction changes their maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.analysis.saliency import (
    SALIENCY_METHODS,
    EmbeddingSimilarity,
    action_target,
    attribute,
    clip_and_gamma,
    dtw_prototype_target,
    native_maps,
    overlay_map,
    overlay_rgb,
    randomisation_check,
    text_target,
)
from workbench.data.dataset import Dataset
from workbench.data.training_samples import collate
from workbench.methods.capabilities import ActionEmbedder, TextEmbedder
from workbench.train.run import TrainedRun
from workbench.types import Episode

__all__ = ["FrameSamples", "SaliencyPanel", "NATIVE_MAPS", "frame_samples", "randomisation_score", "run_saliency",
           "saliency_target", "target_kind"]  # fmt: skip

#: native map names, in display order
NATIVE_MAPS = ("text_pooling", "map_probe", "pca")


@dataclass(frozen=True)
class FrameSamples:
    """Frames of a dataset prepared for one run."""

    images: torch.Tensor  # (B, 3, S, S) uint8 at the run's image size
    texts: tuple[str, ...]  # (B,) what the encoder is conditioned on
    chunks: torch.Tensor  # (B, H, D) following chunks, normalised as in training
    masks: torch.Tensor  # (B, H) chunk validity
    refs: tuple[tuple[int, int], ...]  # (episode, time) of each frame

    @property
    def display(self) -> npt.NDArray[np.uint8]:
        """(B, S, S, 3) uint8 for showing and overlaying."""
        return self.images.permute(0, 2, 3, 1).contiguous().numpy()

    def with_text(self, text: str | Sequence[str]) -> FrameSamples:
        texts = (text,) * len(self.refs) if isinstance(text, str) else tuple(text)
        if len(texts) != len(self.refs):
            raise ValueError(f"{len(texts)} texts for {len(self.refs)} frames")
        return replace(self, texts=texts)


def frame_samples(run: TrainedRun, dataset: Dataset | Sequence[Episode], refs: Sequence[tuple[int, int]]) -> FrameSamples:
    """The frames ``refs`` ((episode, time) pairs) of ``dataset`` as ``run`` trained on them
    (:meth:`~workbench.train.run.TrainedRun.samples`, every step of the chosen episodes)."""
    if not refs:
        raise ValueError("no frames chosen")
    eps = sorted({int(e) for e, _ in refs})
    fcd = run.samples(dataset, episodes=eps, stride=1)
    rows = []
    for e, t in refs:
        hit = np.flatnonzero((fcd.chunks.episode == int(e)) & (fcd.chunks.time == int(t)))
        if not hit.size:
            raise ValueError(f"episode {e} has no frame at step {t}")
        rows.append(int(hit[0]))
    b = collate([fcd[i] for i in rows])
    return FrameSamples(b["image"], tuple(b["text"]), b["chunk"].float(), b["mask"].bool(),
                        tuple((int(e), int(t)) for e, t in refs))  # fmt: skip


def target_kind(method: Any) -> str:
    """``"action"``, ``"text"`` or ``"prototype"`` (see the module docstring)."""
    if isinstance(method, ActionEmbedder):
        return "action"
    if isinstance(method, TextEmbedder):
        return "text"
    return "prototype"


def saliency_target(method: Any, samples: FrameSamples, *, embeddings: Any = None, k: int = 8) -> torch.Tensor:
    """(B, C) targets for :class:`EmbeddingSimilarity`. ``embeddings`` (an
    :class:`~workbench.analysis.embeddings.Embeddings` of the dataset under this method) is needed
    for the prototype target: each frame is matched to its own episode's nearest embedded step."""
    kind = target_kind(method)
    if kind == "action":
        return action_target(method, samples.chunks, samples.masks)
    if kind == "text":
        return text_target(method, samples.texts)
    if embeddings is None:
        raise ValueError(f"{type(method).__name__} has no action or text tower: pass embeddings for the DTW prototype target")
    rows = []
    for e, t in samples.refs:
        cand = np.flatnonzero(embeddings.episode == e)
        if not cand.size:
            raise ValueError(f"episode {e} is not in the embeddings")
        rows.append(int(cand[np.abs(embeddings.time[cand] - t).argmin()]))
    return dtw_prototype_target(embeddings.vectors, embeddings.chunks, rows, k=k, episode=embeddings.episode)


@dataclass(frozen=True)
class SaliencyPanel:
    """Maps and overlays by name (captum method or native map), each (B, …) over the frames."""

    maps: dict[str, npt.NDArray[np.float32]]  # name -> (B, h, w) non-negative; absent for "pca"
    overlays: dict[str, npt.NDArray[np.uint8]]  # name -> (B, S, S, 3)
    target: str  # which target the gradient maps explain


def run_saliency(method: Any, samples: FrameSamples, target: torch.Tensor | None, names: Sequence[str], *,
                 n_steps: int = 16, occlusion_window: int | None = None) -> SaliencyPanel:  # fmt: skip
    """Every map of ``names`` (captum method names and/or :data:`NATIVE_MAPS`) for ``samples``.

    Native maps the architecture lacks (a pooling without text, no MAP head) are left out. Gradient
    maps need ``target`` (from :func:`saliency_target`).
    """
    unknown = [n for n in names if n not in SALIENCY_METHODS + NATIVE_MAPS]
    if unknown:
        raise ValueError(f"unknown saliency maps {unknown}; choose from {SALIENCY_METHODS + NATIVE_MAPS}")
    display = samples.display
    texts = list(samples.texts)
    maps: dict[str, np.ndarray] = {}
    overlays: dict[str, np.ndarray] = {}
    grads = [n for n in names if n in SALIENCY_METHODS]
    if grads:
        if target is None:
            raise ValueError("gradient maps need a target")
        f = EmbeddingSimilarity(method, target, texts)
        for n in grads:
            maps[n] = attribute(f, samples.images, n, n_steps=n_steps, window=occlusion_window)
            overlays[n] = np.stack([overlay_map(display[i], maps[n][i]) for i in range(len(display))])
    natives = [n for n in names if n in NATIVE_MAPS]
    if natives:
        nat = native_maps(method, samples.images, texts)
        for n in natives:
            if n not in nat:
                continue
            if n == "pca":
                overlays[n] = np.stack([overlay_rgb(display[i], nat[n], i, alpha=0.85) for i in range(len(display))])
            else:
                maps[n] = np.asarray(nat[n], dtype=np.float32)
                shown = clip_and_gamma(maps[n])  # CAIP App. A.1's display transform
                overlays[n] = np.stack([overlay_map(display[i], shown[i], normalize=False) for i in range(len(display))])
    return SaliencyPanel(maps=maps, overlays=overlays, target=target_kind(method))


def randomisation_score(method: Any, samples: FrameSamples, name: str, *, embeddings: Any = None, steps: int = 2,
                        n_steps: int = 8, seed: int = 0):  # fmt: skip
    """:func:`~workbench.analysis.saliency.randomisation_check` (cascading) for map ``name``.

    Action and text targets are recomputed with each randomised model (the whole explanation
    pipeline is randomised); a prototype target stays that of the trained model.
    """
    if name not in SALIENCY_METHODS + NATIVE_MAPS[:2]:
        raise ValueError(f"the randomisation check needs a scalar map, not {name!r}")
    fixed = saliency_target(method, samples, embeddings=embeddings) if target_kind(method) == "prototype" else None

    def maps(model: Any) -> np.ndarray:
        if name in NATIVE_MAPS:
            return np.asarray(native_maps(model, samples.images, list(samples.texts))[name])
        target = fixed if fixed is not None else saliency_target(model, samples)
        return attribute(EmbeddingSimilarity(model, target, list(samples.texts)), samples.images, name, n_steps=n_steps)

    return randomisation_check(method, maps, name=name, steps=steps, seed=seed)
