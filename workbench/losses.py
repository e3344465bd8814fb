"""Contrastive and vector-quantisation losses used by the four methods.

Each loss is a small function that does only the loss (open_clip's ``loss.py`` style); the
modules at the bottom hold the learnable SigLIP temperature and bias.

* :func:`siglip_loss` — pairwise sigmoid loss (CAIP App. C.3, SigLIP).
* :func:`info_nce` — CLIP's symmetric cross-entropy.
* :func:`soft_info_nce` — CLASS Eq. 1 (§4.2) with DTW soft weights, and its hard variant.
* :func:`trimodal_siglip` — CLAMP Eq. 1-3 (§III-B).
* :func:`vq_loss` and friends — VQ-VAE codebook / commitment terms (CLAP Eq. 2, Alg. 1).

Distributed training: :func:`gather_features` all-gathers embeddings when ``torch.distributed``
is initialised with more than one process and is the identity otherwise; ``siglip_loss`` /
``info_nce`` / ``trimodal_siglip`` take ``gather=True`` to contrast the local rows against the
global batch, with the positive labels offset by the rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CAIP_INIT_TEMPERATURE",
    "CLAMP_INIT_TEMPERATURE",
    "SIGLIP_INIT_BIAS",
    "SigLIPLoss",
    "TriModalSigLIPLoss",
    "VQLossTerms",
    "codebook_perplexity",
    "codebook_usage",
    "gather_features",
    "info_nce",
    "siglip_loss",
    "siglip_multi_positive_loss",
    "soft_info_nce",
    "straight_through",
    "trimodal_siglip",
    "vq_loss",
    "world_rank_and_size",
]

CAIP_INIT_TEMPERATURE = 1.0 / 0.07  # CAIP App. C.3: t initialised to 1/0.07 ≈ 14.3
CLAMP_INIT_TEMPERATURE = 10.0  # CLAMP §III-B: t = exp(log 10)
SIGLIP_INIT_BIAS = -10.0  # both papers, following SigLIP
MAX_TEMPERATURE = 100.0  # CAIP App. C.3: t clamped at a maximum of 100


# --------------------------------------------------------------------------------------------
# distributed helpers


def world_rank_and_size() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _auto_gather(gather: bool | None) -> bool:
    return world_rank_and_size()[1] > 1 if gather is None else gather


def gather_features(x: torch.Tensor, *, with_grad: bool = False) -> torch.Tensor:
    """All-gather ``x`` (B, ...) from every rank into (world_size * B, ...), rank-major.

    Identity when torch.distributed is not initialised or the world has one process.

    ``with_grad=False`` follows open_clip's ``gather_features`` with the local loss off: the
    gather itself carries no gradient, and the local shard is put back in place so gradients
    flow to this rank's own embeddings only. That is exact when every rank then computes the
    full global loss. ``with_grad=True`` gathers with an autograd-aware all-gather whose
    backward sums the gradient over ranks, so a loss over local rows x global columns (what the
    losses here compute with ``gather=True``) still reaches every shard: each rank's gradient is
    then world_size x the full-batch gradient of the mean loss, and DDP's averaging over ranks
    turns the parameter gradients into exactly the full-batch ones (checked with 2 gloo
    processes against a single-process full batch). All ranks must hold the same batch size.
    """
    rank, world = world_rank_and_size()
    if world == 1:
        return x
    if with_grad:
        return _AllGatherWithGrad.apply(x)
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank] = x
    return torch.cat(parts, dim=0)


class _AllGatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient and returns this rank's slice.

    Written here because ``torch.distributed.nn.functional.all_gather`` is deprecated; the
    backward uses all_reduce + slice rather than reduce_scatter so it also runs on gloo (CPU).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        rank, world = world_rank_and_size()
        ctx.rank, ctx.batch = rank, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)  # (W * B, ...)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.batch : (ctx.rank + 1) * ctx.batch]


def _global_columns(y: torch.Tensor, gather: bool) -> tuple[torch.Tensor, int]:
    """Columns to contrast against and the column of local row 0's positive."""
    if not gather:
        return y, 0
    rank, _ = world_rank_and_size()
    return gather_features(y, with_grad=True), rank * y.shape[0]


# --------------------------------------------------------------------------------------------
# input checks


