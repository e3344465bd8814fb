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

    out = make_samples(args.out, seed=args.seed, quick=args.quick, force=args.force, only=args.only)
    print(f"samples written to {out}")
    return 0


def _data_generate(args: argparse.Namespace) -> int:
    from workbench.data.generate import make_metaworld_dataset

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    setups = [c.strip() for c in args.camera.split(",") if c.strip()]
    r = make_metaworld_dataset(args.out, tasks, args.demos, camera_setups=setups, seed=args.seed, image_size=args.image_size,
                               max_steps=args.max_steps, workers=args.workers, progress=not args.quiet)  # fmt: skip
    print(f"{r.episodes} episodes, {r.frames} frames in {r.seconds:.1f} s ({r.frames_per_second:.1f} frames/s, "
          f"{r.workers} worker(s)) -> {r.path}")  # fmt: skip
    return 0


def _train(args: argparse.Namespace) -> int:
    from workbench.train import TrainConfig, create_run, launch, make_config
    from workbench.train.config import apply_overrides
    from workbench.train.loop import train

    target = args.target
    if target.endswith((".yaml", ".yml")):
        cfg = apply_overrides(TrainConfig.from_yaml(target), args.set or [])
    else:
        cfg = make_config(target, args.preset, args.set or [])
    from workbench.data.catalog import check_dataset_path

    check_dataset_path(cfg.data.path)  # before the run directory exists: a bad path leaves nothing behind
    rd = create_run(cfg, args.run_dir, runs_root=args.runs_root)
    print(f"run {rd.id} in {rd.path}")
    if args.detach:
        proc = launch(rd, nproc=args.nproc)
        print(f"started in the background (pid {proc.pid}); watch it with `workbench runs show {rd.path}`")
        return 0
    if args.nproc > 1:
        proc = launch(rd, nproc=args.nproc)
        return proc.wait()
    state = train(rd.path, progress=True)
    print(f"{state.value}: {rd.path}")
    return 0


def _runs_list(args: argparse.Namespace) -> int:
    from workbench.train import list_runs

    runs = list_runs(args.runs_root)
    if not runs:
        print(f"no runs under {args.runs_root}")
        return 0
    print(f"{'id':<40} {'method':<10} {'preset':<8} {'state':<9} {'step':>11}  loss")
    for r in runs:
        loss = f"{r.last_loss:.4f}" if r.last_loss is not None else "-"
        print(f"{r.id:<40} {r.method:<10} {r.preset or '-':<8} {r.status.state:<9} {r.status.step:>5}/{r.status.total_steps:<5}  {loss}")
    return 0


def _runs_show(args: argparse.Namespace) -> int:
    from workbench.train import resolve_run

    rd = resolve_run(args.run, runs_root=args.runs_root)
    st = rd.read_status()
    print(f"run      {rd.path}\nstate    {st.state}  (pid {st.pid})\nstep     {st.step}/{st.total_steps}")
    if st.error:
        print(f"error    {st.error}")
    latest = rd.latest_checkpoint()
    print(f"latest   {latest.name if latest else '-'}")
    for m in rd.read_metrics()[-args.tail:]:
        print("  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))
    return 0


def _runs_stop(args: argparse.Namespace) -> int:
    from workbench.train import resolve_run, stop_run

    st = stop_run(resolve_run(args.run, runs_root=args.runs_root), timeout=args.timeout, kill=args.kill)
    print(f"{st.state} at step {st.step}")
    return 0


def _runs_resume(args: argparse.Namespace) -> int:
    from workbench.train import resolve_run, resume_run

    rd = resolve_run(args.run, runs_root=args.runs_root)
    if args.foreground:
        from workbench.train.loop import train

        if rd.is_locked() or rd.read_status().active:
            from workbench.train import JobError

            raise JobError(f"{rd.path}: the job is still running; stop it first")
        print(f"{train(rd.path, resume=True, progress=True).value}: {rd.path}")
        return 0
    proc = resume_run(rd, nproc=args.nproc)
    print(f"resumed {rd.id} in the background (pid {proc.pid})")
    return 0


def _runs_strip(args: argparse.Namespace) -> int:
    from workbench.train import resolve_run
    from workbench.train.checkpoint import strip_optimizer

    rd = resolve_run(args.run, runs_root=args.runs_root)
    for _, p in rd.checkpoints():
        strip_optimizer(p)
        print(f"{p}: {p.stat().st_size // 1024} KB without the optimiser state")
    return 0


def _runs_diff(args: argparse.Namespace) -> int:
    from workbench.train import diff_runs, resolve_run

    a, b = (resolve_run(r, runs_root=args.runs_root) for r in (args.a, args.b))
    rows = diff_runs(a, b)
    if not rows:
        print("the two configs are identical")
    for key, va, vb in rows:
        print(f"{key}: {va!r} -> {vb!r}")
    return 0


def _figures(args: argparse.Namespace) -> int:
    from workbench.reproduce import reproduce_figures

    Path(args.out).mkdir(parents=True, exist_ok=True)  # an unwritable folder fails now, not after a notebook ran
    results = reproduce_figures(args.out, smoke=args.smoke, only=args.only)
    failed = [r for r in results if not r.ok]
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.path.name:<40} {r.seconds:6.1f}s" + (f"  {r.error}" if r.error else ""))
    print(f"{len(results) - len(failed)} of {len(results)} notebooks ran; figures in {args.out}")
    return 1 if failed else 0


