"""Instruction text as the samples carry it: normalisation and the word vocabulary (CAIP App. C.1).

No pretrained vocabulary can be downloaded here, so the vocabulary is built from the dataset's own
instructions: lower-cased, punctuation removed, split on whitespace; special tokens first, then
every word seen at least ``min_count`` times, most frequent first (ties alphabetical). The text
encoders' :class:`~workbench.models.text.WordTokenizer` reads this vocabulary.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

__all__ = ["CLS_TOKEN", "PAD_TOKEN", "SPECIAL_TOKENS", "UNK_TOKEN", "build_vocab", "normalize_instruction"]

PAD_TOKEN, UNK_TOKEN, CLS_TOKEN = "<pad>", "<unk>", "<cls>"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, CLS_TOKEN)  # ids 0, 1, 2
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_instruction(text: str) -> list[str]:
    """Lower-case, drop punctuation, split on whitespace (CAIP App. C.1)."""
    return re.split(r"\s+", text.lower().translate(_PUNCT).strip()) if text.strip() else []


def build_vocab(instructions: Iterable[str], min_count: int = 1) -> list[str]:
    """:data:`SPECIAL_TOKENS` then every word seen at least ``min_count`` times, most frequent first."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts = Counter(w for text in instructions for w in normalize_instruction(text))
    words = sorted((w for w, n in counts.items() if n >= min_count and w not in SPECIAL_TOKENS),
                   key=lambda w: (-counts[w], w))  # fmt: skip
    return [*SPECIAL_TOKENS, *words]
