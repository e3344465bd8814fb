"""What a trained method can embed, as small :class:`typing.Protocol` types.

Every method embeds images (:class:`ImageEmbedder`); some also embed the action chunk that follows
an image (CAIP §2.2, CLAP's Act-VAE: :class:`ActionEmbedder`), the action history before it
(CLAMP §III-A: :class:`HistoryEmbedder`) or an instruction (CLAMP's text tower: :class:`TextEmbedder`).
Consumers ask ``isinstance(method, ActionEmbedder)`` — by type, never by method name or a
``hasattr`` probe — and :func:`action_source` names which action tower a method has.

The protocols are ``runtime_checkable``: a class satisfies one by defining the method, so adding a
method with an action tower needs no registration here.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol, runtime_checkable

import torch

__all__ = ["ActionEmbedder", "ActionSource", "HistoryEmbedder", "ImageEmbedder", "TextEmbedder", "action_source"]


@runtime_checkable
class ImageEmbedder(Protocol):
    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """images (B, 3, S, S) uint8 or [0, 1] float -> L2-normalised (B, C); text-conditioned
        encoders (CAIP's pooling) read ``text``, the others ignore it."""
        ...


@runtime_checkable
class ActionEmbedder(Protocol):
    def encode_actions(self, chunk: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """chunk (B, H, D) normalised as in training, mask (B, H) -> L2-normalised (B, C)."""
        ...


@runtime_checkable
class HistoryEmbedder(Protocol):
    def encode_history(self, history: torch.Tensor) -> torch.Tensor:
        """history (B, h, A), most recent first -> L2-normalised (B, C)."""
        ...


@runtime_checkable
class TextEmbedder(Protocol):
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """B strings -> L2-normalised (B, C)."""
        ...


class ActionSource(str, Enum):
    """Which actions a method's action tower embeds."""

    CHUNK = "chunk"  # the following chunk a_t … a_{t+H-1} (CAIP, CLAP)
    HISTORY = "history"  # the past actions a_{t-1} … a_{t-h} (CLAMP)
    NONE = ""  # no action tower (CLASS and the baselines)


def action_source(method: object) -> ActionSource:
    """:class:`ActionSource` of ``method``: a chunk tower wins over a history tower."""
    if isinstance(method, ActionEmbedder):
        return ActionSource.CHUNK
    if isinstance(method, HistoryEmbedder):
        return ActionSource.HISTORY
    return ActionSource.NONE
