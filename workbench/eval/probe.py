"""Zero-shot action classification and linear probes on frozen image features (CAIP §3.2, Fig. 3).

CAIP builds a classification task from actions alone: "we cluster held-out action chunks in raw
action space using K-means with K=50", then (i) trains a logistic regression on frozen image
features to predict the cluster, sweeping 1 … 256 training samples per class, and (ii) for a
model with an action encoder predicts zero-shot by "the mean action embedding over all cluster
members" as each cluster's prototype and argmax cosine similarity with the image embedding.

Protocol here, so that every method is scored on the same classes and the two arms see the same data:

* **classes** are K-means (K = 50) on the *raw* relative SE(3) action chunks of the held-out
  samples (:func:`workbench.data.chunks.relative_chunks`: the hands, else the end effector, T = 64),
  un-normalised and independent of the method, so BC and CAIP are asked the same question;
* **split** by whole episodes (adjacent frames are near-duplicates), stratified by task: each task
  gives ``test_fraction`` of its held-out episodes to the test set and the rest to the probe's
  training pool (:func:`probe_split`);
* **zero-shot prototypes** are the mean action embeddings of each cluster's members *in the probe's
  training pool* only — never of the test episodes, which the probe cannot see either
  (:func:`zero_shot_accuracy`); a class with no member there has no prototype;
* both arms are scored on the same test samples; chance is printed beside them (the test set's
  majority class, and 1/K).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.eval.results import ProbeResult

__all__ = ["ProbeConfig", "cluster_chunks", "probe_action_chunks", "default_num_clusters", "linear_probe_sweep", "probe_split", "run_probe", "zero_shot_accuracy"]

DEFAULT_SHOTS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class ProbeConfig:
    num_clusters: int | None = None  # K; None = default_num_clusters(N) (CAIP: 50)
    horizon: int = 64  # T of the relative action chunks the classes are made from (CAIP §2.4.2: 64)
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
        if self.horizon < 1:
            raise ValueError(f"ProbeConfig.horizon must be >= 1, got {self.horizon}")
        if self.repeats < 1:
            raise ValueError(f"ProbeConfig.repeats must be >= 1, got {self.repeats}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"ProbeConfig.test_fraction must be in (0, 1), got {self.test_fraction}")


def default_num_clusters(n: int) -> int:
    """CAIP's K = 50, reduced on small data so a cluster holds about 20 samples on average."""
    return int(min(50, max(2, n // 20)))


def probe_action_chunks(dataset, episode: npt.NDArray, time: npt.NDArray, horizon: int = 64) -> npt.NDArray[np.float32]:
    """The raw relative SE(3) chunks ``(N, T, D)`` (CAIP §2.4.2) that follow each sample's image:
    episode ``episode[n]`` of ``dataset`` (anything with ``.episode(index)``) from step ``time[n]``."""
    from workbench.data.chunks import relative_chunks

    episode, time = np.asarray(episode), np.asarray(time)
    out = None
    for e in np.unique(episode):
        sel = episode == e
        c, _ = relative_chunks(dataset.episode(int(e)), horizon)  # (T_e, H, D), one per base step
        if out is None:
            out = np.empty((len(episode),) + c.shape[1:], dtype=np.float32)
        out[sel] = c[time[sel]]
    if out is None:
        raise ValueError("probe_action_chunks: no samples")
    return out


def cluster_chunks(chunks: npt.NDArray, k: int, *, seed: int = 0) -> npt.NDArray[np.int64]:
    """K-means labels of flattened chunks ``(N, H, D)`` (already normalised per dimension)."""
    from sklearn.cluster import KMeans

    x = np.asarray(chunks, dtype=np.float64).reshape(len(chunks), -1)
    if k > len(x):
        raise ValueError(f"cannot make {k} clusters from {len(x)} chunks")
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x).astype(np.int64)


def probe_split(
    episode: npt.NDArray, test_fraction: float = 0.5, seed: int = 0, task: Sequence[str] | npt.NDArray | None = None,
) -> tuple[npt.NDArray[np.bool_], str]:
    """A boolean test mask over samples made of whole episodes, stratified by ``task``.

    Within each task, ``round(test_fraction · n)`` of its n episodes (at least one, and at least one
    left for training when n ≥ 2) go to the test set. With a single episode in all, every other
    sample is tested instead (noted in the result: neighbouring frames then leak).
    """
    episode = np.asarray(episode)
    task = np.asarray(task if task is not None else np.zeros(len(episode), dtype=int))
    if len(task) != len(episode):
        raise ValueError(f"probe_split: {len(task)} task labels for {len(episode)} samples")
    if len(np.unique(episode)) < 2:
        return (np.arange(len(episode)) % 2 == 1), "samples"
    rng = np.random.default_rng(seed)
    test_eps: list = []
    for t in sorted(np.unique(task), key=str):
        eps = np.unique(episode[task == t])
        if len(eps) < 2:  # a task with one episode cannot give both sides; it trains the probe
            continue
        n_test = min(max(1, int(round(test_fraction * len(eps)))), len(eps) - 1)
        test_eps += list(rng.choice(eps, size=n_test, replace=False))
    if not test_eps:  # every task has one episode: split episodes across tasks instead
        eps = np.unique(episode)
        n_test = min(max(1, int(round(test_fraction * len(eps)))), len(eps) - 1)
        test_eps = list(rng.choice(eps, size=n_test, replace=False))
        return np.isin(episode, test_eps), "episodes"
    return np.isin(episode, test_eps), "episodes, stratified by task"


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
                       num_clusters: int, prototype_pool: npt.NDArray[np.bool_] | None = None) -> float:
    """CAIP §3.2: prototypes are the mean action embeddings of each cluster's members; an image
    is assigned the cluster whose (re-normalised) prototype has the highest cosine similarity.

    Prototypes are built from ``prototype_pool`` only (default: every sample not in ``test``), so
    the test episodes' own actions never shape the answer; a cluster without members there has no
    prototype and is never predicted.
    """
    pool = ~test if prototype_pool is None else np.asarray(prototype_pool, dtype=bool)
    if np.any(pool & test):
        raise ValueError("zero_shot_accuracy: the prototype pool overlaps the test samples")
    protos = np.zeros((num_clusters, action.shape[1]), dtype=np.float64)
    present = np.zeros(num_clusters, dtype=bool)
    for c in range(num_clusters):
        members = action[pool & (labels == c)]
        if len(members):
            protos[c] = members.mean(0)
            present[c] = True
    protos /= np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-12)
    img = image[test] / np.maximum(np.linalg.norm(image[test], axis=1, keepdims=True), 1e-12)
    sims = img @ protos.T
    sims[:, ~present] = -np.inf
    pred = sims.argmax(1)
    return float(np.mean(pred == labels[test]))


