"""Cayley-STRING: relative 3-D position encoding for attention (CLAMP §III-D, App. A Eq. 7–12;
Schenck et al. 2025, "Learning the RoPE(s): better 2D and 3D position encodings with STRING").

A query or key ``x`` of a token at position ``r ∈ R³`` becomes

    x' = P · RoPE(r) · Pᵀ · x                                                   (Eq. 8)

with ``P`` a learnable orthogonal matrix — the Cayley transform ``P = (I − A)⁻¹ (I + A)`` of a
learnable skew-symmetric ``A`` — and ``RoPE(r)`` block-diagonal with ``d/2`` 2×2 rotations by
angles ``δ_k(r) = ω_k · r``, linear in ``r`` with learnable ``ω_k ∈ R³``. Since ``Pᵀ P = I`` and
rotations compose additively, the logit between a query at ``r_i`` and a key at ``r_j`` is

    q'ᵀ k' = (Pᵀ q)ᵀ RoPE(r_j − r_i) (Pᵀ k)                                     (Eq. 9–10)

— it depends on positions only through ``r_j − r_i``. The map is orthogonal (norm-preserving) and
the identity at ``r = 0``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["CayleySTRING", "cayley"]


def cayley(skew_param: torch.Tensor) -> torch.Tensor:
    """``(d, d)`` unconstrained → ``(d, d)`` orthogonal: ``(I − A)⁻¹ (I + A)``, ``A = S − Sᵀ``.

    ``I − A`` is always invertible for skew-symmetric ``A`` (its eigenvalues are ``1 − iλ``)."""
    a = skew_param - skew_param.T
    eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    return torch.linalg.solve(eye - a, eye + a)


class CayleySTRING(nn.Module):
    """``forward(x, r)``: ``x (..., N, head_dim)`` at positions ``r (..., N, 3)`` → ``P RoPE(r) Pᵀ x``.

    Args:
        head_dim: query/key size d (even).
        coord_dim: size of the positions (3 for CLAMP's world XYZ).
        min_wavelength / max_wavelength: the RoPE frequencies ``|ω_k| = 2π / λ_k`` start
            geometrically spaced between these (metres here: 2 cm to 4 m spans a gripper's
            fingers to the whole table), along random directions; both are then learned.
        init_scale: standard deviation of the initial skew-symmetric parameters (0 starts at
            ``P = I``, plain RoPE-Mixed).
        seed: the generator seed for the initial directions (None uses torch's global RNG).
    """

    def __init__(
        self,
        head_dim: int,
        *,
        coord_dim: int = 3,
        min_wavelength: float = 0.02,
        max_wavelength: float = 4.0,
        init_scale: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if head_dim < 2 or head_dim % 2:
            raise ValueError(f"CayleySTRING head_dim must be even and >= 2, got {head_dim}")
        if not 0 < min_wavelength <= max_wavelength:
            raise ValueError(f"need 0 < min_wavelength <= max_wavelength, got {min_wavelength}, {max_wavelength}")
        self.head_dim, self.coord_dim = head_dim, coord_dim
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        k = head_dim // 2
        wavelengths = torch.logspace(math.log10(min_wavelength), math.log10(max_wavelength), k)
        directions = torch.randn(k, coord_dim, generator=g)
        directions = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.frequencies = nn.Parameter(directions * (2 * math.pi / wavelengths)[:, None])  # (d/2, 3): ω_k
        self.skew = nn.Parameter(torch.randn(head_dim, head_dim, generator=g) * init_scale)  # A = S − Sᵀ

    def orthogonal(self) -> torch.Tensor:
        """The current ``P`` ``(d, d)``."""
        return cayley(self.skew)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"x must end in head_dim={self.head_dim}, got shape {tuple(x.shape)}")
        if r.shape[-1] != self.coord_dim or r.shape[-2] != x.shape[-2]:
            raise ValueError(f"r must be (..., N={x.shape[-2]}, {self.coord_dim}), got shape {tuple(r.shape)}")
        P = self.orthogonal().to(x.dtype)
        y = x @ P  # (..., N, d): Pᵀx for row vectors
        theta = r.to(x.dtype) @ self.frequencies.to(x.dtype).T  # (..., N, d/2): δ_k(r) = ω_k · r
        cos, sin = theta.cos(), theta.sin()
        y1, y2 = y[..., 0::2], y[..., 1::2]  # the d/2 Givens planes
        rotated = torch.stack([y1 * cos - y2 * sin, y1 * sin + y2 * cos], dim=-1).flatten(-2)  # RoPE(r)·Pᵀx
        return rotated @ P.T  # P·RoPE(r)·Pᵀ·x
