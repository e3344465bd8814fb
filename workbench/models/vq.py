"""Vector quantiser with a straight-through estimator and dead-code re-initialisation
(van den Oord et al. 2017; CLAP §III-C1, Alg. 1 line 6).

The loss terms live in :mod:`workbench.losses`; this module owns the codebook and its usage
statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.losses import VQLossTerms, codebook_perplexity, codebook_usage, straight_through, vq_loss

__all__ = ["VQOutput", "VectorQuantizer"]


@dataclass(frozen=True)
class VQOutput:
    z_q: torch.Tensor  # (B, Nq, d) quantised latents with straight-through gradients to z_e
    codes: torch.Tensor  # (B, Nq) long indices into the codebook
    terms: VQLossTerms  # codebook + beta * commitment
    perplexity: torch.Tensor  # () exp entropy of this batch's code histogram
    usage: torch.Tensor  # () fraction of the codebook used in this batch


class VectorQuantizer(nn.Module):
    """Nearest-neighbour codebook lookup.

    Dead codes: in training mode, a code not chosen for ``dead_code_window`` consecutive
    forward passes is re-seeded, at the start of the next pass, from a random row of that pass's
    encoder outputs, so it lands where the data is. The reset happens before the lookup so the
    codebook is never modified after autograd has used it. ``dead_code_window=0`` disables it.
    Under data parallelism the per-rank statistics differ, so disable it or sync the codebook.
    """

    def __init__(self, num_codes: int, code_dim: int, beta: float = 0.25, dead_code_window: int = 0) -> None:
        super().__init__()
        if num_codes < 2:
            raise ValueError(f"num_codes must be >= 2, got {num_codes}")
        if code_dim < 1:
            raise ValueError(f"code_dim must be >= 1, got {code_dim}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if dead_code_window < 0:
            raise ValueError(f"dead_code_window must be >= 0, got {dead_code_window}")
        self.num_codes, self.code_dim, self.beta = num_codes, code_dim, beta
        self.dead_code_window = dead_code_window
        self.codebook = nn.Parameter(torch.empty(num_codes, code_dim).uniform_(-1.0 / num_codes, 1.0 / num_codes))
        # step counter and the step each code was last chosen; buffers so they are checkpointed
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("last_used", torch.zeros(num_codes, dtype=torch.long))

    def lookup(self, z_e: torch.Tensor) -> torch.Tensor:
        """z_e (..., d) -> nearest code indices (...) by Euclidean distance."""
        if z_e.shape[-1] != self.code_dim:
            raise ValueError(f"z_e must end in code_dim={self.code_dim}, got {tuple(z_e.shape)}")
        flat = z_e.detach().reshape(-1, self.code_dim)  # (M, d)
        cb = self.codebook.detach()
        # ||z||^2 - 2 z.e + ||e||^2 without materialising (M, K, d)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ cb.T + cb.pow(2).sum(1)[None]  # (M, K)
        return dist.argmin(dim=1).view(z_e.shape[:-1])

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (...) long -> codebook vectors (..., d)."""
        if codes.dtype != torch.long:
            raise ValueError(f"codes must be long, got {codes.dtype}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.num_codes):
            raise ValueError(f"codes must lie in [0, {self.num_codes})")
        return self.codebook[codes]

    @torch.no_grad()
    def reinit_dead_codes(self, z_e: torch.Tensor) -> int:
        """Re-seed codes unused for ``dead_code_window`` steps from rows of ``z_e``; returns how
        many were re-seeded."""
        if self.dead_code_window == 0:
            return 0
        dead = (self.step - self.last_used) >= self.dead_code_window  # (K,)
        n_dead = int(dead.sum())
        if n_dead == 0:
            return 0
        flat = z_e.detach().reshape(-1, self.code_dim)
        pick = torch.randint(0, flat.shape[0], (n_dead,), device=flat.device)
        self.codebook.data[dead] = flat[pick].to(self.codebook.dtype)
        self.last_used[dead] = self.step
        return n_dead

    def forward(self, z_e: torch.Tensor) -> VQOutput:
        """z_e (B, Nq, d) continuous latents -> quantised latents and codes."""
        if z_e.ndim != 3:
            raise ValueError(f"z_e must be (B, Nq, d), got {tuple(z_e.shape)}")
        if self.training:
            self.reinit_dead_codes(z_e)
        codes = self.lookup(z_e)  # (B, Nq)
        z_q = self.codebook[codes]  # (B, Nq, d)
        if self.training:
            with torch.no_grad():
                self.step += 1
                self.last_used[codes.reshape(-1)] = self.step
        return VQOutput(
            z_q=straight_through(z_e, z_q),
            codes=codes,
            terms=vq_loss(z_e, z_q, self.beta),
            perplexity=codebook_perplexity(codes, self.num_codes),
            usage=codebook_usage(codes, self.num_codes),
        )
