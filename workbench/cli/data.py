"""``workbench data info | validate | make-samples``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.cli.exit import EXIT_FAILED, EXIT_OK


def _data_info(args: argparse.Namespace) -> int:
    from workbench.data import load_dataset

    ds = load_dataset(args.path)
    info = ds.info()
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
        return EXIT_OK
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
    return EXIT_OK


def _data_validate(args: argparse.Namespace) -> int:
    from workbench.data import validate_dataset

    problems = validate_dataset(args.path, progress=not args.quiet)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) found in {args.path}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.path}: no problems found")
    return EXIT_OK


def _data_make_samples(args: argparse.Namespace) -> int:
    from workbench.data.shipped import make_samples

    out = make_samples(args.out, seed=args.seed, quick=args.quick, force=args.force, only=args.only)
    print(f"samples written to {out}")
    return EXIT_OK


def _data_generate(args: argparse.Namespace) -> int:
    from workbench.data.generate import make_metaworld_dataset

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    setups = [c.strip() for c in args.camera.split(",") if c.strip()]
    r = make_metaworld_dataset(args.out, tasks, args.demos, camera_setups=setups, seed=args.seed, image_size=args.image_size,
                               max_steps=args.max_steps, workers=args.workers, progress=not args.quiet)  # fmt: skip
    print(f"{r.episodes} episodes, {r.frames} frames in {r.seconds:.1f} s ({r.frames_per_second:.1f} frames/s, "
          f"{r.workers} worker(s)) -> {r.path}")  # fmt: skip
    return EXIT_OK


def _data_make_hands(args: argparse.Namespace) -> int:
    from workbench.data.shipped import make_hand_dataset

    setups = tuple(c.strip() for c in args.camera.split(",") if c.strip())
    out = make_hand_dataset(args.out, args.episodes, steps=args.steps, seed=args.seed, image_size=args.image_size,
                            camera_setups=setups, force=args.force, progress=not args.quiet)  # fmt: skip
    print(f"{args.episodes} Shadow-hand episodes of {args.steps} frames -> {out}")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    ms.add_argument("--only", action="append", choices=["metaworld", "robomimic", "hands"], help="make only this sample")
    ms.set_defaults(func=_data_make_samples)
    gen = dsub.add_parser("generate", help="metaworld expert demonstrations at scale, in parallel, into LeRobot v3.0")
    gen.add_argument("--out", type=Path, required=True, help="the dataset folder to create (must not exist)")
    gen.add_argument("--tasks", default="reach,push,pick-place", help="comma-separated metaworld tasks")
    gen.add_argument("--demos", type=int, default=32, help="demonstrations per task (placement seeds 10000·seed + j)")
    gen.add_argument("--camera", default="dynamic", help="scene-camera setup(s) fixed, random, dynamic (comma: cycled per episode)")
    gen.add_argument("--workers", type=int, default=2, help="recording processes")
    gen.add_argument("--image-size", type=int, default=96)
    gen.add_argument("--max-steps", type=int, default=100, help="step cap per demonstration")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_data_generate)
    mh = dsub.add_parser("make-hands", help="a Shadow-hand dataset big enough to pre-train CAIP (every motion family and camera setup)")
    mh.add_argument("--out", type=Path, required=True, help="the dataset folder to create")
    mh.add_argument("--episodes", type=int, default=200)
    mh.add_argument("--steps", type=int, default=150, help="frames per episode at 30 Hz (150 = 5 s; CAIP chunks are 64)")
    mh.add_argument("--camera", default="fixed,random,dynamic", help="camera setups, cycled per episode")
    mh.add_argument("--image-size", type=int, default=96)
    mh.add_argument("--seed", type=int, default=0)
    mh.add_argument("--force", action="store_true", help="replace an existing folder")
    mh.add_argument("--quiet", action="store_true", help="no progress bar")
    mh.set_defaults(func=_data_make_hands)
