"""A small autoregressive token policy: image + instruction -> a sequence of action tokens
(CLAP-NTP, paper 001 §III-D, Alg. 3, Eq. 5), the stand-in for the paper's Qwen3-VL.

Sequence: ``[image patch tokens | instruction word tokens | BOS, y_1, …, y_{L-1}]``. The prefix
(image + text) attends to itself in both directions; each action position attends to the prefix and
to the positions before it (a prefix-LM mask), and the output at position ℓ gives the logits of
``y_ℓ`` over the Act-VAE codebook, ``P_θ(y_ℓ | y_<ℓ, o_t, I)``. The hidden state at BOS summarises
the context and is the representation ``h_t`` the RF head is conditioned on (§III-E1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.models.config import ModelConfig, check_heads, check_positive
from workbench.models.transformer import Transformer
from workbench.models.vision import ViTConfig, ViTEncoder

__all__ = ["TokenPolicy", "TokenPolicyConfig", "TokenPolicyOutput", "reverse_kl", "token_nll"]


@dataclass(frozen=True)
class TokenPolicyConfig(ModelConfig):
    image_size: int = 64  # square side of the images
    in_channels: int = 3
    patch_size: int = 8  # ViT patch
    vision_depth: int = 1  # ViT blocks before the joint transformer
    vocab_size: int = 2  # instruction word vocabulary (with padding)
    max_text: int = 16  # instruction tokens kept
    num_codes: int = 256  # K, the Act-VAE codebook size
    seq_len: int = 16  # L_y = N_q action tokens per chunk
    width: int = 64
    depth: int = 2  # joint transformer blocks
    heads: int = 4

    def __post_init__(self) -> None:
        check_positive(self, image_size=self.image_size, in_channels=self.in_channels, patch_size=self.patch_size,
                       vision_depth=self.vision_depth, vocab_size=self.vocab_size, max_text=self.max_text,
                       num_codes=self.num_codes, seq_len=self.seq_len, width=self.width, depth=self.depth, heads=self.heads)
        check_heads(self)


@dataclass(frozen=True)
class TokenPolicyOutput:
    logits: torch.Tensor  # (B, L, K): position ℓ predicts y_ℓ
    context: torch.Tensor  # (B, W): the hidden state at BOS (h_t for the RF head)


class TokenPolicy(nn.Module):
    def __init__(self, config: TokenPolicyConfig) -> None:
        super().__init__()
        self.config = cfg = config
        self.vit = ViTEncoder(ViTConfig(image_size=cfg.image_size, patch_size=cfg.patch_size, in_channels=cfg.in_channels,
                                        width=cfg.width, depth=cfg.vision_depth, heads=cfg.heads))
        self.words = nn.Embedding(cfg.vocab_size, cfg.width)
        self.text_pos = nn.Parameter(torch.randn(1, cfg.max_text, cfg.width) * 0.02)
        self.codes = nn.Embedding(cfg.num_codes + 1, cfg.width)  # the last id is BOS
        self.code_pos = nn.Parameter(torch.randn(1, cfg.seq_len, cfg.width) * 0.02)
        self.kind = nn.Parameter(torch.randn(3, cfg.width) * 0.02)  # image / text / action segment
        self.transformer = Transformer(cfg.width, cfg.depth, cfg.heads)
        self.head = nn.Linear(cfg.width, cfg.num_codes)

    @property
    def bos(self) -> int:
        return self.config.num_codes

    def shift_right(self, codes: torch.Tensor) -> torch.Tensor:
        """Targets (B, L) -> inputs [BOS, y_1, …, y_{L-1}] (B, L)."""
        bos = torch.full_like(codes[:, :1], self.bos)
        return torch.cat([bos, codes[:, :-1]], dim=1)

    def forward(self, images: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor, codes_in: torch.Tensor) -> TokenPolicyOutput:
        """images (B, C, S, S); text_ids, text_mask (B, T ≤ max_text); codes_in (B, l ≤ L) starting with BOS."""
        cfg = self.config
        b, t, l = images.shape[0], text_ids.shape[1], codes_in.shape[1]
        if t > cfg.max_text or l > cfg.seq_len:
            raise ValueError(f"at most {cfg.max_text} text and {cfg.seq_len} action tokens, got {t} and {l}")
        img = self.vit(images).tokens + self.kind[0]  # (B, N, W)
        txt = self.words(text_ids) + self.text_pos[:, :t] + self.kind[1]  # (B, T, W)
        act = self.codes(codes_in) + self.code_pos[:, :l] + self.kind[2]  # (B, l, W)
        x = torch.cat([img, txt, act], dim=1)  # (B, P + l, W)
        p = img.shape[1] + t
        valid = torch.cat([torch.ones(b, img.shape[1], dtype=torch.bool, device=x.device), text_mask.bool(),
                           torch.ones(b, l, dtype=torch.bool, device=x.device)], dim=1)  # (B, P + l)
        s = p + l
        allowed = torch.ones(s, s, dtype=torch.bool, device=x.device)
        allowed[:p, p:] = False  # the prefix never sees the actions
        allowed[p:, p:] = torch.tril(torch.ones(l, l, dtype=torch.bool, device=x.device))  # causal over the actions
        mask = allowed[None] & valid[:, None, :]  # (B, S, S)
        h = self.transformer(x, mask)
        out = h[:, p:]  # (B, l, W)
        return TokenPolicyOutput(logits=self.head(out), context=out[:, 0])

    def context(self, images: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """h_t: the hidden state at BOS given the image and the instruction (B, W)."""
        bos = torch.full((images.shape[0], 1), self.bos, dtype=torch.long, device=images.device)
        return self(images, text_ids, text_mask, bos).context

    @torch.no_grad()
    def generate(self, images: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """Greedy decoding of L tokens -> codes (B, L)."""
        codes = torch.full((images.shape[0], 1), self.bos, dtype=torch.long, device=images.device)
        for _ in range(self.config.seq_len):
            nxt = self(images, text_ids, text_mask, codes).logits[:, -1].argmax(-1, keepdim=True)
            codes = torch.cat([codes, nxt], dim=1)
        return codes[:, 1:]


def token_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. 5 per sample: ``-Σ_ℓ log P(y_ℓ | y_<ℓ, o_t, I)`` -> (B,). logits (B, L, K), targets (B, L)."""
    return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").sum(1)


def reverse_kl(logits_policy: torch.Tensor, logits_ref: torch.Tensor) -> torch.Tensor:
    """Eq. 7 per sample: ``Σ_ℓ KL(p_policy(·|c_ℓ) || p_ref(·|c_ℓ))`` -> (B,); logits (B, L, K).

    The reverse direction (expectation under the trainable policy) is mode-seeking: the policy may
    drop some of the reference's modes but is penalised for putting mass where the reference has none.
    """
    logp = logits_policy.log_softmax(-1)
    logq = logits_ref.log_softmax(-1)
    return (logp.exp() * (logp - logq)).sum(-1).sum(-1)
