"""The dataset interface every reader implements.

A dataset lists its episodes from metadata alone (:class:`EpisodeInfo`), so a 10,000-episode dataset
lists instantly; ``dataset[i]`` builds the :class:`Episode`, with frames decoded only when touched.
With ``strict=False`` a reader records bad episodes in :attr:`Dataset.problems` and serves the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.types import DataError, DatasetInfo, Episode, EpisodeInfo

__all__ = ["Dataset", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: where it is and what it is."""

    path: str
    problem: str
    episode: int | None = None

    def __str__(self) -> str:
        where = self.path if self.episode is None else f"{self.path} (episode {self.episode})"
        return f"{where}: {self.problem}"

    @classmethod
    def from_error(cls, e: DataError) -> Problem:
        return cls(e.path, e.problem, e.episode)


class Dataset(ABC):
    """Episodes on disk. Subclasses fill :attr:`infos` in ``__init__`` and implement :meth:`_load`."""

    layout: str = ""

    def __init__(self, path: str | Path, *, strict: bool = True) -> None:
        self.path = Path(path)
        self.strict = strict
        self.infos: list[EpisodeInfo] = []
        self.problems: list[Problem] = []

    # -- subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def _load(self, info: EpisodeInfo) -> Episode: ...

    @abstractmethod
    def _summary(self) -> dict: ...

    # -- the public surface ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.infos)

    def __getitem__(self, i: int) -> Episode:
        if not -len(self.infos) <= i < len(self.infos):
            raise IndexError(f"{self.path}: episode position {i} is out of range (0..{len(self.infos) - 1})")
        return self._load(self.infos[i])

    def __iter__(self) -> Iterator[Episode]:
        for i in range(len(self)):
            yield self[i]

    def episode(self, index: int) -> Episode:
        """The episode whose ``episode_index`` is ``index`` (not its position)."""
        for info in self.infos:
            if info.index == index:
                return self._load(info)
        raise KeyError(f"{self.path}: no episode with index {index}")

    @property
    def num_frames(self) -> int:
        return sum(i.length for i in self.infos)

    @property
    def tasks(self) -> list[str]:
        return sorted({i.task for i in self.infos if i.task})

    def info(self) -> DatasetInfo:
        s = self._summary()
        return DatasetInfo(
            path=str(self.path),
            layout=self.layout,
            episodes=len(self.infos),
            frames=self.num_frames,
            tasks=tuple(self.tasks),
            cameras=tuple(s.get("cameras", ())),
            camera_setups=tuple(sorted({i.camera_setup for i in self.infos})),
            fps=float(s.get("fps", 0.0)),
            action_dim=int(s.get("action_dim", 0)),
            modalities=tuple(sorted(s.get("modalities", ()))),
        )

    def screen(self) -> None:
        """Build every episode once (frames stay undecoded) and drop those that fail their checks.

        What ``strict=False`` loading does, so a lenient dataset only lists episodes it can serve.
        """
        good = []
        for info in self.infos:
            try:
                self._load(info)
            except DataError as e:
                self.problems.append(Problem.from_error(e))
                continue
            good.append(info)
        self.infos = good

    def _fail(self, error: DataError) -> None:
        """Raise in strict mode; otherwise remember the problem and carry on."""
        if self.strict:
            raise error
        self.problems.append(Problem.from_error(error))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, episodes={len(self)}, frames={self.num_frames})"
