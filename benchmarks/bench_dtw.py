"""Side-by-side speed of workbench.dtw against aeon, dtaidistance and tslearn.

    python benchmarks/bench_dtw.py            # N = 1000 and 3000, top-k 200 x 10,000
    python benchmarks/bench_dtw.py --quick    # N = 1000 only, top-k 100 x 3,000, fewer repeats

Everything runs in one process on the same smooth, action-like chunks (T = 16, D = 10, the
CLASS DTW horizon of App. B) with full DTW (no window).  Repeats are interleaved across the
libraries and the median is reported, after a warm-up that compiles every numba kernel.
dtaidistance and tslearn report the square root of the squared-Euclidean DTW, so they are
compared with our ``cost="sqeuclidean"`` (the same dynamic-programming work).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import dtw  # noqa: E402  (before numba: workbench sets the OpenMP wait policy)

import numba  # noqa: E402

T, D = 16, 10
N_JOBS = os.cpu_count() or 2


def action_like(rng: np.random.Generator, n: int, t: int = T, d: int = D) -> np.ndarray:
    """Chunks shaped like end-effector actions: low-frequency sinusoids plus a smoothed drift."""
    s = np.linspace(0.0, 1.0, t)[None, :, None]
    out = np.zeros((n, t, d))
    for f in (0.5, 1.0, 1.5):
        amp = rng.normal(size=(n, 1, d)) / (1 + f)
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1, d))
        out += amp * np.sin(2 * np.pi * f * s + phase)
    drift = np.cumsum(rng.normal(scale=0.1, size=(n, t + 4, d)), axis=1)
    kernel = np.ones(5) / 5  # moving average keeps the drift smooth
    drift = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 1, drift)
    return out + drift


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    res = fn()
    return time.perf_counter() - t0, res


def run_interleaved(entries: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, object]]:
    """Median seconds and the last result of each entry, repeats interleaved across entries."""
    times: dict[str, list[float]] = {name: [] for name in entries}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in entries.items():
            t, res = timed(fn)
            times[name].append(t)
            results[name] = res
    return {name: (statistics.median(ts), results[name]) for name, ts in times.items()}


def pairwise_section(rng: np.random.Generator, n: int, repeats: int, with_tslearn: bool) -> list[str]:
    from aeon.distances import dtw_pairwise_distance
    from dtaidistance import dtw_ndim

    X = action_like(rng, n)
    X_cf = np.ascontiguousarray(X.transpose(0, 2, 1))  # aeon wants channels first
    entries: dict[str, Callable[[], object]] = {
        "workbench.dtw": lambda: dtw.pairwise_dtw(X),
        "dtaidistance": lambda: dtw_ndim.distance_matrix_fast(X, parallel=True),
        "aeon": lambda: dtw_pairwise_distance(X_cf, n_jobs=N_JOBS),
    }
    res = run_interleaved(entries, repeats)
    if with_tslearn:
        from tslearn.metrics import cdist_dtw

        # Once only: tens of seconds per run at N = 1000.
        res |= run_interleaved({"tslearn (1 run)": lambda: cdist_dtw(X, n_jobs=N_JOBS)}, 1)
    ours_t, ours = res["workbench.dtw"]
    ours = np.asarray(ours)
    cells = n * (n - 1) / 2 * T * T
    rows = []
    for name, (t, mat) in res.items():
        mat = np.asarray(mat, dtype=np.float64)
        # Peers other than aeon report sqrt of the squared-Euclidean total.
        ref = ours if name in ("workbench.dtw", "aeon") else np.sqrt(ours)
        iu = np.triu_indices(n, 1)
        err = float(np.max(np.abs(mat[iu] - ref[iu]) / np.maximum(np.abs(ref[iu]), 1e-300)))
        rows.append(
            f"| pairwise N={n} | {name} | {t:.3f} | {cells / t / 1e6:,.0f} | {t / ours_t:.1f}x | {err:.1e} |"
        )
    if not with_tslearn:
        rows.append(f"| pairwise N={n} | tslearn | skipped (too slow at this N) | | | |")
    return rows


def topk_section(rng: np.random.Generator, n_queries: int, n_corpus: int, k: int, repeats: int) -> list[str]:
    from aeon.distances import dtw_pairwise_distance
    from dtaidistance import dtw_ndim

    corpus = action_like(rng, n_corpus)
    queries = action_like(rng, n_queries)
    both = np.concatenate([queries, corpus])

    def dtai_route():
        flat = dtw_ndim.distance_matrix_fast(
            both, block=((0, n_queries), (n_queries, n_queries + n_corpus)), compact=True, parallel=True
        )
        m = np.asarray(flat).reshape(n_queries, n_corpus)
        idx = np.argsort(m, axis=1, kind="stable")[:, :k]
        return idx

    def aeon_route():
        m = dtw_pairwise_distance(
            np.ascontiguousarray(queries.transpose(0, 2, 1)),
            np.ascontiguousarray(corpus.transpose(0, 2, 1)),
            n_jobs=N_JOBS,
        )
        return np.argsort(m, axis=1, kind="stable")[:, :k]

    def ours_matrix_route():
        return np.argsort(dtw.pairwise_dtw(queries, corpus), axis=1, kind="stable")[:, :k]

    entries = {
        "workbench.dtw dtw_topk (auto)": lambda: dtw.dtw_topk(queries, corpus, k)[0],
        "workbench.dtw dtw_topk (prune)": lambda: dtw.dtw_topk(queries, corpus, k, strategy="prune")[0],
        "workbench.dtw matrix + argsort": ours_matrix_route,
        "dtaidistance matrix + argsort": dtai_route,
        "aeon matrix + argsort": aeon_route,
    }
    res = run_interleaved(entries, repeats)
    ours_t, ours_idx = res["workbench.dtw dtw_topk (auto)"]
    peer_best = min(res["dtaidistance matrix + argsort"][0], res["aeon matrix + argsort"][0])
    cells = n_queries * n_corpus * T * T
    rows = []
    for name, (t, idx) in res.items():
        same = np.array_equal(np.asarray(idx), np.asarray(ours_idx))
        rows.append(
            f"| top-{k} {n_queries}x{n_corpus} | {name} | {t:.3f} | {cells / t / 1e6:,.0f} "
            f"| {t / ours_t:.1f}x | {'identical' if same else 'DIFFERENT'} |"
        )
    rows.append(f"| top-{k} {n_queries}x{n_corpus} | fastest peer route / dtw_topk | | | {peer_best / ours_t:.1f}x | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and fewer repeats")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)

    # Warm-up: compile (or load from cache) every numba kernel involved, ours and aeon's.
    from aeon.distances import dtw_pairwise_distance
    from tslearn.metrics import cdist_dtw

    w = action_like(rng, 40)
    dtw.pairwise_dtw(w)
    dtw.dtw_topk(w[:20], w, 3)
    dtw.dtw_topk(w[:2], w, 3, strategy="prune")
    dtw_pairwise_distance(np.ascontiguousarray(w.transpose(0, 2, 1)), n_jobs=N_JOBS)
    dtw_pairwise_distance(np.ascontiguousarray(w[:3].transpose(0, 2, 1)), np.ascontiguousarray(w.transpose(0, 2, 1)), n_jobs=N_JOBS)
    cdist_dtw(w[:5], n_jobs=N_JOBS)

    print(f"T={T} D={D}, full window, {N_JOBS} cores, numba threads {numba.get_num_threads()}")
    header = ["| task | implementation | median s | M DP cells/s | time vs ours | check |", "|---|---|---|---|---|---|"]
    rows: list[str] = []
    if args.quick:
        rows += pairwise_section(rng, 1000, repeats=2, with_tslearn=True)
        rows += topk_section(rng, 100, 3000, 8, repeats=2)
    else:
        rows += pairwise_section(rng, 1000, repeats=3, with_tslearn=True)
        rows += pairwise_section(rng, 3000, repeats=3, with_tslearn=False)
        rows += topk_section(rng, 200, 10_000, 8, repeats=3)
    print("\n".join(header + rows))
    print(
        "\n'check' is the largest relative difference from our matrix (pairwise) or whether the"
        " neighbour indices equal dtw_topk's (top-k); 'time vs ours' > 1 means slower than ours."
    )


if __name__ == "__main__":
    main()
