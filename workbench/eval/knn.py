"""The non-parametric k-NN retrieval policy (CLASS §4.4) and offline action errors.

CLASS: encode the current observation, retrieve the ``k_nn`` training samples with the highest
cosine similarity, and ensemble their action sequences with weights ``softmax(c / τ_nn)``,
``c_i = cos(ẑ, ẑ⁽ⁱ⁾)``. The corpus keeps each training sample's **raw** action chunk (the command
stream the simulator executes) whatever chunk kind the encoder was aligned with.

Near an episode's end a neighbour's chunk is padded (its mask is False there). Each step is
averaged over the neighbours valid at that step, with their weights renormalised; a step no
neighbour covers falls back to all of them (padding repeats the last action, so that is "hold").
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.analysis.similarity import top_k
from workbench.eval.results import OfflineError

__all__ = ["KNNConfig", "KNNPolicy", "KNNPrediction", "mean_chunk_prediction", "offline_error", "standardize_state"]


@dataclass(frozen=True)
class KNNConfig:
    k: int = 64  # neighbours (CLASS §4.4: 64); capped by the corpus size
    temperature: float = 0.01  # τ_nn in softmax(cos / τ_nn) (the reference protocol's 0.01)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"KNNConfig.k must be >= 1, got {self.k}")
        if not self.temperature > 0:
            raise ValueError(f"KNNConfig.temperature must be > 0, got {self.temperature}")


@dataclass(frozen=True)
class KNNPrediction:
    chunks: npt.NDArray[np.float32]  # (B, H, A) ensembled chunks
    neighbours: npt.NDArray[np.int64]  # (B, k) corpus indices, most similar first
    weights: npt.NDArray[np.float64]  # (B, k) softmax weights, each row sums to one
    similarity: npt.NDArray[np.float64]  # (B, k) cosine similarities


class KNNPolicy:
    """Cosine top-k over a corpus of (embedding, action chunk) pairs with softmax(sim/τ) ensembling.

    ``fit(embeddings (N, C), chunks (N, H, A), mask (N, H) | None)`` stores the corpus (rows are
    L2-normalised); ``predict(query (B, C))`` returns a :class:`KNNPrediction`. ``k_`` is the
    number of neighbours actually used (``min(k, N)``).

    In closed loop (:mod:`workbench.eval.rollout`) the same policy acts on images:
    :meth:`bind` gives it the run's image encoder and the task's text, after which
    ``policy(image, obs)`` embeds the rendered image and returns the ensembled chunk (CLASS §4.4).
    """

    def __init__(self, config: KNNConfig | None = None) -> None:
        self.config = config or KNNConfig()
        self.encoder: Any = None  # an ImageEmbedder once bound
        self.text = ""

    def bind(self, encoder: Any, text: str = "") -> KNNPolicy:
        """A copy sharing this corpus that acts on images through ``encoder`` (conditioned on ``text``)."""
        bound = copy.copy(self)
        bound.encoder, bound.text = encoder, text
        return bound

    def reset(self) -> None:
        """Start of a rollout episode: nothing to forget."""

    def __call__(self, image: npt.NDArray[np.uint8], obs: npt.NDArray | None = None) -> npt.NDArray[np.float32]:
        """(S, S, 3) uint8 rendered image -> (H, A) chunk; needs :meth:`bind` first."""
        import torch

        from workbench.eval.policies import image_tensor

        if self.encoder is None:
            raise ValueError("bind the policy to an image encoder first (policy.bind(method, text))")
        with torch.no_grad():
            z = self.encoder.encode_images(image_tensor(image), [self.text]).float().cpu().numpy()
        return self.predict(z).chunks[0]

    def fit(self, embeddings: npt.ArrayLike, chunks: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> KNNPolicy:
        emb = np.asarray(embeddings, dtype=np.float64)
        ch = np.asarray(chunks, dtype=np.float32)
        if emb.ndim != 2 or ch.ndim != 3 or len(emb) != len(ch) or len(emb) == 0:
            raise ValueError(f"need embeddings (N, C) and chunks (N, H, A) with the same N > 0, got {emb.shape} and {ch.shape}")
        self.embeddings_ = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        self.chunks_ = ch
        self.mask_ = np.ones(ch.shape[:2], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        self.k_ = int(min(self.config.k, len(emb)))
        return self

    def predict(self, query: npt.ArrayLike) -> KNNPrediction:
        q = np.atleast_2d(np.asarray(query, dtype=np.float64))
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        sim = q @ self.embeddings_.T  # (B, N)
        k = self.k_
        top, top_sim = top_k(sim, k)  # most similar first; ties to the lower corpus index
        logits = top_sim / self.config.temperature
        w = np.exp(logits - logits.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)  # (B, k)
        return KNNPrediction(ensemble(self.chunks_[top], self.mask_[top], w), top.astype(np.int64), w, top_sim)


def ensemble(chunks: npt.NDArray, mask: npt.NDArray, weights: npt.NDArray) -> npt.NDArray[np.float32]:
    """Weighted mean of neighbour chunks (B, k, H, A) per step over the neighbours valid there."""
    w = weights[:, :, None] * mask  # (B, k, H)
    covered = w.sum(1, keepdims=True) > 0  # (B, 1, H)
    w = np.where(covered, w, weights[:, :, None])
    w = w / w.sum(1, keepdims=True)
    return np.einsum("bkh,bkha->bha", w, chunks.astype(np.float64)).astype(np.float32)


def mean_chunk_prediction(chunks: npt.NDArray, mask: npt.NDArray) -> npt.NDArray[np.float32]:
    """The per-step mean training chunk over valid steps (H, A): the blind baseline."""
    m = np.asarray(mask, dtype=np.float64)[..., None]  # (N, H, 1)
    s = (np.asarray(chunks, dtype=np.float64) * m).sum(0)
    c = m.sum(0)
    overall = (np.asarray(chunks, dtype=np.float64) * m).sum((0, 1)) / max(m.sum(), 1.0)
    return np.where(c > 0, s / np.maximum(c, 1.0), overall).astype(np.float32)


def standardize_state(train: npt.NDArray, *others: npt.NDArray) -> list[npt.NDArray[np.float64]]:
    """Per-dimension standardisation with the training statistics (the reference protocol's state
    k-NN); constant dimensions are left centred, not divided by zero."""
    mu = train.mean(0)
    sd = train.std(0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    return [(np.asarray(x, dtype=np.float64) - mu) / sd for x in (train, *others)]


def offline_error(pred: npt.NDArray, target: npt.NDArray, mask: npt.NDArray) -> OfflineError:
    """Mean squared and absolute error over the valid steps and all action dimensions."""
    p = np.broadcast_to(np.asarray(pred, dtype=np.float64), np.shape(target))
    err = p - np.asarray(target, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)[..., None] * np.ones_like(err)
    denom = max(m.sum(), 1.0)
    return OfflineError(float((err**2 * m).sum() / denom), float((np.abs(err) * m).sum() / denom), int(len(target)))
