"""Policy heads that turn an observation embedding into an action chunk (B, H, A).

* :class:`MLPChunkHead` — direct regression of the whole chunk.
* :class:`FlowMatchingHead` — conditional flow matching (CAIP §2.3; Lipman et al. 2023) in the
  rectified-flow convention of CLAP §III-E1, Eq. 6: ``x_t = t * action + (1 - t) * noise``, so
  t = 0 is pure noise and t = 1 the data; the network predicts the velocity
  ``v = action - noise`` and is trained with MSE. Sampling integrates dx/dt = v from t = 0 to 1
  with Euler steps. Time can be drawn uniformly or, as in CLAP §IV-C2 (after pi0), from
  ``p(t) = Beta((s - t) / s; alpha, beta)``, i.e. ``t = s * (1 - u)``, ``u ~ Beta(alpha, beta)``,
  which with alpha = 1.5, beta = 1 puts more weight on the noisier (small t) end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

from workbench.models.config import ModelConfig, check_positive

__all__ = [
    "FlowMatchingHead",
    "FlowMatchingHeadConfig",
    "MLPChunkHead",
    "MLPChunkHeadConfig",
    "TimeSampling",
    "sample_flow_time",
]


def _mlp(d_in: int, hidden: int, depth: int, d_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.GELU()]
    layers.append(nn.Linear(hidden if depth else d_in, d_out))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class MLPChunkHeadConfig(ModelConfig):
    in_dim: int = 128  # size of the conditioning embedding
    horizon: int = 16  # predicted chunk length H
    action_dim: int = 10  # per-step action size A
    hidden: int = 256  # hidden width
    depth: int = 2  # hidden layers

    def __post_init__(self) -> None:
        check_positive(self, in_dim=self.in_dim, horizon=self.horizon, action_dim=self.action_dim,
                       hidden=self.hidden)
        if self.depth < 0:
            raise ValueError(f"MLPChunkHeadConfig.depth must be >= 0, got {self.depth}")


class MLPChunkHead(nn.Module):
    """embedding (B, in_dim) -> chunk (B, H, A)."""

    def __init__(self, config: MLPChunkHeadConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MLPChunkHeadConfig()
        self.net = _mlp(cfg.in_dim, cfg.hidden, cfg.depth, cfg.horizon * cfg.action_dim)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if embedding.ndim != 2 or embedding.shape[1] != cfg.in_dim:
            raise ValueError(f"embedding must be (B, {cfg.in_dim}), got {tuple(embedding.shape)}")
        return self.net(embedding).view(-1, cfg.horizon, cfg.action_dim)


class TimeSampling(str, Enum):
    UNIFORM = "uniform"  # t ~ U(0, 1)
    BETA = "beta"  # t = s (1 - u), u ~ Beta(alpha, beta) (CLAP §IV-C2, pi0)


def sample_flow_time(
    n: int,
    kind: TimeSampling | str = TimeSampling.UNIFORM,
    alpha: float = 1.5,
    beta: float = 1.0,
    s: float = 0.999,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """n flow times in [0, 1] (t = 1 is data)."""
    kind = TimeSampling(kind)
    if kind is TimeSampling.UNIFORM:
        return torch.rand(n, device=device, generator=generator)
    # torch's Beta sampler takes no generator, so a seed drawn from the generator drives it in a
    # forked CPU RNG: reproducible without touching the global stream
    dist = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(beta)))
    if generator is None:
        u = dist.sample((n,))
    else:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            u = dist.sample((n,))
    return (s * (1.0 - u)).to(device)


def _time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1] (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=t.dtype) / max(half, 1))
    args = (1000.0 * t)[:, None] * freqs[None]  # t scaled like a diffusion step index  # (B, half)
    emb = torch.cat([args.sin(), args.cos()], dim=-1)  # (B, 2*half)
    return F.pad(emb, (0, dim - emb.shape[-1]))


@dataclass(frozen=True)
class FlowMatchingHeadConfig(ModelConfig):
    cond_dim: int = 128  # size of the conditioning embedding
    horizon: int = 16  # chunk length H
    action_dim: int = 10  # per-step action size A
    hidden: int = 256  # hidden width of the velocity MLP
    depth: int = 3  # hidden layers of the velocity MLP
    time_dim: int = 64  # sinusoidal time-embedding size
    time_sampling: TimeSampling = TimeSampling.UNIFORM  # training-time distribution of t
    beta_alpha: float = 1.5  # alpha of the Beta time distribution (CLAP: 1.5)
    beta_beta: float = 1.0  # beta of the Beta time distribution (CLAP: 1.0)
    beta_s: float = 0.999  # s in Beta((s - t) / s); keeps t below s (pi0: 0.999)
    num_steps: int = 10  # Euler steps used by sample()
    gated_skip: bool = False  # add g(t) ⊙ x_t, g linear in the time embedding (see FlowMatchingHead)

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_sampling", TimeSampling(self.time_sampling))
        check_positive(self, cond_dim=self.cond_dim, horizon=self.horizon, action_dim=self.action_dim,
                       hidden=self.hidden, time_dim=self.time_dim, beta_alpha=self.beta_alpha,
                       beta_beta=self.beta_beta, num_steps=self.num_steps)
        if self.depth < 1:
            raise ValueError(f"FlowMatchingHeadConfig.depth must be >= 1, got {self.depth}")
        if not 0.0 < self.beta_s <= 1.0:
            raise ValueError(f"FlowMatchingHeadConfig.beta_s must be in (0, 1], got {self.beta_s}")


class FlowMatchingHead(nn.Module):
    """Velocity network v(x_t, t, cond) over the flattened chunk, with loss and Euler sampler.

    ``gated_skip`` adds a time-gated linear path ``g(t) ⊙ x_t``: given the action, the true velocity
    is affine in ``x_t`` (``v = (action − x_t) / (1 − t)``), which an MLP otherwise has to learn
    through its non-linearities; with it, a small head's loss falls within a few dozen steps.
    """

    def __init__(self, config: FlowMatchingHeadConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FlowMatchingHeadConfig()
        d_chunk = cfg.horizon * cfg.action_dim
        self.net = _mlp(d_chunk + cfg.time_dim + cfg.cond_dim, cfg.hidden, cfg.depth, d_chunk)
        self.gate = nn.Linear(cfg.time_dim, d_chunk) if cfg.gated_skip else None

    def _check_cond(self, cond: torch.Tensor) -> None:
        if cond.ndim != 2 or cond.shape[1] != self.config.cond_dim:
            raise ValueError(f"cond must be (B, {self.config.cond_dim}), got {tuple(cond.shape)}")

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x_t (B, H, A), t (B,) in [0, 1], cond (B, cond_dim) -> v (B, H, A)."""
        b = x_t.shape[0]
        temb = _time_embedding(t.to(x_t.dtype), self.config.time_dim)
        v = self.net(torch.cat([x_t.reshape(b, -1), temb, cond], dim=-1))
        if self.gate is not None:
            v = v + self.gate(temb) * x_t.reshape(b, -1)
        return v.view_as(x_t)

    def loss(
        self,
        action: torch.Tensor,
        cond: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Flow-matching MSE ``||(action - noise) - v(x_t, t, cond)||^2`` (CLAP Eq. 6)."""
        cfg = self.config
        self._check_cond(cond)
        if action.shape != (cond.shape[0], cfg.horizon, cfg.action_dim):
            raise ValueError(
                f"action must be ({cond.shape[0]}, {cfg.horizon}, {cfg.action_dim}), got {tuple(action.shape)}"
            )
        noise = torch.randn(action.shape, device=action.device, dtype=action.dtype, generator=generator)
        t = sample_flow_time(
            action.shape[0], cfg.time_sampling, cfg.beta_alpha, cfg.beta_beta, cfg.beta_s,
            device=action.device, generator=generator,
        ).to(action.dtype)
        x_t = t[:, None, None] * action + (1.0 - t[:, None, None]) * noise
        return F.mse_loss(self.velocity(x_t, t, cond), action - noise)

    @torch.no_grad()
    def sample(
        self,
        cond: torch.Tensor,
        num_steps: int | None = None,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Integrate from noise (t = 0) to an action chunk (t = 1) with Euler steps -> (B, H, A)."""
        cfg = self.config
        self._check_cond(cond)
        steps = cfg.num_steps if num_steps is None else num_steps
        if steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {steps}")
        shape = (cond.shape[0], cfg.horizon, cfg.action_dim)
        if noise is None:
            x = torch.randn(shape, device=cond.device, dtype=cond.dtype, generator=generator)
        elif noise.shape != shape:
            raise ValueError(f"noise must be {shape}, got {tuple(noise.shape)}")
        else:
            x = noise.to(cond.dtype)
        dt = 1.0 / steps
        for i in range(steps):
            t = torch.full((shape[0],), i * dt, device=cond.device, dtype=cond.dtype)
            x = x + dt * self.velocity(x, t, cond)
        return x
