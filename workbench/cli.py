"""The ``workbench`` command: thin entry points over the library.

Errors the user can fix (a bad path, a malformed dataset) end the command with one line on stderr
and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from workbench.types import DataError

EXIT_PROBLEM = 2


def _data_info(args: argparse.Namespace) -> int:
    from workbench.data import load_dataset

    ds = load_dataset(args.path)
    info = ds.info()
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
        return 0
    rows = [
        ("path", info.path),
        ("layout", info.layout),
        ("episodes", info.episodes),
        ("frames", info.frames),
        ("fps", f"{info.fps:g}"),
        ("action_dim", info.action_dim),
        ("tasks", ", ".join(info.tasks) or "-"),
        ("cameras", ", ".join(info.cameras) or "-"),
        ("camera_setups", ", ".join(info.camera_setups) or "-"),
        ("modalities", ", ".join(info.modalities) or "-"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def _data_validate(args: argparse.Namespace) -> int:
    from workbench.data import validate_dataset

    problems = validate_dataset(args.path, progress=not args.quiet)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) found in {args.path}", file=sys.stderr)
        return 1
    print(f"{args.path}: no problems found")
    return 0


def _data_make_samples(args: argparse.Namespace) -> int:
    from workbench.data.samples import make_samples

    out = make_samples(args.out, seed=args.seed, quick=args.quick, force=args.force)
    print(f"samples written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="workbench", description="actionlens workbench: datasets, training, analysis.")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="inspect, validate and generate datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    info = dsub.add_parser("info", help="summarise a dataset (episodes, frames, tasks, cameras, modalities)")
    info.add_argument("path", type=Path)
    info.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    info.set_defaults(func=_data_info)
    val = dsub.add_parser("validate", help="decode every episode and list every problem; exit 1 if any")
    val.add_argument("path", type=Path)
    val.add_argument("--quiet", action="store_true", help="no progress bar")
    val.set_defaults(func=_data_validate)
    ms = dsub.add_parser("make-samples", help="generate the shipped sample datasets (MuJoCo, CPU)")
    ms.add_argument("--out", type=Path, default=Path("data_samples"))
    ms.add_argument("--seed", type=int, default=0)
    ms.add_argument("--quick", action="store_true", help="a tiny version for tests")
    ms.add_argument("--force", action="store_true", help="replace existing sample datasets")
    ms.set_defaults(func=_data_make_samples)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PROBLEM
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
