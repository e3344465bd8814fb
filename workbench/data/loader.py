"""Deprecated spelling of :mod:`workbench.data.training_samples` (kept so older notebooks and
branches import); use ``from workbench.data.training_samples import FrameChunkDataset, …``."""

from __future__ import annotations

from workbench.data.training_samples import FrameChunkDataset, SampleMeta, collate, default_text, make_action_history

__all__ = ["FrameChunkDataset", "SampleMeta", "collate", "default_text", "make_action_history"]