def run_probe(
    method_name: str, image: npt.NDArray, action_chunks: npt.NDArray, episode: npt.NDArray,
    action: npt.NDArray | None = None, config: ProbeConfig | None = None, *,
    task: Sequence[str] | npt.NDArray | None = None, action_source: str = "chunk",
) -> ProbeResult:
    """The whole CAIP §3.2 protocol on one held-out set: cluster, split, probe sweep, zero-shot.

    ``action_chunks`` ``(N, T, D)`` are the *raw* (un-normalised) relative action chunks the classes
    come from — the same for every method on a dataset; ``action`` the method's action embeddings
    (None when it has no action encoder) and ``action_source`` what they embed ("chunk": the
    following chunk; "history": the past actions, CLAMP's action tower), for the notes; ``task``
    stratifies the episode split.
    """
    cfg = config or ProbeConfig()
    n = len(image)
    k = cfg.num_clusters or default_num_clusters(n)
    k = min(k, n)
    labels = cluster_chunks(action_chunks, k, seed=cfg.seed)
    test, how = probe_split(np.asarray(episode), cfg.test_fraction, cfg.seed, task)
    train = ~test
    shots, acc, std = linear_probe_sweep(image[train], labels[train], image[test], labels[test], cfg.shots,
                                         repeats=cfg.repeats, seed=cfg.seed, max_iter=cfg.max_iter)  # fmt: skip
    zs = zero_shot_accuracy(image, action, labels, test, k, prototype_pool=train) if action is not None else None
    _, test_counts = np.unique(labels[test], return_counts=True)
    notes = "" if action is not None else "zero-shot N/A: the method has no action encoder"
    if action is not None and action_source == "history":
        notes = f"zero-shot prototypes are {method_name} action-history embeddings (its action tower encodes the past actions)"
    return ProbeResult(method=method_name, num_clusters=k, shots=shots, accuracy=acc, accuracy_std=std, zero_shot=zs,
                       chance=float(test_counts.max() / test.sum()), uniform_chance=1.0 / k, num_train=int(train.sum()),
                       num_test=int(test.sum()), repeats=cfg.repeats, split=how, notes=notes)  # fmt: skip