def _check_pair(x: torch.Tensor, y: torch.Tensor, names: tuple[str, str] = ("x", "y")) -> None:
    for name, t in zip(names, (x, y)):
        if t.ndim != 2:
            raise ValueError(f"{name} must be (B, C) embeddings, got shape {tuple(t.shape)}")
    if x.shape != y.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{names[0]} is an empty batch")


# --------------------------------------------------------------------------------------------
# contrastive losses


def siglip_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    logit_scale: torch.Tensor | float,
    logit_bias: torch.Tensor | float,
    *,
    gather: bool = False,
) -> torch.Tensor:
    """Pairwise sigmoid contrastive loss (CAIP App. C.3; SigLIP, Zhai et al. 2023).

    ``l_ij = t <x_i, y_j> + b``, labels ``y_ij = +1`` on the diagonal and ``-1`` elsewhere, and
    ``L = -(1/B) sum_i sum_j log sigmoid(y_ij l_ij)``. Every pair is an independent binary
    problem, so no normalisation over the batch is needed, which is what lets SigLIP scale.

    Args:
        x, y: L2-normalised embeddings (B, C); row i of x matches row i of y.
        logit_scale: the temperature t itself (already exponentiated).
        logit_bias: the bias b.
        gather: contrast the local x against y gathered from all ranks (labels offset by rank).
    """
    _check_pair(x, y)
    y_all, offset = _global_columns(y, gather)
    b = x.shape[0]
    logits = logit_scale * x @ y_all.T + logit_bias  # (B, B_global)
    labels = -torch.ones_like(logits)
    rows = torch.arange(b, device=x.device)
    labels[rows, rows + offset] = 1.0
    return -F.logsigmoid(labels * logits).sum() / b


def siglip_multi_positive_loss(
    x: torch.Tensor, y: torch.Tensor, logit_scale: torch.Tensor | float, logit_bias: torch.Tensor | float,
    positive: torch.Tensor,
) -> torch.Tensor:
    """SigLIP's sigmoid loss with an explicit (B, B) boolean matrix of positive pairs.

    ``L = -(1/B) sum_ij log sigmoid(y_ij (t <x_i, y_j> + b))`` with ``y_ij = +1`` where
    ``positive[i, j]`` else −1 (Zhai et al. 2023 use the diagonal; with duplicated captions every
    pair with the same caption is a positive). With ``positive = eye(B)`` it equals :func:`siglip_loss`.
    """
    logits = logit_scale * x @ y.T + logit_bias  # (B, B)
    labels = positive.to(logits.dtype) * 2 - 1
    return -F.logsigmoid(labels * logits).sum() / x.shape[0]


def info_nce(
    x: torch.Tensor,
    y: torch.Tensor,
    logit_scale: torch.Tensor | float,
    *,
    gather: bool = False,
) -> torch.Tensor:
    """CLIP's symmetric InfoNCE: mean of the x->y and y->x cross-entropies (Radford et al. 2021).

    Args:
        x, y: L2-normalised embeddings (B, C); row i of x matches row i of y.
        logit_scale: the inverse temperature (already exponentiated).
        gather: contrast local rows against the batch gathered from all ranks.
    """
    _check_pair(x, y)
    y_all, offset = _global_columns(y, gather)
    x_all, _ = _global_columns(x, gather)
    labels = torch.arange(x.shape[0], device=x.device) + offset
    logits_xy = logit_scale * x @ y_all.T  # (B, B_global)
    logits_yx = logit_scale * y @ x_all.T  # (B, B_global)
    return 0.5 * (F.cross_entropy(logits_xy, labels) + F.cross_entropy(logits_yx, labels))


