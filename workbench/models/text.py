"""Offline word tokenizer and a small transformer text encoder (CAIP §2.1, App. C.1, C.2).

No pretrained vocabulary can be downloaded here, so the vocabulary is built from the dataset's
own instructions. Instructions are lower-cased and punctuation is removed (CAIP App. C.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from workbench.data.text import CLS_TOKEN, PAD_TOKEN, SPECIAL_TOKENS, UNK_TOKEN, build_vocab, normalize_instruction
from workbench.models.config import ModelConfig, check_heads, check_positive, check_probability
from workbench.models.transformer import Transformer

__all__ = [
    "CLS_TOKEN",
    "PAD_TOKEN",
    "UNK_TOKEN",
    "TextEncoder",
    "TextEncoderConfig",
    "TextOutput",
    "WordTokenizer",
    "normalize_instruction",
]

_SPECIALS = SPECIAL_TOKENS


class WordTokenizer:
    """Word-level vocabulary with ``<pad>`` = 0, ``<unk>`` = 1, ``<cls>`` = 2.

    ``encode`` puts ``<cls>`` first (the text encoder pools from it, so every row has a valid
    token) and pads on the right.
    """

    def __init__(self, vocab: Sequence[str]) -> None:
        if tuple(vocab[:3]) != _SPECIALS:
            raise ValueError(f"vocab must start with {_SPECIALS}, got {tuple(vocab[:3])}")
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocab has duplicate entries")
        self.vocab: list[str] = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def from_instructions(cls, instructions: Iterable[str], min_count: int = 1) -> WordTokenizer:
        """Vocabulary of every word seen at least ``min_count`` times, most frequent first
        (:func:`workbench.data.text.build_vocab`)."""
        return cls(build_vocab(instructions, min_count))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        return 0

    def encode(self, texts: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ids (B, L) long and mask (B, L) bool (True = real token), L = max_len.

        Instructions longer than ``max_len - 1`` words are truncated.
        """
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, got a single str")
        if max_len < 2:
            raise ValueError(f"max_len must be >= 2 (<cls> plus one word), got {max_len}")
        ids = torch.zeros(len(texts), max_len, dtype=torch.long)
        for row, text in enumerate(texts):
            words = normalize_instruction(text)[: max_len - 1]
            tokens = [self.index[CLS_TOKEN]] + [self.index.get(w, 1) for w in words]
            ids[row, : len(tokens)] = torch.tensor(tokens)
        mask = ids != self.pad_id
        mask[:, 0] = True
        return ids, mask

    def decode(self, ids: torch.Tensor) -> list[str]:
        return [
            " ".join(self.vocab[i] for i in row.tolist() if i not in (0, 2))
            for row in ids
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"vocab": list(self.vocab)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordTokenizer:
        if "vocab" not in data:
            raise ValueError("WordTokenizer.from_dict: missing 'vocab'")
        return cls(data["vocab"])


@dataclass(frozen=True)
class TextEncoderConfig(ModelConfig):
    vocab_size: int = 1000  # size of the tokenizer's vocabulary (WordTokenizer.vocab_size)
    max_len: int = 32  # longest token sequence (learned positions); CAIP uses 64
    width: int = 192  # token width C
    depth: int = 4  # transformer blocks (bidirectional self-attention)
    heads: int = 3  # attention heads; must divide width
    mlp_ratio: float = 4.0  # MLP hidden width / width
    dropout: float = 0.0  # dropout in the blocks
    out_dim: int | None = None  # width of the pooled projection; None keeps width

    def __post_init__(self) -> None:
        check_positive(self, vocab_size=self.vocab_size, max_len=self.max_len, width=self.width,
                       depth=self.depth, heads=self.heads, mlp_ratio=self.mlp_ratio)
        check_probability(self, dropout=self.dropout)
        if self.out_dim is not None:
            check_positive(self, out_dim=self.out_dim)
        check_heads(self)


@dataclass(frozen=True)
class TextOutput:
    tokens: torch.Tensor  # (B, L, C) token features (padded positions are meaningless)
    pooled: torch.Tensor  # (B, out_dim) projection of the <cls> token
    mask: torch.Tensor  # (B, L) bool, True = real token


class TextEncoder(nn.Module):
    """Token embedding + learned positions + pre-norm transformer with padding masked out of
    attention, so real tokens never see padding."""

    def __init__(self, config: TextEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TextEncoderConfig()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.width)
        self.pos = nn.Parameter(torch.randn(1, cfg.max_len, cfg.width) * 0.02)
        self.transformer = Transformer(cfg.width, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        self.proj = nn.Linear(cfg.width, cfg.out_dim or cfg.width)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> TextOutput:
        """ids (B, L) long with <cls> at position 0; mask (B, L) bool, default ids != <pad>."""
        cfg = self.config
        if ids.ndim != 2 or ids.dtype != torch.long:
            raise ValueError(f"ids must be (B, L) long, got {ids.dtype} {tuple(ids.shape)}")
        if ids.shape[1] > cfg.max_len:
            raise ValueError(f"ids has length {ids.shape[1]} > TextEncoderConfig.max_len {cfg.max_len}")
        if mask is None:
            mask = ids != 0
            mask[:, 0] = True
        elif mask.shape != ids.shape or mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool {tuple(ids.shape)}, got {mask.dtype} {tuple(mask.shape)}")
        if not bool(mask[:, 0].all()):
            raise ValueError("mask[:, 0] must be True: position 0 holds <cls>")
        x = self.embed(ids) + self.pos[:, : ids.shape[1]]  # (B, L, C)
        x = self.transformer(x, mask)  # (B, L, C)
        return TextOutput(tokens=x, pooled=self.proj(x[:, 0]), mask=mask)
