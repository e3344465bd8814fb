"""Precompute what the app shows first for the shipped samples, so a fresh clone waits for nothing:
each shipped run's embeddings of every shipped dataset it can read (every 2nd frame, the pages'
default) and their PCA, t-SNE and UMAP projections, written into the run's ``embeddings/`` folder
under content-hash keys (the checkpoint's bytes, the dataset's bytes, the vectors' bytes), and the
DTW neighbour tables of the chunks those embeddings carry (the Neighbours page's defaults: the
run's chunk kind and horizon, no window, squared-Euclidean cost), one per distinct chunk content,
in ``data_samples/neighbours/`` (:mod:`workbench.analysis.neighbour_table`). The app reads them as
they are when their keys match and computes live otherwise.

Rerun after regenerating the samples or the runs (the keys change; each run's old ``embeddings/``
folder and the old tables are removed first, so nothing stale ships):

    MUJOCO_GL=egl python scripts/precompute_samples.py            # all runs, about 5 min on 2 cores
    git add -f data_samples/runs/*/embeddings data_samples/neighbours   # .gitignore keeps later app writes out
    python scripts/precompute_samples.py --runs caip-sample --projectors pca
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from workbench.analysis.neighbour_table import compute_neighbour_table, save_neighbour_table
    from workbench.analysis.run_analysis import RunAnalysis
    from workbench.data import load_dataset
    from workbench.data.catalog import DEFAULT_ROOT, find_datasets
    from workbench.train.run import load_run
    from workbench.train.rundir import RunDir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(DEFAULT_ROOT), help="the samples folder (datasets and runs/)")
    p.add_argument("--runs", nargs="*", help="run names under ROOT/runs (default: all)")
    p.add_argument("--stride", type=int, default=2, help="every n-th frame (the app's default is 2)")
    p.add_argument("--projectors", nargs="*", default=["pca", "tsne", "umap"])
    p.add_argument("--no-tables", action="store_true", help="skip the DTW neighbour tables")
    args = p.parse_args(argv)

    root = Path(args.root)
    runs = sorted(d for d in (root / "runs").iterdir() if RunDir(d).latest_checkpoint() is not None)
    if args.runs:
        runs = [d for d in runs if d.name in args.runs]
    datasets = find_datasets([root])
    tables = root / "neighbours"
    if tables.is_dir() and not args.runs and not args.no_tables:
        shutil.rmtree(tables)
    written: set[str] = set()
    for run_dir in runs:
        run = load_run(run_dir)
        out = run_dir / "embeddings"
        if out.is_dir() and not args.runs and len(args.projectors) == 3:
            shutil.rmtree(out)
        for entry in datasets:
            ds = load_dataset(entry.path, strict=False)  # as the app opens it
            if not run.fits(ds).ok:
                continue  # the run cannot read this dataset: the app does not offer the pair
            analysis = RunAnalysis(run, ds, stride=args.stride)  # as the app's pages look: same caches, same keys
            t0 = time.time()
            emb = analysis.embeddings
            line = f"{run_dir.name} × {entry.name}: {len(emb)} frames embedded in {time.time() - t0:.0f} s"
            for name in args.projectors:
                t0 = time.time()
                analysis.projection(name)
                line += f"; {name} {time.time() - t0:.0f} s"
            if not args.no_tables:
                page = {"kind": emb.chunk_kind, "horizon": int(emb.chunks.shape[1])}  # what the page rechunks to
                key = analysis.neighbour_table_key(**page, window=None, cost="sqeuclidean")
                chunks = analysis.rechunked(**page)
                if key not in written:
                    t0 = time.time()
                    table = compute_neighbour_table(chunks.chunks, chunks.episode)
                    size = save_neighbour_table(table, tables).stat().st_size
                    written.add(key)
                    line += f"; DTW table {key} ({size // 1024} KiB) {time.time() - t0:.0f} s"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
