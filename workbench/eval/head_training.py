"""Policy heads trained on a run's image encoder, frozen or fine-tuned (CAIP §2.3).

Two heads predict the **raw** action chunk that follows an image (normalised per dimension with
statistics of the training split's raw chunks, un-normalised for execution):

* ``mlp`` — :class:`~workbench.models.heads.MLPChunkHead`, masked L1 (or MSE) regression;
* ``flow`` — :class:`~workbench.models.heads.FlowMatchingHead`: CAIP §2.3 "predicts the velocity
  field" of a flow from noise to the chunk and integrates it with Euler steps at inference. The
  loss here is the head's flow-matching MSE restricted to valid steps (padding past an episode's
  end is not a target).

Embeddings are standardised per dimension (training-split mean and std, kept with the head)
before the head sees them: contrastive embeddings live on the unit sphere and a briefly trained
encoder's vary by ~1e-2 per dimension, which an MLP with default initialisation barely resolves.

With ``unfreeze=False`` image embeddings are computed once and only the head trains (a probe of
the representation). With ``unfreeze=True`` a copy of the method is fine-tuned end to end with a
smaller learning rate; the run's own weights are never changed. Heads are saved as one
safetensors file under ``RUN/eval/heads/`` with their config and statistics in the header.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from workbench.atomic import atomic_path
from workbench.data.normalize import NormStats
from workbench.data.training_samples import collate
from workbench.eval.features import SplitData, raw_stats
from workbench.methods.base import masked_regression_loss
from workbench.models.heads import FlowMatchingHead, FlowMatchingHeadConfig, MLPChunkHead, MLPChunkHeadConfig, sample_flow_time
from workbench.tensorfile import read_metadata

__all__ = ["HEAD_FORMAT", "HeadConfig", "HeadKind", "TrainedHead", "load_head", "train_head"]

HEAD_FORMAT = "actionlens-head/1"


class HeadKind(str, Enum):
    MLP = "mlp"
    FLOW = "flow"


@dataclass(frozen=True)
class HeadConfig:
    kind: HeadKind = HeadKind.MLP  # mlp regression or flow matching
    steps: int = 500  # optimiser steps
    batch_size: int = 64
    lr: float = 1e-3  # head learning rate (AdamW)
    encoder_lr: float = 1e-4  # encoder learning rate when unfrozen
    weight_decay: float = 1e-4
    unfreeze: bool = False  # fine-tune (a copy of) the encoder too
    hidden: int = 256  # head hidden width
    depth: int = 2  # MLP hidden layers (the flow head uses depth + 1)
    loss: str = "l1"  # the MLP head's regression loss: l1 or mse
    flow_steps: int = 10  # Euler steps when sampling the flow head
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", HeadKind(self.kind))
        for name in ("steps", "batch_size", "hidden", "flow_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"HeadConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.depth < 0:
            raise ValueError(f"HeadConfig.depth must be >= 0, got {self.depth}")
        if not (self.lr > 0 and self.encoder_lr > 0):
            raise ValueError(f"HeadConfig.lr and encoder_lr must be > 0, got {self.lr} and {self.encoder_lr}")
        if self.loss not in ("l1", "mse"):
            raise ValueError(f"HeadConfig.loss must be 'l1' or 'mse', got {self.loss!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        return d


def _images(data: SplitData, idx: npt.NDArray) -> tuple[torch.Tensor, list[str]]:
    b = collate([data.dataset[int(i)] for i in idx])
    return b["image"], b["text"]


@dataclass
class TrainedHead:
    """A head with the encoder it reads (the run's, or a fine-tuned copy) and the chunk statistics."""

    config: HeadConfig
    method: Any  # the encoder, in eval mode
    head: nn.Module
    stats: NormStats  # of the raw action chunks
    feature_mean: torch.Tensor | None = None  # (C,) embedding standardisation, fit on the training split
    feature_std: torch.Tensor | None = None  # (C,)
    losses: list[float] = field(default_factory=list)
    method_name: str = ""

    def condition(self, emb: torch.Tensor) -> torch.Tensor:
        """Standardised embeddings, what the head reads."""
        if self.feature_mean is None or self.feature_std is None:
            return emb
        return (emb - self.feature_mean.to(emb.device)) / self.feature_std.to(emb.device)

    @property
    def device(self) -> torch.device:
        return next(self.head.parameters()).device

    @torch.no_grad()
    def predict_from_embeddings(self, emb: torch.Tensor | npt.NDArray, *, seed: int | Sequence[int] = 0) -> npt.NDArray[np.float32]:
        """(B, C) embeddings -> un-normalised raw chunks (B, H, A); the flow head's noise is seeded:
        one ``seed`` for the batch, or one per row, so a row's chunk does not depend on which other
        rows share its batch (closed-loop batches follow worker timing)."""
        self.head.eval()
        e = torch.as_tensor(np.asarray(emb) if not torch.is_tensor(emb) else emb, dtype=torch.float32).to(self.device)
        e = self.condition(e)
        if self.config.kind is HeadKind.MLP:
            out = self.head(e)
        elif isinstance(seed, int):
            g = torch.Generator(device=self.device).manual_seed(seed)
            out = self.head.sample(e, self.config.flow_steps, generator=g)
        else:
            if len(seed) != e.shape[0]:
                raise ValueError(f"{len(seed)} noise seeds for {e.shape[0]} rows")
            shape = (self.head.config.horizon, self.head.config.action_dim)
            noise = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seed])
            out = self.head.sample(e, self.config.flow_steps, noise=noise.to(self.device))
        return self.stats.unnormalize(out.float().cpu().numpy())

    @torch.no_grad()
    def predict(self, images: torch.Tensor, texts: list[str] | None = None, *, seed: int | Sequence[int] = 0) -> npt.NDArray[np.float32]:
        """images (B, 3, S, S) uint8 -> un-normalised raw chunks (B, H, A)."""
        self.method.eval()
        return self.predict_from_embeddings(self.method.encode_images(images, texts), seed=seed)

    def save(self, path: str | Path) -> Path:
        """One safetensors file: ``head.*`` (and ``encoder.*`` when fine-tuned) + JSON header."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {f"head.{k}": v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        if self.feature_mean is not None and self.feature_std is not None:
            tensors |= {"features.mean": self.feature_mean.detach().cpu().contiguous(),
                        "features.std": self.feature_std.detach().cpu().contiguous()}  # fmt: skip
        if self.config.unfreeze:
            tensors |= {f"encoder.{k}": v.detach().cpu().contiguous() for k, v in self.method.state_dict().items()}
        header = {"format": HEAD_FORMAT, "config": json.dumps(self.config.to_dict()),
                  "head_config": json.dumps(self.head.config.to_dict()), "stats": json.dumps(self.stats.to_dict()),
                  "method": self.method_name}  # fmt: skip
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=header)
        return path


def _build_head(kind: HeadKind, in_dim: int, horizon: int, action_dim: int, cfg: HeadConfig) -> nn.Module:
    if kind is HeadKind.MLP:
        return MLPChunkHead(MLPChunkHeadConfig(in_dim=in_dim, horizon=horizon, action_dim=action_dim, hidden=cfg.hidden,
                                               depth=cfg.depth))  # fmt: skip
    return FlowMatchingHead(FlowMatchingHeadConfig(cond_dim=in_dim, horizon=horizon, action_dim=action_dim,
                                                   hidden=cfg.hidden, depth=cfg.depth + 1, num_steps=cfg.flow_steps))  # fmt: skip


def _flow_loss(head: FlowMatchingHead, action: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor:
    """CLAP Eq. 6 / CAIP §2.3 velocity MSE with x_t = t·a + (1 − t)·ε, over valid steps only."""
    c = head.config
    noise = torch.randn(action.shape, device=action.device, generator=generator)
    t = sample_flow_time(action.shape[0], c.time_sampling, c.beta_alpha, c.beta_beta, c.beta_s,
                         device=action.device, generator=generator)  # fmt: skip
    x_t = t[:, None, None] * action + (1.0 - t[:, None, None]) * noise
    return masked_regression_loss(head.velocity(x_t, t, cond), action - noise, mask, "mse")


def train_head(
    method: Any,
    train: SplitData,
    config: HeadConfig | None = None,
    *,
    embeddings: npt.NDArray | None = None,
    method_name: str = "",
    progress: bool = False,
) -> TrainedHead:
    """Fit a head on ``train`` (the run's training split) to predict normalised raw chunks.

    ``embeddings`` (N, C): the frozen image features of ``train`` if already computed.
    Deterministic on CPU from ``config.seed``.
    """
    cfg = config or HeadConfig()
    device = method.device
    stats = raw_stats(train)
    target = torch.from_numpy(stats.normalize(train.raw)).to(device)  # (N, H, A)
    mask = torch.from_numpy(train.raw_mask).to(device)  # (N, H)
    n, H, A = train.raw.shape
    torch.manual_seed(cfg.seed)
    encoder = copy.deepcopy(method) if cfg.unfreeze else method
    if cfg.unfreeze:
        for p in encoder.parameters():
            p.requires_grad_(True)
        encoder.train()
    if embeddings is None:
        from workbench.eval.features import embed_split

        embeddings = embed_split(method, train).image
    feats = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32, device=device)  # (N, C)
    in_dim = int(feats.shape[1])
    # the fine-tuned encoder drifts from these statistics; they only set the head's input scale
    mu, sd = feats.mean(0), feats.std(0).clamp_min(1e-6)
    head = _build_head(cfg.kind, in_dim, H, A, cfg).to(device)
    groups = [{"params": head.parameters(), "lr": cfg.lr}]
    if cfg.unfreeze:
        groups.append({"params": [p for p in encoder.parameters() if p.requires_grad], "lr": cfg.encoder_lr})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    losses: list[float] = []
    steps = range(cfg.steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"head {cfg.kind.value}", unit="step", leave=False)
    head.train()
    for _ in steps:
        idx = rng.choice(n, size=min(cfg.batch_size, n), replace=False)
        if cfg.unfreeze:
            images, texts = _images(train, idx)
            cond = encoder.encode_images(images, texts)  # (B, C), with gradients
        else:
            cond = feats[idx]
        cond = (cond - mu) / sd
        tgt, m = target[idx], mask[idx]
        if cfg.kind is HeadKind.MLP:
            loss = masked_regression_loss(head(cond), tgt, m, cfg.loss)
        else:
            loss = _flow_loss(head, tgt, m, cond, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    head.eval()
    encoder.eval()
    return TrainedHead(cfg, encoder, head, stats, mu.cpu(), sd.cpu(), losses, method_name)


def load_head(path: str | Path, method: Any) -> TrainedHead:
    """A head saved by :meth:`TrainedHead.save`, on ``method`` (a copy with the fine-tuned encoder
    weights when the head was trained unfrozen)."""
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != HEAD_FORMAT:
        raise ValueError(f"{path}: not an {HEAD_FORMAT} file (format {meta.get('format')!r})")
    cfg = HeadConfig(**json.loads(meta["config"]))
    hc = json.loads(meta["head_config"])
    device = method.device
    head = (MLPChunkHead(MLPChunkHeadConfig(**hc)) if cfg.kind is HeadKind.MLP
            else FlowMatchingHead(FlowMatchingHeadConfig(**hc)))  # fmt: skip
    tensors = load_file(str(path), device=str(device))
    head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    enc = method
    if cfg.unfreeze:
        enc = copy.deepcopy(method)
        enc.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("encoder.")})
    return TrainedHead(cfg, enc.eval(), head.to(device).eval(), NormStats.from_dict(json.loads(meta["stats"])),
                       tensors.get("features.mean"), tensors.get("features.std"), [], meta.get("method", ""))  # fmt: skip
