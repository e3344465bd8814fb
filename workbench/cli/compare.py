"""``workbench compare``: the closed-loop table of representations × policies (resumable), and
``workbench compare collect``: one table from several comparison folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli.exit import EXIT_OK, EXIT_PROBLEM


def _compare(args: argparse.Namespace) -> int:
    from workbench.compare import CompareConfig, CompareError, run_compare, smoke_config, split_overrides

    if args.out is None:
        print("error: workbench compare needs --out DIR (the comparison folder), or `compare collect --out DIR RUNDIR...`",
              file=sys.stderr)  # fmt: skip
        return EXIT_PROBLEM
    kw: dict = {}
    for name in ("tasks", "methods", "policies"):
        if getattr(args, name):
            kw[name] = tuple(x.strip() for x in getattr(args, name).split(",") if x.strip())
    if args.seeds:
        kw["seeds"] = tuple(int(x) for x in args.seeds.split(","))
    for name in ("demos", "episodes", "camera_setup", "preset", "workers", "ckpt_every", "max_steps", "label"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    if args.set:
        try:
            kw["train_overrides"], kw["method_overrides"] = split_overrides(args.set)
        except ValueError as e:
            print(f"error: --set: {e}", file=sys.stderr)
            return EXIT_PROBLEM
    try:
        cfg = smoke_config(**kw) if args.smoke else CompareConfig(**kw)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PROBLEM
    try:
        r = run_compare(args.out, cfg, quiet=args.quiet)
    except CompareError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PROBLEM
    print((r.out / "compare.md").read_text())
    print(f"{r.evaluated} evaluation(s) run, {r.skipped} found done, {r.seconds:.0f} s; results in {r.out}")
    return EXIT_OK


def _collect(args: argparse.Namespace) -> int:
    from workbench.compare import CompareError, collect_compare

    try:
        r = collect_compare(args.out, args.folders)
    except CompareError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PROBLEM
    if not args.quiet:
        print((r.out / "compare.md").read_text())
    print(f"{len(r.cells)} cells from {len(r.sources)} folder(s) ({', '.join(r.sources)}), {r.copied} file(s) copied; "
          f"results in {r.out}")  # fmt: skip
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from workbench.compare import CompareError
    from workbench.compare.differences import paired_difference

    try:
        d = paired_difference(args.results, args.a, args.b, policy=args.policy, policy_b=args.policy_b,
                              checkpoint=args.checkpoint, camera=args.camera, demos=args.demos, variant_a=args.variant_a,
                              variant_b=args.variant_b, target=args.target, resamples=args.resamples)  # fmt: skip
    except (CompareError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PROBLEM
    print(d.describe())
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    cmp_ = sub.add_parser("compare", help="closed-loop table of representations × policies with Wilson intervals (resumable)",
                          description="Generate demos, train each method, evaluate k-NN and MLP-head policies in closed "
                                      "loop under the trained camera setup; run again with the same --out to continue.")  # fmt: skip
    cmp_.add_argument("--out", type=Path, help="the comparison folder (created, or continued); required")
    cmp_.add_argument("--smoke", action="store_true", help="the whole pipeline at toy size (a few minutes)")
    cmp_.add_argument("--tasks", help="comma-separated metaworld tasks (default reach,push,pick-place)")
    cmp_.add_argument("--methods", help="comma-separated: state_knn, random_encoder, bc, caip, class, clamp, clap_actvae")
    cmp_.add_argument("--policies", help="comma-separated: knn, knn_image, mlp (default knn,mlp)")
    cmp_.add_argument("--seeds", help="comma-separated training seeds (default 0,1)")
    cmp_.add_argument("--demos", type=int, help="demonstrations per task (default 32)")
    cmp_.add_argument("--episodes", type=int, help="closed-loop episodes per task and cell (default 100)")
    cmp_.add_argument("--camera-setup", dest="camera_setup", help="fixed, random or dynamic (default dynamic)")
    cmp_.add_argument("--preset", help="training preset (default sample; class-appb for CLASS App. B)")
    cmp_.add_argument("--ckpt-every", dest="ckpt_every", type=int, help="checkpoint and evaluate every N steps ('max')")
    cmp_.add_argument("--max-steps", dest="max_steps", type=int, help="episode cap (default 200)")
    cmp_.add_argument("--workers", type=int, help="rollout / generation processes (default 2)")
    cmp_.add_argument("--set", action="append", metavar="[METHOD:]KEY=VALUE",
                      help="training override for every run, or with METHOD: for that method's runs only (added to its "
                           "defaults: clamp reads depth + XYZ views, clap_actvae trains its image tower)")
    cmp_.add_argument("--label", help="the name of this folder's training variant in a collected table (default: its "
                                       "non-default preset and --set overrides)")  # fmt: skip
    cmp_.add_argument("--quiet", action="store_true")
    cmp_.set_defaults(func=_compare)
    csub = cmp_.add_subparsers(dest="compare_command", required=False, metavar="{collect,diff}")
    col = csub.add_parser("collect", help="one table from several comparison folders (the stages)",
                          description="Gather the cells of several `workbench compare` folders (camera setups, demos, "
                                      "variants) into one compare.json / compare.md / figure, copying the videos and "
                                      "per-episode evaluations per folder under OUT/stages/; colliding cells or "
                                      "incomparable evaluation settings are refused by name. Idempotent.")  # fmt: skip
    col.add_argument("--out", type=Path, required=True, help="where the collected table goes (e.g. notebooks/paper/results)")
    col.add_argument("folders", nargs="+", type=Path, metavar="RUNDIR", help="comparison folders (each holds compare.json)")
    col.add_argument("--quiet", action="store_true", help="print only the summary line")
    col.set_defaults(func=_collect)
    dif = csub.add_parser("diff", help="paired difference A − B over the same episodes, with its bootstrap interval and verdict",
                          description="A − B in success rate over the evaluation episodes both were run on (matched by "
                                      "task, training seed and evaluation seed), its bootstrap interval (placements, each "
                                      "with its episodes under every training seed, resampled within task), the "
                                      "per-training-seed differences, the ratio A / B, and a verdict: 'A > B' / 'A < B' "
                                      "only when the interval excludes 0 and every seed agrees.")  # fmt: skip
    dif.add_argument("results", type=Path, metavar="RESULTS_DIR", help="a comparison folder or a collected table")
    dif.add_argument("--a", required=True, help="method A (e.g. class)")
    dif.add_argument("--b", required=True, help="method B (e.g. bc, state_knn)")
    dif.add_argument("--policy", default="knn", help="policy of both sides (default knn; the state k-NN's is always knn)")
    dif.add_argument("--policy-b", dest="policy_b", help="B's policy when it differs from A's")
    dif.add_argument("--checkpoint", default="final", choices=("final", "max"))
    dif.add_argument("--camera", help="camera setup (needed when the results hold several)")
    dif.add_argument("--demos", type=int, help="demos per task (needed when the results hold several)")
    dif.add_argument("--variant-a", dest="variant_a", default="", help="A's training variant (default: the default)")
    dif.add_argument("--variant-b", dest="variant_b", default="", help="B's training variant")
    dif.add_argument("--target", type=float, help="a target for A / B (e.g. 0.8: 'meets' when its interval lies above)")
    dif.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    dif.set_defaults(func=_diff)
