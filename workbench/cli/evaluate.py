"""``workbench eval RUN …``: evaluate a trained run in this process, or ``--detach`` it as a job."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cli.exit import EXIT_OK

if TYPE_CHECKING:  # the library is imported when the command runs, so `workbench --help` stays quick
    from workbench.eval.evaluate import EvalConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a trained run: probes, retrieval, k-NN policy, policy heads, metaworld rollouts",
        description=(
            "Evaluate the latest checkpoint of RUN on its held-out episodes and save each result as "
            "RUN/eval/<name>.json (see `workbench.eval.load_eval_results`). With no part selected, "
            "--probe --retrieval --knn are run."
        ),
    )
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--probe", action="store_true", help="K-means action classes: linear-probe sweep + zero-shot (CAIP §3.2)")
    p.add_argument("--retrieval", action="store_true", help="cross-modal Recall@1/5/10 + SigLIP matching matrices (CLAMP)")
    p.add_argument("--knn", action="store_true", help="k-NN retrieval policy, offline error vs baselines (CLASS §4.4)")
    p.add_argument("--k", type=int, default=64, help="k-NN neighbours (default 64, capped by the corpus)")
    p.add_argument("--tau", type=float, default=0.01, help="k-NN softmax temperature τ_nn (default 0.01)")
    p.add_argument("--head", choices=("mlp", "flow"), default=None, help="train a policy head on the encoder")
    p.add_argument("--unfreeze", action="store_true", help="fine-tune (a copy of) the encoder with the head")
    p.add_argument("--steps", type=int, default=500, help="head training steps (default 500)")
    p.add_argument("--rollouts", type=int, default=0, metavar="N", help="closed-loop metaworld episodes per task (seeds 2000…)")
    p.add_argument("--tasks", default=None, help="comma-separated tasks for rollouts, e.g. reach,push (default: the run's)")
    p.add_argument("--max-steps", type=int, default=200, help="step cap per episode (reference: 200)")
    p.add_argument("--execute", type=int, default=8, help="actions executed per chunk before re-planning (reference: 8)")
    p.add_argument("--camera-setup", dest="camera_setup", default=None, choices=("fixed", "random", "dynamic", "wrist"),
                   help="rollout camera (default: the setups of the run's training episodes, CLASS Fig. 3)")
    p.add_argument("--workers", type=int, default=2, help="rollout processes (default 2; 0 = in this process)")
    p.add_argument("--save-episodes", type=int, default=1, help="first episodes per task saved as video (default 1)")
    p.add_argument("--clusters", type=int, default=None, help="K for the probe's K-means (default: min(50, N/20))")
    p.add_argument("--out", default=None, metavar="NAME", help="prefix of the result names (RUN/eval/NAME-<part>.json)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--detach", action="store_true", help="run in the background (workbench.eval.jobs); follow RUN/eval/job.json")
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from workbench.eval import evaluate_run
    from workbench.eval.jobs import launch_eval

    cfg = eval_config(args)
    if args.detach:
        job = launch_eval(args.run, cfg)
        print(f"evaluation started in the background (pid {job.pid}); its state is in {args.run / 'eval' / 'job.json'}")
        return EXIT_OK
    _print_report(evaluate_run(args.run, cfg, progress=not args.quiet))
    print(f"results saved under {Path(args.run) / 'eval'}")
    return EXIT_OK


def eval_config(args: argparse.Namespace) -> EvalConfig:
    """The :class:`EvalConfig` the command line asks for (no part named = probe, retrieval, k-NN)."""
    from workbench.eval import EvalConfig, KNNConfig, ProbeConfig

    any_part = args.probe or args.retrieval or args.knn or args.head or args.rollouts
    probe, retrieval, knn = (args.probe, args.retrieval, args.knn) if any_part else (True, True, True)
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None
    if args.rollouts < 0:
        raise ValueError(f"--rollouts must be >= 0, got {args.rollouts}")
    return EvalConfig(probe=probe, retrieval=retrieval, knn=knn or (bool(args.rollouts) and not args.head), head=args.head,
                      unfreeze=args.unfreeze, head_steps=args.steps, rollouts=args.rollouts, tasks=tasks,
                      max_steps=args.max_steps, execute=args.execute, save_episodes=args.save_episodes,
                      camera_setup=args.camera_setup, workers=args.workers, out=args.out,
                      probe_config=ProbeConfig(num_clusters=args.clusters),
                      knn_config=KNNConfig(k=args.k, temperature=args.tau), device=args.device)  # fmt: skip


def _fmt(x: float | None) -> str:
    return "N/A" if x is None else f"{x:.3f}"


def _print_report(r) -> None:
    if r.probe:
        p = r.probe
        sweep = ", ".join(f"{s}:{a:.3f}" for s, a in zip(p.shots, p.accuracy))
        print(f"probe (K={p.num_clusters}, chance {p.chance:.3f}): {sweep}; zero-shot {_fmt(p.zero_shot)}")
    if r.retrieval:
        for pair, rec in r.retrieval.recall.items():
            print(f"retrieval {pair}: " + ", ".join(f"R@{k}={v:.3f}" for k, v in rec.items()))
        if not r.retrieval.recall:
            print(f"retrieval: {r.retrieval.notes}")
    if r.knn:
        k = r.knn
        base = ", ".join(f"{n} {e.mse:.4f}" for n, e in k.baselines.items())
        print(f"knn (k={k.k}, τ={k.temperature:g}): mse {k.policy.mse:.4f}, l1 {k.policy.l1:.4f}; baselines mse: {base}")
    if r.head:
        h = r.head
        print(f"head {h.head} ({'frozen' if h.frozen else 'fine-tuned'}): loss {h.losses[0]:.4f} -> {h.losses[-1]:.4f}; "
              f"val mse {h.offline.mse:.4f}, l1 {h.offline.l1:.4f}; saved {h.path}")  # fmt: skip
    for ro in r.rollouts:
        from workbench.stats import wilson_interval

        def rate(succ: tuple[bool, ...]) -> str:
            iv = wilson_interval(int(sum(succ)), len(succ))
            return f"{sum(succ)}/{len(succ)} [{iv.low:.2f}, {iv.high:.2f}]"

        per = ", ".join(f"{t.task} {rate(t.successes)}" for t in ro.tasks)
        print(f"rollouts {ro.policy} ({ro.camera} camera): success {rate(tuple(x for t in ro.tasks for x in t.successes))} "
              f"(95 % Wilson; {per})")