def soft_info_nce(
    z: torch.Tensor,
    weights: torch.Tensor,
    tau: float,
    *,
    hard: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """Soft InfoNCE of CLASS Eq. 1 (§4.2).

    ``S = z z^T / tau``; ``p_ij = exp S_ij / sum_{k != i} exp S_ik`` (the anchor is excluded from
    its own denominator); ``L = -(1/B') sum_i sum_j w_ij log p_ij / sum_j w_ij`` over the B'
    anchors that have at least one positive. Per anchor this equals ``KL(Q||P) + H(Q)`` with
    ``Q = w_i / sum_j w_ij`` (CLASS App. A), so minimising it matches latent similarities to the
    DTW soft weights. The diagonal of ``weights`` is ignored.

    Args:
        z: L2-normalised embeddings (B, C).
        weights: non-negative soft positive weights (B, B), e.g. ``1 - CDF(DTW)`` on positives.
        tau: temperature, > 0.
        hard: replace every positive weight by 1 (the hard-positive ablation of CLASS Fig. 4).
        reduction: ``"mean"`` over anchors with positives, or ``"none"`` for the per-anchor
            losses (B,), 0 for anchors without a positive.
    """
    if z.ndim != 2:
        raise ValueError(f"z must be (B, C) embeddings, got shape {tuple(z.shape)}")
    b = z.shape[0]
    if b < 2:
        raise ValueError(f"z needs at least 2 rows for a contrastive loss, got batch size {b}")
    if weights.shape != (b, b):
        raise ValueError(f"weights must be (B, B) = ({b}, {b}), got {tuple(weights.shape)}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if bool((weights < 0).any()):
        raise ValueError("weights must be non-negative")

    eye = torch.eye(b, dtype=torch.bool, device=z.device)
    w = weights.to(z.dtype).masked_fill(eye, 0.0)
    if hard:
        w = (w > 0).to(z.dtype)
    sim = z @ z.T / tau  # (B, B)
    log_norm = torch.logsumexp(sim.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
    # zero the diagonal so 0 * log p_ii stays finite; w_ii is 0 anyway
    log_p = (sim - log_norm).masked_fill(eye, 0.0)  # (B, B)
    w_sum = w.sum(dim=1)  # (B,)
    has_pos = w_sum > 0
    per_anchor = -(w * log_p).sum(dim=1) / w_sum.clamp_min(torch.finfo(z.dtype).tiny)
    per_anchor = torch.where(has_pos, per_anchor, torch.zeros_like(per_anchor))
    if reduction == "none":
        return per_anchor
    n_anchors = has_pos.sum()
    # a batch without positives contributes a zero loss that is still attached to the graph
    return per_anchor.sum() / n_anchors.clamp_min(1)


def trimodal_siglip(
    img: torch.Tensor,
    txt: torch.Tensor,
    act: torch.Tensor,
    logit_scale: torch.Tensor | float,
    logit_bias: torch.Tensor | float,
    *,
    gather: bool = False,
) -> torch.Tensor:
    """CLAMP's tri-modal SigLIP loss (§III-B, Eq. 1-3): the mean of the image-text,
    image-action and text-action sigmoid losses.

    The paper writes one t and one b for all three pairs, so the scale and bias are shared.
    (Its Eq. 1-3 print ``exp(l (-t x.y + b))``; we follow SigLIP, which it cites, i.e.
    ``exp(-l (t x.y + b))``, the form whose initial b = -10 makes sense.)
    """
    _check_pair(img, txt, ("img", "txt"))
    _check_pair(img, act, ("img", "act"))
    l_it = siglip_loss(img, txt, logit_scale, logit_bias, gather=gather)
    l_ia = siglip_loss(img, act, logit_scale, logit_bias, gather=gather)
    l_ta = siglip_loss(txt, act, logit_scale, logit_bias, gather=gather)
    return (l_it + l_ia + l_ta) / 3.0


class SigLIPLoss(nn.Module):
    """Sigmoid loss with a learnable temperature (log-space, clamped) and bias.

    Defaults are CAIP's (App. C.3: t = 1/0.07, b = -10, t <= 100); :meth:`clamp_init` gives
    CLAMP's (§III-B: t = 10, b = -10).
    """

    def __init__(
        self,
        init_temperature: float = CAIP_INIT_TEMPERATURE,
        init_bias: float = SIGLIP_INIT_BIAS,
        max_temperature: float = MAX_TEMPERATURE,
    ) -> None:
        super().__init__()
        if not init_temperature > 0:
            raise ValueError(f"init_temperature must be > 0, got {init_temperature}")
        if not max_temperature >= init_temperature:
            raise ValueError(
                f"max_temperature ({max_temperature}) must be >= init_temperature "
                f"({init_temperature})"
            )
        self.max_log_temperature = math.log(max_temperature)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(init_temperature)))
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))

    @classmethod
    def caip_init(cls) -> SigLIPLoss:
        return cls(CAIP_INIT_TEMPERATURE, SIGLIP_INIT_BIAS)

    @classmethod
    def clamp_init(cls) -> SigLIPLoss:
        return cls(CLAMP_INIT_TEMPERATURE, SIGLIP_INIT_BIAS)

    @property
    def temperature(self) -> torch.Tensor:
        # clamping in the forward (not in place after the step) keeps the parameter a leaf
        return self.log_temperature.clamp(max=self.max_log_temperature).exp()

    def forward(self, x: torch.Tensor, y: torch.Tensor, gather: bool | None = None) -> torch.Tensor:
        """``gather=None`` gathers across ranks exactly when running distributed (world size > 1),
        so negatives come from the global batch under torchrun without the method knowing."""
        return siglip_loss(x, y, self.temperature, self.bias, gather=_auto_gather(gather))


