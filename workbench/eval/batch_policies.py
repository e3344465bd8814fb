"""Batched chunk policies for :func:`workbench.eval.parallel.run_parallel_rollouts`.

All take ``(images, obs (B, 39), tasks)`` and return raw action chunks ``(B, H, 4)``: the
environments waiting for a decision are encoded in one forward pass. ``images`` are RGB frames
``(B, S, S, 3)`` uint8, or, for an encoder trained on depth + XYZ virtual views (CLAMP's
``image_input="dxyz"``), those views ``(B, 4, S, V·S)`` float16: such a policy carries the
``views`` its encoder reads (:func:`method_views`) and the rollout computes them at every decision
(:func:`workbench.eval.parallel.make_depth_rig`).

* :class:`StateKNN` — k-NN on the standardised 39-D state (the reference protocol's strong,
  non-visual baseline);
* :class:`EncoderKNN` — CLASS §4.4's non-parametric policy: the query is
  ``ẑ = L2-normalise([proprioception, image feature])`` (:func:`class_query`), neighbours by cosine,
  chunks ensembled with ``softmax(cos / τ_nn)``; ``proprio=None`` is the image-only ablation;
* :class:`HeadPolicy` — a trained policy head (MLP) on the encoder (CLASS §4.4's parametric setting).

Proprioception in metaworld is the first four numbers of the observation: the hand's xyz and the
gripper opening (:data:`PROPRIO_DIMS`); the corpus takes them from the recorded state at each
sample's frame, the rollout from the live observation, so both come from the same source.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.data.views import ViewImages
from workbench.eval.knn import KNNPolicy

__all__ = ["EncoderKNN", "HeadPolicy", "PROPRIO_DIMS", "ProprioNorm", "StateKNN", "TaskCorpus", "class_query", "images_tensor",
           "method_views"]  # fmt: skip

PROPRIO_DIMS = 4  # metaworld observation[:4]: hand xyz, gripper opening


def images_tensor(images: npt.NDArray) -> torch.Tensor:
    """What ``encode_images`` takes: RGB frames (B, S, S, 3) uint8 -> (B, 3, S, S) uint8; virtual
    views, already channels first (B, 4, S, V·S) float16, pass unchanged (as the samples hold them)."""
    a = np.ascontiguousarray(images)
    if a.dtype == np.uint8:
        return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()
    return torch.from_numpy(a)


def method_views(method: Any) -> ViewImages | None:
    """The virtual views ``method``'s image encoder reads (its samples' ``image_fn``), None for RGB."""
    from workbench.methods.base import Method

    if not isinstance(method, Method):
        return None
    fn = type(method).loader_kwargs(method.config).get("image_fn")
    return fn if isinstance(fn, ViewImages) else None


@dataclass(frozen=True)
class ProprioNorm:
    """Per-dimension standardisation of proprioception with the training corpus's statistics."""

    mean: npt.NDArray[np.float64]  # (P,)
    std: npt.NDArray[np.float64]  # (P,)

    @classmethod
    def fit(cls, proprio: npt.ArrayLike) -> ProprioNorm:
        p = np.asarray(proprio, dtype=np.float64)
        sd = p.std(0)
        return cls(p.mean(0), np.where(sd > 1e-8, sd, 1.0))

    def __call__(self, proprio: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return (np.asarray(proprio, dtype=np.float64) - self.mean) / self.std


def class_query(image_features: npt.ArrayLike, proprio: npt.ArrayLike | None = None, norm: ProprioNorm | None = None,
                proprio_weight: float = 1.0) -> npt.NDArray[np.float64]:  # fmt: skip
    """CLASS §4.4's ẑ: the L2-normalised concatenation of proprioception and the image feature.

    The paper does not say how the two parts are scaled before the concatenation; here the image
    feature is L2-normalised (unit length, as cosine retrieval sees it) and proprioception is
    standardised with ``norm`` and divided by √P, so each part weighs about one and
    ``proprio_weight`` scales proprioception's share. ``proprio=None`` gives the image-only query.
    """
    f = np.atleast_2d(np.asarray(image_features, dtype=np.float64))
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    if proprio is None:
        return f
    p = np.atleast_2d(np.asarray(proprio, dtype=np.float64))
    p = norm(p) if norm is not None else p
    z = np.concatenate([proprio_weight * p / np.sqrt(p.shape[1]), f], axis=1)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


class TaskCorpus:
    """One k-NN corpus, or one per task: with ``sample_tasks`` a query of task ``t`` retrieves only
    among task ``t``'s samples (the task is known at evaluation: it is the instruction). Pooled
    retrieval also tests that the representation tells tasks apart, but in metaworld it sends
    pick-place to push's neighbours (same puck layout) whatever the representation (reference
    protocol), which hides the differences a comparison looks for."""

    def __init__(self, knn: KNNPolicy, z: npt.ArrayLike, chunks: npt.ArrayLike, mask: npt.ArrayLike,
                 sample_tasks: Sequence[str] | None = None) -> None:  # fmt: skip
        import copy

        z, chunks, mask = np.asarray(z), np.asarray(chunks), np.asarray(mask)
        if sample_tasks is None:
            self.pooled: KNNPolicy | None = knn.fit(z, chunks, mask)
            self.by_task: dict[str, KNNPolicy] = {}
        else:
            labels = np.asarray(sample_tasks)
            self.pooled = None
            self.by_task = {t: copy.deepcopy(knn).fit(z[labels == t], chunks[labels == t], mask[labels == t])
                            for t in sorted(set(labels.tolist()))}  # fmt: skip

    def predict(self, z: npt.NDArray, tasks: Sequence[str]) -> npt.NDArray[np.float32]:
        if self.pooled is not None:
            return self.pooled.predict(z).chunks
        out: list[Any] = [None] * len(z)
        for t in sorted(set(tasks)):
            if t not in self.by_task:
                raise ValueError(f"no corpus samples of task {t!r}; the corpus has {sorted(self.by_task)}")
            rows = [i for i, x in enumerate(tasks) if x == t]
            for i, c in zip(rows, self.by_task[t].predict(z[rows]).chunks):
                out[i] = c
        return np.stack(out)


class StateKNN:
    """k-NN on the standardised state: the reference protocol's non-visual baseline."""

    def __init__(self, corpus: TaskCorpus, norm: ProprioNorm) -> None:
        self.corpus, self.norm = corpus, norm

    @classmethod
    def fit(cls, states: npt.ArrayLike, chunks: npt.ArrayLike, mask: npt.ArrayLike, knn: KNNPolicy,
            sample_tasks: Sequence[str] | None = None) -> StateKNN:  # fmt: skip
        norm = ProprioNorm.fit(states)
        return cls(TaskCorpus(knn, norm(states), chunks, mask, sample_tasks), norm)

    def __call__(self, images: npt.NDArray, obs: npt.NDArray, tasks: Sequence[str]) -> npt.NDArray:
        return self.corpus.predict(self.norm(obs), tasks)


def _texts(texts: Mapping[str, str], tasks: Sequence[str]) -> list[str]:
    return [texts.get(t, "") for t in tasks]


class EncoderKNN:
    """CLASS §4.4 in closed loop: encode the batch of images, query with ẑ, ensemble the chunks."""

    def __init__(self, method: Any, corpus: TaskCorpus, texts: Mapping[str, str], norm: ProprioNorm | None = None,
                 proprio_weight: float = 1.0) -> None:  # fmt: skip
        self.method, self.corpus, self.texts, self.norm, self.proprio_weight = method, corpus, dict(texts), norm, proprio_weight
        self.views = method_views(method)

    @classmethod
    def fit(cls, method: Any, features: npt.ArrayLike, chunks: npt.ArrayLike, mask: npt.ArrayLike, knn: KNNPolicy,
            texts: Mapping[str, str], proprio: npt.ArrayLike | None = None, proprio_weight: float = 1.0,
            sample_tasks: Sequence[str] | None = None) -> EncoderKNN:  # fmt: skip
        """A corpus of training samples: image features (N, C), proprioception (N, P) or None for the
        image-only ablation, raw chunks (N, H, A) and their mask; ``sample_tasks`` (N,) splits it
        per task (:class:`TaskCorpus`)."""
        norm = ProprioNorm.fit(proprio) if proprio is not None else None
        z = class_query(features, proprio, norm, proprio_weight)
        return cls(method, TaskCorpus(knn, z, chunks, mask, sample_tasks), texts, norm, proprio_weight)

    @torch.no_grad()
    def features(self, images: npt.NDArray, tasks: Sequence[str]) -> npt.NDArray[np.float64]:
        self.method.eval()
        return self.method.encode_images(images_tensor(images), _texts(self.texts, tasks)).float().cpu().numpy()

    def __call__(self, images: npt.NDArray, obs: npt.NDArray, tasks: Sequence[str]) -> npt.NDArray:
        f = self.features(images, tasks)
        proprio = np.asarray(obs)[:, :PROPRIO_DIMS] if self.norm is not None else None
        return self.corpus.predict(class_query(f, proprio, self.norm, self.proprio_weight), tasks)


class HeadPolicy:
    """A trained MLP head on the encoder (the parametric setting)."""

    def __init__(self, head: Any, texts: Mapping[str, str]) -> None:
        self.head, self.texts = head, dict(texts)
        self.views = method_views(head.method)

    def __call__(self, images: npt.NDArray, obs: npt.NDArray, tasks: Sequence[str]) -> npt.NDArray:
        # a flow head's noise is seeded by each row's state, so an episode's rollout does not depend
        # on which other environments happened to share its batch
        seeds = [zlib.crc32(np.ascontiguousarray(o).tobytes()) for o in np.asarray(obs)]
        return self.head.predict(images_tensor(images), _texts(self.texts, tasks), seed=seeds)
