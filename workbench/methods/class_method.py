"""CLASS: contrastive learning via action-sequence supervision (paper 003, §4.1–4.2, App. B–C).

Positives come from the actions, not the pixels: two observations are a positive pair when the
DTW distance between the action chunks that follow them is below the global K % quantile of all
pairwise distances (§4.1), and each positive is weighted ``w = 1 − CDF(DTW)`` with the empirical
CDF over all anchor-positive distances (§4.2). Both are computed once over every training chunk by
:func:`workbench.dtw.positive_pairs` in :meth:`CLASS.prepare`; a batch then looks its weights up
by sample index.

The encoder is ResNet-18 with GroupNorm and a spatial-softmax head (App. C.1). Each image "serves
as its own anchor, augmented with random cropping and Gaussian noise" (§4.2): we encode two
augmented views of every image, so a batch of B gives 2B embeddings in which the two views of
the same image are positives with weight ``self_weight`` and every DTW weight applies between
all views of the two images. The loss is the soft InfoNCE of Eq. 1 (τ = 0.05, App. C Table 4).

Design-choice switches of Fig. 4: ``hard`` (all positive weights 1, Fig. 4a), ``dtw_horizon``
(how many future steps DTW compares, "up to T = 16", Fig. 4b; ``dtw_window``, a Sakoe–Chiba band,
is a further ablation, not the paper's), ``distance="l2"`` (Euclidean distance between the flattened
chunks instead of DTW, Fig. 4c) and ``quantile`` (K, Fig. 4d; 2.5 % for most tasks in Table 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from workbench.dtw import DTWCost, PositivePairs, positive_pairs
from workbench.losses import soft_info_nce
from workbench.methods.base import Method, MethodConfig, check_resnet_image_size
from workbench.models import ResNetGNConfig, ResNetGNEncoder
from workbench.models.config import check_positive

__all__ = ["CLASS", "CLASSConfig", "ChunkDistance", "augment_images", "l2_distance_matrix"]


class ChunkDistance(str, Enum):
    DTW = "dtw"  # dynamic time warping between chunks (§4.1)
    L2 = "l2"  # Euclidean distance between the flattened chunks (Fig. 4c ablation)


@dataclass(frozen=True)
class CLASSConfig(MethodConfig):
    width_multiplier: float = 1.0  # scales ResNet-18's widths 64..512 (1.0 = ResNet-18)
    num_keypoints: int = 32  # spatial-softmax keypoints
    embed_dim: int = 64  # size of the representation z
    tau: float = 0.05  # soft-InfoNCE temperature (App. C Table 4)
    quantile: float = 2.5  # K: positives are pairs below this percentile of all distances (Table 5)
    distance: ChunkDistance = ChunkDistance.DTW  # DTW, or L2 for the Fig. 4c ablation
    dtw_horizon: int | None = None  # DTW over the first h steps of each chunk; None = all (App. B: 16; Fig. 4b varies it)
    dtw_window: int | None = None  # Sakoe–Chiba band radius in steps; None = unconstrained (an extra ablation)
    dtw_cost: DTWCost = DTWCost.EUCLIDEAN  # step cost ‖a − b‖₂ as written in §4.1
    exclude_same_episode_within: int | None = None  # drop same-episode pairs this close in time
    sample_pairs: int | None = None  # estimate the K % threshold from this many random pairs (large N, App. B)
    hard: bool = False  # every positive weighs 1 (the hard-positive ablation, Fig. 4a)
    self_weight: float = 1.0  # weight of the other augmented view of the same image
    crop_pad: int = 4  # random shift: pad by this many pixels (replicate) and crop back; 0 = off
    noise_std: float = 0.02  # std of the Gaussian pixel noise on [0, 1] images; 0 = off

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # ~40 K parameters; a step on 16 images (32 views) of 64 px takes ~0.05 s on one core
        "smoke": dict(width_multiplier=0.125, num_keypoints=8, embed_dim=32, crop_pad=2),
        "sample": dict(width_multiplier=0.25, num_keypoints=16, embed_dim=64, crop_pad=4),
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "distance", ChunkDistance(self.distance))
        object.__setattr__(self, "dtw_cost", DTWCost(self.dtw_cost))
        check_positive(self, width_multiplier=self.width_multiplier, num_keypoints=self.num_keypoints,
                       embed_dim=self.embed_dim, tau=self.tau)
        if not 0.0 < self.quantile <= 100.0:
            raise ValueError(f"CLASSConfig.quantile is K in percent and must be in (0, 100], got {self.quantile!r}")
        if self.dtw_horizon is not None and self.dtw_horizon < 1:
            raise ValueError(f"CLASSConfig.dtw_horizon must be >= 1 or None, got {self.dtw_horizon!r}")
        if self.dtw_window is not None and self.dtw_window < 0:
            raise ValueError(f"CLASSConfig.dtw_window must be >= 0 or None, got {self.dtw_window!r}")
        if self.exclude_same_episode_within is not None and self.exclude_same_episode_within < 0:
            raise ValueError(f"CLASSConfig.exclude_same_episode_within must be >= 0 or None, got {self.exclude_same_episode_within!r}")
        if self.sample_pairs is not None and self.sample_pairs < 1:
            raise ValueError(f"CLASSConfig.sample_pairs must be >= 1 or None, got {self.sample_pairs!r}")
        if not 0.0 <= self.self_weight <= 1.0:
            raise ValueError(f"CLASSConfig.self_weight must be in [0, 1], got {self.self_weight!r}")
        if self.crop_pad < 0:
            raise ValueError(f"CLASSConfig.crop_pad must be >= 0, got {self.crop_pad!r}")
        if self.noise_std < 0:
            raise ValueError(f"CLASSConfig.noise_std must be >= 0, got {self.noise_std!r}")


def augment_images(images: torch.Tensor, crop_pad: int, noise_std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random shift (pad-and-crop, DrQ style) and Gaussian noise, per image (CLASS §4.2).

    images (B, C, S, S) uint8 or [0, 1] float -> float (B, C, S, S) in [0, 1].
    """
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    b, _, h, w = x.shape
    if crop_pad:
        padded = F.pad(x, (crop_pad,) * 4, mode="replicate")  # (B, C, S+2p, S+2p)
        dy = torch.randint(0, 2 * crop_pad + 1, (b,), generator=generator, device=x.device)
        dx = torch.randint(0, 2 * crop_pad + 1, (b,), generator=generator, device=x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, S, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, S)
        bi = torch.arange(b, device=x.device)[:, None, None, None]
        ci = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[bi, ci, rows, cols]  # (B, C, S, S)
    if noise_std:
        x = x + noise_std * torch.randn(x.shape, generator=generator, device=x.device)
    return x.clamp(0.0, 1.0)


