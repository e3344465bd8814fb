"""Optimisers and weight averaging for the training loop: AdamW, LARS and an EMA of the weights.

CLASS App. B (Tables 3–4) trains its encoders with LARS (You et al. 2017, "Large Batch Training of
Convolutional Networks", ref. [39]) at batch 160, learning rate 0.5, momentum 0.9, weight decay
1e-6, 500 warm-up steps then cosine, gradient clipping at norm 0.5 and an EMA of the weights with
power 0.75. CAIP App. C.3 uses AdamW; both are here, chosen by ``optim.name``.

LARS, per parameter tensor ``w`` with gradient ``g`` (the form of the SimCLR / BYOL / Barlow Twins
implementations):

    d = g + λ·w                                  (weight decay folded into the update)
    q = η·‖w‖ / ‖d‖   if ‖w‖ > 0 and ‖d‖ > 0, else 1   (the layer-wise trust ratio)
    v ← μ·v + q·d
    w ← w − lr·v

with η = 0.001. One-dimensional tensors (biases, normalisation scales) take neither the weight
decay nor the trust ratio — they follow plain SGD with momentum, as in those implementations.

EMA (the ``EMAModel`` of diffusers, used by Diffusion Policy, which CLASS builds on): after
optimisation step ``s`` (counting from 1) the averaged weights move towards the live ones with

    decay(s) = 0 if s ≤ 1, else min(max_decay, 1 − (1 + (s − 1))^(−power))

so early steps track the weights closely and the average lengthens as training goes on
(power 0.75: decay 0.41 at s = 2, 0.97 at s = 100, 0.995 at s = 1,000).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["EMA", "LARS", "ema_decay", "make_optimizer"]


class LARS(torch.optim.Optimizer):
    """Layer-wise adaptive rate scaling with momentum (You et al. 2017); see the module docstring."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 0.5, momentum: float = 0.9,
                 weight_decay: float = 1e-6, eta: float = 0.001) -> None:  # fmt: skip
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0 or eta <= 0:
            raise ValueError(f"LARS needs lr > 0, 0 <= momentum < 1, weight_decay >= 0, eta > 0; got {lr}, {momentum}, {weight_decay}, {eta}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "eta": eta})

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                d = w.grad
                if w.ndim > 1:
                    d = d.add(w, alpha=group["weight_decay"])
                    wn, dn = torch.linalg.vector_norm(w), torch.linalg.vector_norm(d)
                    one = torch.ones_like(wn)
                    q = torch.where((wn > 0) & (dn > 0), group["eta"] * wn / dn, one)
                    d = d.mul(q)
                state = self.state[w]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(w)
                v = state["momentum_buffer"]
                v.mul_(group["momentum"]).add_(d)
                w.add_(v, alpha=-group["lr"])
        return loss


def make_optimizer(params: list[torch.nn.Parameter], optim) -> torch.optim.Optimizer:
    """The optimiser ``optim.name`` names ("adamw" or "lars") with ``optim``'s settings."""
    params = params or [torch.nn.Parameter(torch.zeros(1))]  # a method with nothing to train
    if optim.name == "lars":
        return LARS(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(params, lr=optim.lr, betas=(optim.beta1, optim.beta2), eps=optim.eps,
                             weight_decay=optim.weight_decay)  # fmt: skip


def ema_decay(step: int, power: float = 0.75, max_decay: float = 0.9999) -> float:
    """The EMA decay after optimisation step ``step`` (from 1); diffusers' schedule, inv_gamma 1."""
    s = step - 1
    if s <= 0:
        return 0.0
    return float(min(max_decay, max(0.0, 1 - (1 + s) ** -power)))


class EMA:
    """An exponential moving average of a module's floating-point state (parameters and buffers)."""

    def __init__(self, module: torch.nn.Module, power: float = 0.75, max_decay: float = 0.9999) -> None:
        if power <= 0:
            raise ValueError(f"EMA power must be > 0, got {power}")
        self.power, self.max_decay = power, max_decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> float:
        """Average in ``module``'s current state after optimisation step ``step``; returns the decay."""
        d = ema_decay(step, self.power, self.max_decay)
        for k, v in module.state_dict().items():
            s = self.shadow[k]
            if s.is_floating_point():
                s.mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                s.copy_(v)
        return d

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:3]}")
        for k in self.shadow:
            self.shadow[k].copy_(state[k])
