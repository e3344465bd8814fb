"""CLAP's VD-VAE networks: an inverse-dynamics encoder and a forward-dynamics decoder over frozen
visual features (paper 001, §III-C2, Alg. 2 lines 11–14).

The inverse encoder reads the feature pair ``(f_t, f_{t+H})`` (and their difference, which a small
model finds hard to form on its own) plus ``Nq + Ne`` learnable register tokens; the register
outputs become the action-relevant latent sequence ``z_{v,a}`` (B, Nq, d_a), sized like the Act-VAE's
latents so it can be quantised with the frozen Act-VAE codebook, and the action-irrelevant sequence
``z_{v,i}`` (B, Ne, d_i) for the environment codebook. The forward decoder predicts
``f̂_{t+H} = f_t + D_fwd(f_t, z_{q,a}, z_{q,i})`` (a residual: most of the future is the present).

Features here are one vector per frame (the frozen image tower's embedding), where the paper uses
DINOv3 patch tokens with factorised spatio-temporal attention (§IV-B); the token layout is the same.
"""

from __future__ import annotations

import torch
from torch import nn

from workbench.models.transformer import Transformer

__all__ = ["ForwardDynamicsDecoder", "InverseDynamicsEncoder"]


class InverseDynamicsEncoder(nn.Module):
    """(f_t, f_{t+H}) (B, C) each -> z_{v,a} (B, Nq, d_a), z_{v,i} (B, Ne, d_i)."""

    def __init__(self, feat_dim: int, width: int, depth: int, heads: int, num_action: int, action_dim: int,
                 num_env: int, env_dim: int) -> None:
        super().__init__()
        self.num_action, self.num_env = num_action, num_env
        self.inp = nn.Linear(feat_dim, width)
        self.frame_pos = nn.Parameter(torch.randn(1, 3, width) * 0.02)  # f_t, f_{t+H}, difference
        self.registers = nn.Parameter(torch.randn(1, num_action + num_env, width) * 0.02)
        self.transformer = Transformer(width, depth, heads)
        self.to_action = nn.Linear(width, action_dim)
        self.to_env = nn.Linear(width, env_dim)

    def forward(self, f_t: torch.Tensor, f_th: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = f_t.shape[0]
        frames = self.inp(torch.stack([f_t, f_th, f_th - f_t], dim=1)) + self.frame_pos  # (B, 3, W)
        x = self.transformer(torch.cat([frames, self.registers.expand(b, -1, -1)], dim=1))  # (B, 3+Nq+Ne, W)
        regs = x[:, 3:]
        return self.to_action(regs[:, : self.num_action]), self.to_env(regs[:, self.num_action :])


class ForwardDynamicsDecoder(nn.Module):
    """(f_t (B, C), z_{q,a} (B, Nq, d_a), z_{q,i} (B, Ne, d_i)) -> f̂_{t+H} (B, C)."""

    def __init__(self, feat_dim: int, width: int, depth: int, heads: int, num_action: int, action_dim: int,
                 num_env: int, env_dim: int) -> None:
        super().__init__()
        self.inp = nn.Linear(feat_dim, width)
        self.from_action = nn.Linear(action_dim, width)
        self.from_env = nn.Linear(env_dim, width)
        self.pos = nn.Parameter(torch.randn(1, 1 + num_action + num_env, width) * 0.02)
        self.query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.transformer = Transformer(width, depth, heads)
        self.out = nn.Linear(width, feat_dim)

    def forward(self, f_t: torch.Tensor, z_a: torch.Tensor, z_i: torch.Tensor) -> torch.Tensor:
        b = f_t.shape[0]
        x = torch.cat([self.inp(f_t)[:, None], self.from_action(z_a), self.from_env(z_i)], dim=1) + self.pos
        x = self.transformer(torch.cat([x, self.query.expand(b, -1, -1)], dim=1))  # (B, 1+Nq+Ne+1, W)
        return f_t + self.out(x[:, -1])
