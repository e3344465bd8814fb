"""Base class for model configs: a dataclass that round-trips through a JSON-able dict.

Checkpoints store ``config.to_dict()`` next to the weights so :func:`workbench.models.build_model`
can rebuild the module before loading its ``state_dict``.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, TypeVar

__all__ = ["ModelConfig", "check_heads", "check_positive", "check_probability"]

C = TypeVar("C", bound="ModelConfig")


class ModelConfig:
    """Mixin for ``@dataclass(frozen=True)`` configs; subclasses validate in ``__post_init__``."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__}.from_dict: unknown fields {unknown}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)  # dataclass __post_init__ turns enum strings back and validates


def check_positive(owner: object, **values: int | float) -> None:
    """Raise ValueError naming each field of ``owner`` that is not > 0."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{type(owner).__name__}.{name} must be > 0, got {value!r}")


def check_probability(owner: object, **values: float) -> None:
    """Raise ValueError naming each field of ``owner`` outside [0, 1)."""
    for name, value in values.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{type(owner).__name__}.{name} must be in [0, 1), got {value!r}")


def check_heads(owner: object, heads: str = "heads", width: str = "width") -> None:
    """Raise ValueError unless ``owner``'s field ``heads`` divides its field ``width`` (multi-head
    attention splits the width evenly between the heads)."""
    h, w = getattr(owner, heads), getattr(owner, width)
    if w % h:
        raise ValueError(f"{type(owner).__name__}.{heads} ({h}) must divide {width} ({w})")
