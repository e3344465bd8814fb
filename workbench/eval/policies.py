"""A trained head as a chunk policy for closed-loop rollouts: image -> run's encoder -> head -> chunk.

It sees the rendered image as the training samples did ((3, S, S) uint8) and the text the run was
trained with for the task (CAIP conditions its image embedding on the instruction). The k-NN
policy acts on images itself (:meth:`workbench.eval.knn.KNNPolicy.bind`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch

from workbench.eval.head_training import TrainedHead

__all__ = ["ChunkPredictor", "HeadChunkPolicy", "MethodChunkPolicy", "image_tensor"]


def image_tensor(image: npt.NDArray[np.uint8]) -> torch.Tensor:
    """(S, S, 3) uint8 -> (1, 3, S, S) uint8."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].contiguous()


class HeadChunkPolicy:
    """A trained head on the (frozen or fine-tuned) encoder; the flow head's noise is seeded per call."""

    def __init__(self, head: TrainedHead, text: str = "", seed: int = 0) -> None:
        self.head, self.text, self.seed = head, text, seed
        self._calls = 0

    def reset(self) -> None:
        self._calls = 0

    def __call__(self, image: npt.NDArray[np.uint8], obs: npt.NDArray) -> npt.NDArray:
        self._calls += 1
        return self.head.predict(image_tensor(image), [self.text], seed=self.seed + self._calls)[0]


@runtime_checkable
class ChunkPredictor(Protocol):
    """A method that predicts executable (raw) action chunks itself: CLAP-NTP (decoded tokens),
    CLAP-RF (its flow head)."""

    def predict_chunk(self, images: torch.Tensor, texts: list[str] | None = None, seed: int = 0) -> torch.Tensor: ...


class MethodChunkPolicy:
    """A :class:`ChunkPredictor` as a rollout policy; a flow head's noise is seeded per call."""

    def __init__(self, method: ChunkPredictor, text: str = "", seed: int = 0) -> None:
        self.method, self.text, self.seed = method, text, seed
        self._calls = 0

    def reset(self) -> None:
        self._calls = 0

    @torch.no_grad()
    def __call__(self, image: npt.NDArray[np.uint8], obs: npt.NDArray) -> npt.NDArray:
        self._calls += 1
        chunk = self.method.predict_chunk(image_tensor(image), [self.text], seed=self.seed + self._calls)
        return chunk[0].float().cpu().numpy()  # (H, A)
