"""2-D projections of embeddings: t-SNE, UMAP and PCA behind the scikit-learn estimator contract.

Each projector stores its arguments unchanged in ``__init__`` (so ``get_params``/``clone`` work),
validates them and the data in ``fit``, returns ``self`` from ``fit``, and exposes the fitted
coordinates as ``embedding_`` (n_samples, n_components). ``random_state`` fixes the result.

* :class:`TSNEProjector` — CLASS App. J.1 projects latent trajectories with t-SNE at perplexity
  100; we use ``min(100, (n − 1) / 3)`` so small sets stay valid (perplexity must stay below
  n / 3 for the 3·perplexity neighbour lists). openTSNE (FFT-accelerated, Linderman et al. 2019) is
  used when installed. Measured on 2 shared CPU cores, 64-D blobs, perplexity as above, seconds
  scikit-learn / openTSNE: n = 500: 29 / 19; n = 2000: 53 / 58–61; n = 5000: 208 / 78–98 — even
  at the metaworld sample's ~2k frames and 2.1–2.7× faster beyond; both deterministic per seed.
* :class:`UMAPProjector` — umap-learn. Its numba kernels compile on the first call in a process
  (~40 s); :func:`warm_umap` triggers that once in a background thread so an app pays it at
  start-up, not on a click.
* :class:`PCAProjector` — scikit-learn's PCA; also ``transform``s new points.

:func:`project_cached` memoises a projection on disk keyed by the data and the projector's params.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, TransformerMixin

from workbench.atomic import atomic_path
from workbench.paths import cache_root
from workbench.warmup import Warmup

__all__ = ["PCAProjector", "TSNEProjector", "UMAPProjector", "make_projector", "project_cached", "projection_cache_dir", "stored_projection", "warm_umap"]


def _check_data(X: npt.ArrayLike, n_components: int, min_samples: int) -> np.ndarray:
    a = np.asarray(X, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"X must be a 2-D (n_samples, n_features) array, got shape {a.shape}")
    if a.shape[0] < min_samples:
        raise ValueError(f"X must have at least {min_samples} samples for this projector, got {a.shape[0]}")
    if a.shape[1] < 1:
        raise ValueError("X has no features")
    if not np.isfinite(a).all():
        raise ValueError("X contains NaN or infinite values")
    return a


def _check_components(n_components: object) -> int:
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components must be a positive int, got {n_components!r}")
    return int(n_components)


def _seed(random_state: object) -> int:
    if random_state is None:
        return 0  # determinism by default: a fixed seed rather than the global RNG
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise ValueError(f"random_state must be a non-negative int or None, got {random_state!r}")
    return int(random_state)


def _opentsne_available() -> bool:
    try:
        import openTSNE  # noqa: F401
    except ImportError:
        return False
    return True


class TSNEProjector(TransformerMixin, BaseEstimator):
    """t-SNE to ``n_components`` dimensions (CLASS App. J.1).

    Args:
        n_components: output dimensions (2 for plots).
        perplexity: None = ``min(100, (n_samples − 1) / 3)`` (CLASS uses 100); the value used is
            ``perplexity_`` after fitting.
        backend: ``"auto"`` (openTSNE if installed, else scikit-learn), ``"opentsne"`` or ``"sklearn"``.
        random_state: seed; None means 0.
        n_jobs: threads for the neighbour search and gradients.
    """

    def __init__(self, n_components: int = 2, *, perplexity: float | None = None, backend: str = "auto",
                 random_state: int | None = 0, n_jobs: int = 1) -> None:  # fmt: skip
        self.n_components = n_components
        self.perplexity = perplexity
        self.backend = backend
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: npt.ArrayLike, y: object = None) -> TSNEProjector:
        k = _check_components(self.n_components)
        if self.backend not in ("auto", "opentsne", "sklearn"):
            raise ValueError(f"backend must be 'auto', 'opentsne' or 'sklearn', got {self.backend!r}")
        a = _check_data(X, k, 4)
        n = a.shape[0]
        perp = min(100.0, (n - 1) / 3.0) if self.perplexity is None else float(self.perplexity)
        if not 0 < perp < n:
            raise ValueError(f"perplexity must be in (0, n_samples={n}), got {perp}")
        seed = _seed(self.random_state)
        backend = self.backend
        if backend == "auto":
            backend = "opentsne" if _opentsne_available() and k <= 2 else "sklearn"
        if backend == "opentsne":
            if not _opentsne_available():
                raise ValueError("backend='opentsne' needs openTSNE: pip install openTSNE")
            import openTSNE

            emb = openTSNE.TSNE(k, perplexity=perp, initialization="pca", random_state=seed,
                                n_jobs=int(self.n_jobs), verbose=False).fit(a)  # fmt: skip
            self.embedding_ = np.asarray(emb, dtype=np.float32)
        else:
            from sklearn.manifold import TSNE

            self.embedding_ = TSNE(k, perplexity=perp, init="pca", random_state=seed,
                                   n_jobs=int(self.n_jobs)).fit_transform(a).astype(np.float32)  # fmt: skip
        self.perplexity_ = perp
        self.backend_ = backend
        self.n_features_in_ = a.shape[1]
        return self

    def fit_transform(self, X: npt.ArrayLike, y: object = None, **fit_params: object) -> np.ndarray:
        return self.fit(X).embedding_


class UMAPProjector(TransformerMixin, BaseEstimator):
    """UMAP (McInnes et al. 2018) via umap-learn; ``n_neighbors`` is clipped to ``n_samples − 1``
    (the value used is ``n_neighbors_``). With a fixed ``random_state`` umap-learn runs its
    optimisation single-threaded, which is what makes it reproducible."""

    def __init__(self, n_components: int = 2, *, n_neighbors: int = 15, min_dist: float = 0.1,
                 metric: str = "euclidean", random_state: int | None = 0) -> None:  # fmt: skip
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.random_state = random_state

    def fit(self, X: npt.ArrayLike, y: object = None) -> UMAPProjector:
        k = _check_components(self.n_components)
        if isinstance(self.n_neighbors, bool) or not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 2:
            raise ValueError(f"n_neighbors must be an int >= 2, got {self.n_neighbors!r}")
        if not 0.0 <= float(self.min_dist):
            raise ValueError(f"min_dist must be >= 0, got {self.min_dist!r}")
        a = _check_data(X, k, max(4, k + 2))
        seed = _seed(self.random_state)
        import umap

        nn = min(int(self.n_neighbors), a.shape[0] - 1)
        self.model_ = umap.UMAP(n_components=k, n_neighbors=nn, min_dist=float(self.min_dist), metric=self.metric,
                                random_state=seed, n_jobs=1)  # fmt: skip
        self.embedding_ = np.asarray(self.model_.fit_transform(a), dtype=np.float32)
        self.n_neighbors_ = nn
        self.n_features_in_ = a.shape[1]
        return self

    def fit_transform(self, X: npt.ArrayLike, y: object = None, **fit_params: object) -> np.ndarray:
        return self.fit(X).embedding_

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise ValueError("UMAPProjector is not fitted yet; call fit first")
        return np.asarray(self.model_.transform(_check_data(X, self.n_components, 1)), dtype=np.float32)


class PCAProjector(TransformerMixin, BaseEstimator):
    """Principal components (scikit-learn's PCA, full SVD so the result does not depend on a
    randomised solver); ``explained_variance_ratio_`` after fitting."""

    def __init__(self, n_components: int = 2, *, whiten: bool = False, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state

    def fit(self, X: npt.ArrayLike, y: object = None) -> PCAProjector:
        k = _check_components(self.n_components)
        a = _check_data(X, k, 2)
        if k > min(a.shape):
            raise ValueError(f"n_components={k} must be <= min(n_samples, n_features) = {min(a.shape)}")
        from sklearn.decomposition import PCA

        self.model_ = PCA(k, whiten=bool(self.whiten), svd_solver="full", random_state=_seed(self.random_state))
        emb = self.model_.fit_transform(a)
        # SVD signs are arbitrary; fix them so the largest-magnitude loading is positive
        self.signs_ = np.sign(self.model_.components_[np.arange(k), np.abs(self.model_.components_).argmax(1)])
        self.embedding_ = (emb * self.signs_).astype(np.float32)
        self.explained_variance_ratio_ = self.model_.explained_variance_ratio_
        self.n_features_in_ = a.shape[1]
        return self

    def fit_transform(self, X: npt.ArrayLike, y: object = None, **fit_params: object) -> np.ndarray:
        return self.fit(X).embedding_

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise ValueError("PCAProjector is not fitted yet; call fit first")
        a = _check_data(X, self.n_components, 1)
        return (self.model_.transform(a) * self.signs_).astype(np.float32)


_PROJECTORS = {"tsne": TSNEProjector, "umap": UMAPProjector, "pca": PCAProjector}


def make_projector(name: str, **params: object) -> BaseEstimator:
    """``"tsne"``, ``"umap"`` or ``"pca"`` with its params."""
    if name not in _PROJECTORS:
        raise ValueError(f"unknown projector {name!r}; choose one of {sorted(_PROJECTORS)}")
    return _PROJECTORS[name](**params)


# -- disk cache ---------------------------------------------------------------------------------


def projection_cache_dir() -> Path:
    """``$ACTIONLENS_CACHE/projections`` or ``~/.cache/actionlens/projections``."""
    return cache_root() / "projections"


def _cache_path(projector: BaseEstimator, a: np.ndarray, cache_dir: str | Path | None) -> Path:
    """Where :func:`project_cached` keeps ``projector``'s projection of ``a``: keyed by the bytes of
    ``a``, the projector's class and its params."""
    h = hashlib.sha256(type(projector).__name__.encode())
    h.update(json.dumps(projector.get_params(), sort_keys=True, default=str).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    root = Path(cache_dir) if cache_dir is not None else projection_cache_dir()
    return root / f"{type(projector).__name__}-{h.hexdigest()[:24]}.npy"


def stored_projection(projector: BaseEstimator, X: npt.ArrayLike, *, cache_dir: str | Path | None = None) -> np.ndarray | None:
    """The projection :func:`project_cached` stored for ``projector`` and ``X``, or None when there is
    none yet (nothing is computed: an app asks this before it offers to compute one)."""
    return _read_stored(_cache_path(projector, np.ascontiguousarray(np.asarray(X, dtype=np.float32)), cache_dir))


def _read_stored(path: Path) -> np.ndarray | None:
    """The array at ``path``, or None when there is none (an unreadable one is removed)."""
    if not path.exists():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None


def project_cached(projector: BaseEstimator, X: npt.ArrayLike, *, cache_dir: str | Path | None = None) -> np.ndarray:
    """``projector.fit_transform(X)``, memoised on disk by the bytes of ``X``, the projector's class
    and its params (so the same embeddings projected twice, even across processes, cost once)."""
    a = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
    path = _cache_path(projector, a, cache_dir)  # hashed once: the vectors' bytes are the key
    stored = _read_stored(path)
    if stored is not None:
        return stored
    emb = np.asarray(projector.fit_transform(a), dtype=np.float32)
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, emb)
    return emb


# -- UMAP warm-up -------------------------------------------------------------------------------

def _warm() -> None:
    rng = np.random.default_rng(0)
    UMAPProjector(n_neighbors=5, random_state=0).fit(rng.normal(size=(64, 8)))


_UMAP_WARMUP = Warmup("actionlens-warm-umap", _warm)


def warm_umap(*, wait: bool = False, timeout: float | None = None) -> threading.Thread:
    """Compile umap-learn's numba kernels once per process, in a daemon thread.

    Idempotent: later calls return the same thread. With ``wait`` block until compiled (or
    ``timeout`` seconds). An app calls this at start-up so the first UMAP a user asks for is fast.
    """
    return _UMAP_WARMUP.start(wait=wait, timeout=timeout)


def umap_is_warm() -> bool:
    """True once :func:`warm_umap`'s compile has finished in this process."""
    return _UMAP_WARMUP.done()
