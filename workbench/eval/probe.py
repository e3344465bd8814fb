"""Zero-shot action classification and linear probes on frozen image features (CAIP §3.2, Fig. 3).

CAIP builds a classification task from actions alone: "we cluster held-out action chunks in raw
action space using K-means with K=50", then (i) trains a logistic regression on frozen image
features to predict the cluster, sweeping 1 … 256 training samples per class, and (ii) for a
model with an action encoder predicts zero-shot by "the mean action embedding over all cluster
members" as each cluster's prototype and argmax cosine similarity with the image embedding.

Here the chunks clustered are the ones the run aligned images with (raw, ee or hand), flattened
and normalised per dimension with the run's statistics, so no dimension dominates the distances.
The held-out samples are split by episode into a probe-training pool and a test set (adjacent
frames of one episode are near-duplicates, so a sample-level split would leak).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.eval.results import ProbeResult

__all__ = ["ProbeConfig", "cluster_chunks", "default_num_clusters", "linear_probe_sweep", "probe_split", "run_probe", "zero_shot_accuracy"]

DEFAULT_SHOTS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class ProbeConfig:
    num_clusters: int | None = None  # K; None = default_num_clusters(N) (CAIP: 50)
    shots: tuple[int, ...] = DEFAULT_SHOTS  # training samples per class to sweep (CAIP: 1 … 256)
    repeats: int = 5  # seeded draws per shot count
    test_fraction: float = 0.5  # share of held-out episodes used as the probe's test set
    max_iter: int = 1000  # logistic-regression iterations
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_clusters is not None and self.num_clusters < 2:
            raise ValueError(f"ProbeConfig.num_clusters must be >= 2 or None, got {self.num_clusters}")
        if not self.shots or any(int(s) < 1 for s in self.shots):
            raise ValueError(f"ProbeConfig.shots must be positive integers, got {self.shots!r}")
        object.__setattr__(self, "shots", tuple(sorted({int(s) for s in self.shots})))
        if self.repeats < 1:
            raise ValueError(f"ProbeConfig.repeats must be >= 1, got {self.repeats}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"ProbeConfig.test_fraction must be in (0, 1), got {self.test_fraction}")


def default_num_clusters(n: int) -> int:
    """CAIP's K = 50, reduced on small data so a cluster holds about 20 samples on average."""
    return int(min(50, max(2, n // 20)))


def cluster_chunks(chunks: npt.NDArray, k: int, *, seed: int = 0) -> npt.NDArray[np.int64]:
    """K-means labels of flattened chunks ``(N, H, D)`` (already normalised per dimension)."""
    from sklearn.cluster import KMeans

    x = np.asarray(chunks, dtype=np.float64).reshape(len(chunks), -1)
    if k > len(x):
        raise ValueError(f"cannot make {k} clusters from {len(x)} chunks")
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x).astype(np.int64)


def probe_split(episode: npt.NDArray, test_fraction: float = 0.5, seed: int = 0,
                task: npt.NDArray | None = None) -> tuple[npt.NDArray[np.bool_], str]:  # fmt: skip
    """A boolean test mask over samples: whole episodes when there are at least two, else every
    other sample (noted in the result, as neighbouring frames then leak).

    With ``task`` (per sample) the episodes are drawn per task, so every task with two or more
    episodes has some on each side: an unstratified draw can put all of a task's episodes in the
    test half, and then its action clusters never occur in training and the probe scores below
    chance, falling as more labels sharpen it on the other classes (issue 13, the shipped runs:
    two of six tasks only in the test half).
    """
    episode = np.asarray(episode)
    eps = np.unique(episode)
    if len(eps) < 2:
        return (np.arange(len(episode)) % 2 == 1), "samples"
    rng = np.random.default_rng(seed)
    if task is None:
        n_test = min(max(1, int(round(test_fraction * len(eps)))), len(eps) - 1)
        return np.isin(episode, rng.choice(eps, size=n_test, replace=False)), "episodes"
    task = np.asarray(task)
    test_eps: list = []
    for t in np.unique(task):
        own = np.unique(episode[task == t])
        if len(own) < 2:  # a lone episode cannot be on both sides: alternate such tasks between them
            test_eps += list(own) if rng.random() < test_fraction else []
            continue
        n_test = min(max(1, int(round(test_fraction * len(own)))), len(own) - 1)
        test_eps += list(rng.choice(own, size=n_test, replace=False))
    test = np.isin(episode, test_eps)
    if test.all() or not test.any():
        return probe_split(episode, test_fraction, seed)
    return test, "episodes, stratified by task"


def linear_probe_sweep(
    train_x: npt.NDArray, train_y: npt.NDArray, test_x: npt.NDArray, test_y: npt.NDArray,
    shots: Sequence[int], *, repeats: int = 5, seed: int = 0, max_iter: int = 1000,
) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    """Logistic regression on ``min(n, class size)`` samples per class for each n in ``shots``.

    Shot counts above the largest class in the training pool add nothing new and are dropped.
    Returns (shots kept, mean accuracy, std) over ``repeats`` seeded draws. A draw that holds a
    single class predicts it everywhere (logistic regression needs two). Features are
    standardised on each draw first: L2-normalised embeddings can vary by 1e-2 per dimension,
    which the default L2 penalty (C = 1) would otherwise flatten to a near-constant classifier.
    """
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_y = np.asarray(train_y)
    classes, counts = np.unique(train_y, return_counts=True)
    kept = tuple(int(s) for s in shots if s == min(shots) or s <= counts.max())
    means, stds = [], []
    for n in kept:
        accs = []
        for r in range(repeats):
            rng = np.random.default_rng([seed, n, r])
            idx = np.concatenate([rng.permutation(np.flatnonzero(train_y == c))[:n] for c in classes])
            y = train_y[idx]
            if len(np.unique(y)) < 2:
                pred = np.full(len(test_y), y[0])
            else:
                clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
                with warnings.catch_warnings():  # one sample per class is the point of the 1-shot probe
                    warnings.simplefilter("ignore", UserWarning)
                    pred = clf.fit(train_x[idx], y).predict(test_x)
            accs.append(float(np.mean(pred == test_y)))
        means.append(float(np.mean(accs)))
        stds.append(float(np.std(accs)))
    return kept, tuple(means), tuple(stds)


def zero_shot_accuracy(image: npt.NDArray, action: npt.NDArray, labels: npt.NDArray, test: npt.NDArray[np.bool_],
                       num_clusters: int) -> float:
    """CAIP §3.2: prototypes are the mean action embeddings of each cluster's members; an image
    is assigned the cluster whose (re-normalised) prototype has the highest cosine similarity."""
    protos = np.zeros((num_clusters, action.shape[1]), dtype=np.float64)
    for c in range(num_clusters):
        members = action[labels == c]
        if len(members):
            protos[c] = members.mean(0)
    protos /= np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-12)
    img = image[test] / np.maximum(np.linalg.norm(image[test], axis=1, keepdims=True), 1e-12)
    pred = (img @ protos.T).argmax(1)
    return float(np.mean(pred == labels[test]))


def run_probe(
    method_name: str, image: npt.NDArray, chunks_normalised: npt.NDArray, episode: npt.NDArray,
    action: npt.NDArray | None = None, config: ProbeConfig | None = None, *, action_source: str = "chunk",
    task: npt.NDArray | None = None,
) -> ProbeResult:
    """The whole CAIP §3.2 protocol on one held-out set: cluster, split, probe sweep, zero-shot.

    ``action_source`` says what ``action`` embeds ("chunk": the following chunk; "history": the
    past actions, CLAMP's action tower), for the notes."""
    cfg = config or ProbeConfig()
    n = len(image)
    k = cfg.num_clusters or default_num_clusters(n)
    k = min(k, n)
    labels = cluster_chunks(chunks_normalised, k, seed=cfg.seed)
    test, how = probe_split(np.asarray(episode), cfg.test_fraction, cfg.seed, task=task)
    train = ~test
    shots, acc, std = linear_probe_sweep(image[train], labels[train], image[test], labels[test], cfg.shots,
                                         repeats=cfg.repeats, seed=cfg.seed, max_iter=cfg.max_iter)  # fmt: skip
    zs = zero_shot_accuracy(image, action, labels, test, k) if action is not None else None
    _, test_counts = np.unique(labels[test], return_counts=True)
    notes = "" if action is not None else "zero-shot N/A: the method has no action encoder"
    if action is not None and action_source == "history":
        notes = f"zero-shot prototypes are {method_name} action-history embeddings (its action tower encodes the past actions)"
    return ProbeResult(method=method_name, num_clusters=k, shots=shots, accuracy=acc, accuracy_std=std, zero_shot=zs,
                       chance=float(test_counts.max() / test.sum()), uniform_chance=1.0 / k, num_train=int(train.sum()),
                       num_test=int(test.sum()), repeats=cfg.repeats, split=how, notes=notes)  # fmt: skip
