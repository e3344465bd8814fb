"""Predicted end-effector paths ("worms") from a run's k-NN retrieval policy, for playback.

The k-NN policy of CLASS §4.4 ensembles the *raw* action chunks of the retrieved training frames;
integrating metaworld's action deltas does not give end-effector positions (the controller
neither reaches each commanded delta nor starts from the recorded pose). To draw where the policy
expects the gripper to go we retrieve **end-effector chunks** instead: the corpus is the run's
training split, each frame paired with the absolute positions of the next H steps (the first three
dimensions of its un-normalised ``ee`` chunk), ensembled with the same softmax(cos / τ) weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from workbench.analysis.embeddings import compute_embeddings
from workbench.data.dataset import Dataset
from workbench.eval.knn import KNNConfig, KNNPolicy
from workbench.train.run import TrainedRun

__all__ = ["knn_ee_paths"]


def knn_ee_paths(
    run: TrainedRun,
    dataset: Dataset,
    episode_index: int,
    *,
    k: int = 16,
    temperature: float = 0.01,
    corpus_episodes: Sequence[int] | None = None,
    anchor: bool = False,
    cache_dir: str | Path | None = None,
) -> npt.NDArray[np.float64]:
    """``(T, H, 3)`` predicted end-effector positions for every step of episode ``episode_index``.

    The corpus of ``run`` (a :class:`~workbench.train.run.TrainedRun`) is is its training
    split (``corpus_episodes`` overrides; all episodes when the run carries no split), never the
    query episode itself. ``anchor`` shifts each predicted path to start at the episode's own
    end-effector position (the shape of the predicted motion, not where the neighbour was).
    Raises ValueError when the dataset has no end-effector pose.
    """
    horizon = run.sample_meta.horizon
    if corpus_episodes is None:
        corpus_episodes = run.split.get("train") or [info.index for info in dataset.infos]
    corpus_episodes = [int(e) for e in corpus_episodes if int(e) != int(episode_index)]
    if not corpus_episodes:
        raise ValueError("the k-NN corpus is empty: the run's training split holds only the query episode")
    common = dict(chunk_kind="ee", horizon=horizon, cache_dir=cache_dir)
    corpus = compute_embeddings(run, dataset, episodes=corpus_episodes, **common)
    query = compute_embeddings(run, dataset, episodes=[int(episode_index)], **common)
    knn = KNNPolicy(KNNConfig(k=k, temperature=temperature)).fit(corpus.vectors, corpus.chunks[..., :3], corpus.chunk_mask)
    pred = knn.predict(query.vectors).chunks.astype(np.float64)  # (N, H, 3)
    ep = dataset.episode(int(episode_index))
    out = np.full((len(ep), horizon, 3), np.nan)
    out[query.time] = pred
    if anchor:
        if ep.ee_pos is None:
            raise ValueError(f"episode {episode_index} has no end-effector position to anchor the paths at")
        out = out - out[:, :1] + np.asarray(ep.ee_pos, dtype=np.float64)[:, None]
    return out
