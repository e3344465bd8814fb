"""``workbench rerun``: play dataset episodes back in Rerun (save ``.rrd`` files or serve the web viewer).

With several ``--episode`` and ``--save out.rrd`` each episode goes to its own file,
``out_ep<index>.rrd`` (see :func:`workbench.viz.rerun.save_episodes_rrd`); one episode goes to
``out.rrd`` itself.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from workbench.cli.exit import EXIT_OK
from workbench.types import DataError

__all__ = ["add_parser", "main", "run_rerun"]


def _episodes(path: Path, indices: Sequence[int] | None) -> list:
    from workbench.data import load_dataset

    ds = load_dataset(path)
    if len(ds) == 0:
        raise DataError(path, "the dataset has no episodes")
    if not indices:
        return [ds[0]]
    out = []
    for i in indices:
        try:
            out.append(ds.episode(i))
        except KeyError:
            known = ", ".join(str(info.index) for info in ds.infos[:10])
            raise DataError(path, f"no episode with index {i} (episodes: {known}{', …' if len(ds) > 10 else ''})") from None
    return out


def run_rerun(args: argparse.Namespace) -> int:
    """The handler behind ``workbench rerun``."""
    from workbench.viz.rerun import save_episodes_rrd, serve_episodes

    if args.save is None and not args.serve:
        raise ValueError("nothing to do: pass --save OUT.rrd and/or --serve")
    episodes = _episodes(args.path, args.episode)
    kw = dict(horizon=args.horizon, point_cloud=args.point_cloud, jpeg_quality=args.jpeg_quality, name=Path(args.path).name,
              virtual_views=args.virtual_views)  # fmt: skip
    if args.save is not None:
        for p in save_episodes_rrd(episodes, args.save, **kw):
            print(p)
    if args.serve:
        served = serve_episodes(episodes, open_browser=False, **kw)
        print(f"serving {len(episodes)} episode(s) at {served.url} (Ctrl-C to stop)", flush=True)
        while True:  # the servers live as long as this process
            time.sleep(3600)
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rerun",
        help="play episodes back in Rerun: save .rrd files or serve the web viewer",
        description=(
            "Log dataset episodes to Rerun: cameras in their frusta, depth, end-effector path, hand "
            "skeletons, actions and the next-H-steps 'worms'. Open saved files with `rerun FILE` from "
            "rerun-sdk 0.41 (a viewer reads its own and the previous minor version only)."
        ),
    )
    p.add_argument("path", type=Path, help="dataset folder or file (any layout load_dataset reads)")
    p.add_argument(
        "--episode", type=int, action="append", metavar="N", help="episode index; repeat for several (default: the first)"
    )
    p.add_argument("--save", type=Path, metavar="OUT.rrd", help="write OUT.rrd (several episodes: OUT_ep<N>.rrd each)")
    p.add_argument("--serve", action="store_true", help="serve the web viewer on localhost and print its URL")
    p.add_argument("--point-cloud", action="store_true", help="also back-project depth into a coloured point cloud")
    p.add_argument("--virtual-views", action="store_true",
                   help="also show CLAMP's virtual depth + XYZ views and the merged point cloud (needs depth)")
    p.add_argument("--horizon", type=int, default=16, help="worm length in steps (default 16)")
    p.add_argument("--jpeg-quality", type=int, default=85, help="JPEG quality of the camera images (default 85)")
    p.set_defaults(func=run_rerun)


def main(argv: Sequence[str] | None = None) -> int:
    """``workbench rerun ARGS…`` (what tests and scripts call with the sub-command's arguments)."""
    import sys

    from workbench.cli import main as workbench_main

    return workbench_main(["rerun", *(sys.argv[1:] if argv is None else argv)])