class TriModalSigLIPLoss(SigLIPLoss):
    """CLAMP's tri-modal loss with one shared learnable t and b (§III-B); CLAMP's init."""

    def __init__(
        self,
        init_temperature: float = CLAMP_INIT_TEMPERATURE,
        init_bias: float = SIGLIP_INIT_BIAS,
        max_temperature: float = MAX_TEMPERATURE,
    ) -> None:
        super().__init__(init_temperature, init_bias, max_temperature)

    def forward(  # type: ignore[override]
        self, img: torch.Tensor, txt: torch.Tensor, act: torch.Tensor, gather: bool | None = None
    ) -> torch.Tensor:
        return trimodal_siglip(img, txt, act, self.temperature, self.bias, gather=_auto_gather(gather))


# --------------------------------------------------------------------------------------------
# vector quantisation (CLAP §III-C1, Eq. 2, Alg. 1; van den Oord et al. 2017)


@dataclass(frozen=True)
class VQLossTerms:
    """The two VQ terms and their weighted sum ``loss = codebook + beta * commitment``."""

    loss: torch.Tensor
    codebook: torch.Tensor
    commitment: torch.Tensor


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """Value of ``z_q`` with the gradient of ``z_e``: the decoder's gradient is copied to the
    encoder across the non-differentiable nearest-neighbour lookup."""
    return z_e + (z_q - z_e).detach()


def vq_loss(z_e: torch.Tensor, z_q: torch.Tensor, beta: float) -> VQLossTerms:
    """``||sg(z_e) - z_q||^2 + beta ||z_e - sg(z_q)||^2`` (CLAP Eq. 2, Alg. 1 line 10).

    The codebook term moves the codes toward the encoder outputs; the commitment term keeps the
    encoder close to its codes. Squared norms are averaged over all elements (as in most VQ-VAE
    code) so the scale does not grow with Nq or the code width. ``z_q`` must be the raw
    codebook vectors, not the straight-through output.
    """
    if z_e.shape != z_q.shape:
        raise ValueError(
            f"z_e and z_q must have the same shape, got {tuple(z_e.shape)} and {tuple(z_q.shape)}"
        )
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    codebook = F.mse_loss(z_q, z_e.detach())
    commitment = F.mse_loss(z_e, z_q.detach())
    return VQLossTerms(loss=codebook + beta * commitment, codebook=codebook, commitment=commitment)


def _code_histogram(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    if num_codes < 1:
        raise ValueError(f"num_codes must be >= 1, got {num_codes}")
    if codes.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"codes must be an integer tensor, got {codes.dtype}")
    flat = codes.reshape(-1).long()
    if flat.numel() == 0:
        raise ValueError("codes is empty")
    if bool((flat < 0).any()) or bool((flat >= num_codes).any()):
        raise ValueError(f"codes must lie in [0, {num_codes}), got min {flat.min()} max {flat.max()}")
    return torch.bincount(flat, minlength=num_codes).to(torch.float32)


def codebook_perplexity(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    """``exp(H(p))`` of the empirical code distribution: the effective number of codes in use
    (1 = collapse, ``num_codes`` = uniform)."""
    p = _code_histogram(codes, num_codes)
    p = p / p.sum()
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return entropy.exp()


def codebook_usage(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Fraction of the codebook used at least once in ``codes``."""
    return (_code_histogram(codes, num_codes) > 0).float().mean()
