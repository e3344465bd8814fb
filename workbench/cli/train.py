"""``workbench train`` and ``workbench runs list | show | stop | resume | strip | diff``."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.exit import EXIT_OK


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
        return EXIT_OK
    if args.nproc > 1:
        proc = launch(rd, nproc=args.nproc)
        return proc.wait()
    state = train(rd.path, progress=True)
    print(f"{state.value}: {rd.path}")
    return EXIT_OK


def _runs_list(args: argparse.Namespace) -> int:
    from workbench.train import list_runs

    runs = list_runs(args.runs_root)
    if not runs:
        print(f"no runs under {args.runs_root}")
        return EXIT_OK
    print(f"{'id':<40} {'method':<10} {'preset':<8} {'state':<9} {'step':>11}  loss")
    for r in runs:
        loss = f"{r.last_loss:.4f}" if r.last_loss is not None else "-"
        print(f"{r.id:<40} {r.method:<10} {r.preset or '-':<8} {r.status.state:<9} {r.status.step:>5}/{r.status.total_steps:<5}  {loss}")
    return EXIT_OK


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
    return EXIT_OK


def _runs_stop(args: argparse.Namespace) -> int:
    from workbench.train import resolve_run, stop_run

    st = stop_run(resolve_run(args.run, runs_root=args.runs_root), timeout=args.timeout, kill=args.kill)
    print(f"{st.state} at step {st.step}")
    return EXIT_OK


def _runs_resume(args: argparse.Namespace) -> int:
    from workbench.train import resolve_run, resume_run

    rd = resolve_run(args.run, runs_root=args.runs_root)
    if args.foreground:
        from workbench.train.loop import train

        if rd.is_locked() or rd.read_status().active:
            from workbench.train import JobError

            raise JobError(f"{rd.path}: the job is still running; stop it first")
        print(f"{train(rd.path, resume=True, progress=True).value}: {rd.path}")
        return EXIT_OK
    proc = resume_run(rd, nproc=args.nproc)
    print(f"resumed {rd.id} in the background (pid {proc.pid})")
    return EXIT_OK


def _runs_strip(args: argparse.Namespace) -> int:
    from workbench.train import resolve_run
    from workbench.train.checkpoint import strip_optimizer

    rd = resolve_run(args.run, runs_root=args.runs_root)
    for _, p in rd.checkpoints():
        strip_optimizer(p)
        print(f"{p}: {p.stat().st_size // 1024} KB without the optimiser state")
    return EXIT_OK


def _runs_diff(args: argparse.Namespace) -> int:
    from workbench.train import diff_runs, resolve_run

    a, b = (resolve_run(r, runs_root=args.runs_root) for r in (args.a, args.b))
    rows = diff_runs(a, b)
    if not rows:
        print("the two configs are identical")
    for key, va, vb in rows:
        print(f"{key}: {va!r} -> {vb!r}")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
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
