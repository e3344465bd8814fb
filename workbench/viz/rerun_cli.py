"""``workbench rerun``: play dataset episodes back in Rerun (save ``.rrd`` files or serve the web viewer).

Wired into :mod:`workbench.cli` with :func:`add_rerun_parser`; also runnable on its own as
``python -m workbench.viz.rerun_cli`` with the same arguments.

With several ``--episode`` and ``--save out.rrd`` each episode goes to its own file,
``out_ep<index>.rrd`` (see :func:`workbench.viz.rerun.save_episodes_rrd`); one episode goes to
``out.rrd`` itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from workbench.types import DataError

__all__ = ["add_rerun_parser", "run_rerun", "main"]

EXIT_PROBLEM = 2  # as workbench.cli: a problem the user can fix


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
    """The handler behind ``workbench rerun``; user-fixable problems end in one line and exit 2."""
    from workbench.viz.rerun import save_episodes_rrd, serve_episodes

    try:
        episodes = _episodes(args.path, args.episode)
        kw = dict(horizon=args.horizon, point_cloud=args.point_cloud, jpeg_quality=args.jpeg_quality, name=Path(args.path).name)
        if args.save is not None:
            for p in save_episodes_rrd(episodes, args.save, **kw):
                print(p)
        if args.serve:
            served = serve_episodes(episodes, open_browser=False, **kw)
            print(f"serving {len(episodes)} episode(s) at {served.url} (Ctrl-C to stop)", flush=True)
            while True:  # the servers live as long as this process
                time.sleep(3600)
    except (DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PROBLEM
    return 0


def add_rerun_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``rerun`` sub-command to ``subparsers`` (what ``build_parser`` in workbench.cli holds)."""
    p = subparsers.add_parser(
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
    p.add_argument("--horizon", type=int, default=16, help="worm length in steps (default 16)")
    p.add_argument("--jpeg-quality", type=int, default=85, help="JPEG quality of the camera images (default 85)")
    p.set_defaults(func=_checked)
    return p


def _checked(args: argparse.Namespace) -> int:
    if args.save is None and not args.serve:
        print("error: nothing to do: pass --save OUT.rrd and/or --serve", file=sys.stderr)
        return EXIT_PROBLEM
    return run_rerun(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workbench")
    add_rerun_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["rerun", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