def l2_distance_matrix(chunks: np.ndarray) -> np.ndarray:
    """(N, H, D) chunks -> (N, N) Euclidean distances between the flattened chunks (Fig. 4c)."""
    flat = np.asarray(chunks, dtype=np.float64).reshape(len(chunks), -1)
    sq = (flat**2).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T
    d = np.sqrt(np.maximum(d2, 0.0))
    np.fill_diagonal(d, 0.0)  # exact zeros where the expansion above leaves rounding noise
    return d


class CLASS(Method):
    name: ClassVar[str] = "class"
    config_class: ClassVar[type[MethodConfig]] = CLASSConfig

    def build(self) -> None:
        cfg: CLASSConfig = self.config  # type: ignore[assignment]
        check_resnet_image_size("CLASS", self.meta.image_size)
        self.encoder = ResNetGNEncoder(ResNetGNConfig(in_channels=self.meta.image_channels,
                                                      width_multiplier=cfg.width_multiplier,
                                                      num_keypoints=cfg.num_keypoints, out_dim=cfg.embed_dim))
        #: set by :meth:`prepare`; not part of the checkpoint (recompute it from the data)
        self.positives: PositivePairs | None = None

    def compute_positives(self, chunks: np.ndarray, episode: np.ndarray | None = None, time: np.ndarray | None = None) -> PositivePairs:
        """Positive pairs and soft weights over all training chunks (N, H, D) (§4.1–4.2)."""
        cfg: CLASSConfig = self.config  # type: ignore[assignment]
        excl = cfg.exclude_same_episode_within
        kw: dict[str, Any] = {}
        if excl is not None:
            kw = dict(exclude_same_episode_within=excl, episode_ids=episode, time_index=time)
        if cfg.dtw_horizon is not None:  # Fig. 4b: how much of the future the similarity looks at
            chunks = np.asarray(chunks)[:, : cfg.dtw_horizon]
        if cfg.distance is ChunkDistance.L2:
            data: np.ndarray = l2_distance_matrix(chunks)
        else:
            data = np.asarray(chunks, dtype=np.float64)
            kw.update(window=cfg.dtw_window, cost=cfg.dtw_cost.value)
        return positive_pairs(data, cfg.quantile, sample_pairs=cfg.sample_pairs, **kw)

    def prepare(self, dataset: Any) -> None:
        """DTW positives over every chunk of the training ``FrameChunkDataset``. The chunks are
        taken un-normalised, as CLASS App. B computes DTW on the actions (ee chunks already carry
        the 0.5 orientation scale)."""
        ch = dataset.chunks
        self.positives = self.compute_positives(ch.values, ch.episode, ch.time)

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """L2-normalised spatial-softmax embedding (B, E); text is ignored."""
        return self.normalize(self.encoder(images.to(self.device)).embedding)

    def batch_weights(self, index: torch.Tensor) -> torch.Tensor:
        """(2B, 2B) weights among the two views of a batch of samples ``index`` (B,)."""
        if self.positives is None:
            raise RuntimeError("CLASS has no positive pairs yet: call prepare(train_dataset) before training")
        w = torch.as_tensor(self.positives.batch_weights(index.cpu().numpy()), dtype=torch.float32)  # (B, B)
        b = w.shape[0]
        own = self.config.self_weight * torch.eye(b)  # type: ignore[attr-defined]
        return torch.cat([torch.cat([w, w + own], 1), torch.cat([w + own, w], 1)], 0).to(self.device)

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        cfg: CLASSConfig = self.config  # type: ignore[assignment]
        b = self.to_device(batch)
        images = b["image"]
        views = torch.cat([augment_images(images, cfg.crop_pad, cfg.noise_std) for _ in range(2)])  # (2B, C, S, S)
        z = self.encode_images(views)  # (2B, E)
        w = self.batch_weights(b["index"])  # (2B, 2B)
        loss = soft_info_nce(z, w, cfg.tau, hard=cfg.hard)
        n = images.shape[0]
        with torch.no_grad():
            dtw_pos = (w[:n, :n] > 0).float().sum(1).mean()
        return {"loss": loss, "dtw_positives_per_anchor": dtw_pos}