def _compare(args: argparse.Namespace) -> int:
    from workbench.compare import CompareConfig, CompareError, run_compare, smoke_config

    kw = {}
    for name in ("tasks", "methods", "policies"):
        if getattr(args, name):
            kw[name] = tuple(x.strip() for x in getattr(args, name).split(",") if x.strip())
    if args.seeds:
        kw["seeds"] = tuple(int(x) for x in args.seeds.split(","))
    for name in ("demos", "episodes", "camera_setup", "preset", "workers", "ckpt_every", "max_steps"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    if args.set:
        kw["train_overrides"] = tuple(args.set)
    cfg = smoke_config(**kw) if args.smoke else CompareConfig(**kw)
    try:
        r = run_compare(args.out, cfg, quiet=args.quiet)
    except CompareError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PROBLEM
    print((r.out / "compare.md").read_text())
    print(f"{r.evaluated} evaluation(s) run, {r.skipped} found done, {r.seconds:.0f} s; results in {r.out}")
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

    tr = sub.add_parser("train", help="train a method (a name with --preset, or a config YAML)")
    tr.add_argument("target", help="a method name (caip, class, clamp, clap_actvae, bc, direct_regression, random_encoder) or CONFIG.yaml")
    tr.add_argument("--preset", default=None, help="smoke (under a minute), sample (a useful model in ≤ 10 min) or class-appb (CLASS App. B: LARS, batch 160, EMA)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. optim.lr=1e-3")
    tr.add_argument("--run-dir", type=Path, default=None, help="where the run lives (default: runs/<id>)")
    tr.add_argument("--runs-root", type=Path, default=Path("runs"))
    tr.add_argument("--detach", action="store_true", help="run in the background and return at once")
    tr.add_argument("--nproc", type=int, default=1, help="processes under torchrun (DDP)")
    tr.set_defaults(func=_train)

    runs = sub.add_parser("runs", help="list, watch, stop, resume and compare training runs")
    runs.add_argument("--runs-root", type=Path, default=Path("runs"))
    rsub = runs.add_subparsers(dest="runs_command", required=True)
    rsub.add_parser("list", help="every run with its state and last loss").set_defaults(func=_runs_list)
    show = rsub.add_parser("show", help="status and latest metrics of a run")
    show.add_argument("run")
    show.add_argument("--tail", type=int, default=5)
    show.set_defaults(func=_runs_show)
    stop = rsub.add_parser("stop", help="stop a run: it checkpoints, then exits")
    stop.add_argument("run")
    stop.add_argument("--timeout", type=float, default=60.0)
    stop.add_argument("--kill", action="store_true", help="SIGKILL if it has not stopped after --timeout")
    stop.set_defaults(func=_runs_stop)
    res = rsub.add_parser("resume", help="resume a stopped or killed run from its latest checkpoint")
    res.add_argument("run")
    res.add_argument("--foreground", action="store_true")
    res.add_argument("--nproc", type=int, default=1)
    res.set_defaults(func=_runs_resume)
    strip = rsub.add_parser("strip", help="drop the optimiser state from a finished run's checkpoints (to ship it)")
    strip.add_argument("run")
    strip.set_defaults(func=_runs_strip)
    diff = rsub.add_parser("diff", help="config differences between two runs")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.set_defaults(func=_runs_diff)

    fig = sub.add_parser("figures", help="execute every paper notebook and write the figures to one folder")
    fig.add_argument("--out", type=Path, default=Path("figures"))
    fig.add_argument("--smoke", action="store_true", help="tiny settings (what the tests run)")
    fig.add_argument("--only", action="append", help="only notebooks whose name contains this")
    fig.set_defaults(func=_figures)

    cmp_ = sub.add_parser("compare", help="closed-loop table of representations × policies with Wilson intervals (resumable)",
                          description="Generate demos, train each method, evaluate k-NN and MLP-head policies in closed "
                                      "loop under the trained camera setup; run again with the same --out to continue.")  # fmt: skip
    cmp_.add_argument("--out", type=Path, required=True, help="the comparison folder (created, or continued)")
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
    cmp_.add_argument("--set", action="append", metavar="KEY=VALUE", help="training override for every run")
    cmp_.add_argument("--quiet", action="store_true")
    cmp_.set_defaults(func=_compare)

    from workbench.eval.cli import add_eval_parser
    from workbench.viz.rerun_cli import add_rerun_parser

    add_rerun_parser(sub)
    add_eval_parser(sub)
    return p


def _one_line(e: BaseException) -> str:
    """The problem on one line (a YAML parser's message spans several, with a caret drawing)."""
    return " ".join(line.strip() for line in str(e).splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DataError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_PROBLEM
    except (OSError, ValueError) as e:  # ConfigError is a ValueError
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_PROBLEM
    except Exception as e:
        from workbench.train import CheckpointError, JobError

        if not isinstance(e, (JobError, CheckpointError)):
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
