"""Closed-loop rollout throughput: today's single-process loop against parallel environments.

One run, same policy, same episodes, side by side:

* ``run_rollouts`` — :mod:`workbench.eval.rollout`, one environment, the policy called per decision;
* ``parallel, workers=0`` — :mod:`workbench.eval.parallel`'s loop in this process (serial reference);
* ``parallel, workers=N`` — N environment processes, the policy batched over them in this process.

The policy is the state k-NN of the reference protocol (k = 16, τ = 0.01) on expert demonstrations
generated here, executing 8 actions per decision; the fixed scene camera (the only one today's loop
renders) at 64 px; the policy sees a rendered image at every decision in every variant. Env-steps/s
count environment steps over wall time; the parallel rows reuse open workers whose environments
were built by a first call (``start`` and ``first episodes`` are printed apart): today's loop builds
its environment inside the timed call (about a second).

    python benchmarks/bench_rollouts.py [--episodes 20] [--task reach] [--workers 2] [--demos 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _policy(task: str, demos: int):
    from workbench.data.chunks import action_chunks
    from workbench.data.generate import generate_metaworld_episodes
    from workbench.eval.batch_policies import StateKNN
    from workbench.eval.knn import KNNConfig, KNNPolicy

    eps = list(generate_metaworld_episodes((task,), demos, image_size=32, progress=False))
    ch = [action_chunks(ep.actions, 16) for ep in eps]
    return StateKNN.fit(np.concatenate([ep.state for ep in eps]), np.concatenate([c[0] for c in ch]),
                        np.concatenate([c[1] for c in ch]), KNNPolicy(KNNConfig(k=16, temperature=0.01)))  # fmt: skip


class _OneAtATime:
    """Today's ChunkPolicy interface over the batched policy."""

    def __init__(self, batch) -> None:
        self.batch = batch

    def reset(self) -> None:
        pass

    def __call__(self, image, obs):
        return self.batch(image[None], np.asarray(obs)[None], [""])[0]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--task", default="reach")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--demos", type=int, default=8)
    args = p.parse_args()

    from workbench.eval.parallel import ParallelRolloutConfig, RolloutWorkers, make_specs, run_parallel_rollouts
    from workbench.eval.rollout import RolloutConfig, run_rollouts

    policy = _policy(args.task, args.demos)
    rows = []
    t0 = time.perf_counter()
    r = run_rollouts(lambda task: _OneAtATime(policy), [args.task],
                     RolloutConfig(episodes=args.episodes, execute=8, image_size=64, save_episodes=0))  # fmt: skip
    dt = time.perf_counter() - t0
    rows.append(("run_rollouts (today)", dt, sum(r.tasks[0].steps), sum(r.tasks[0].successes)))
    specs = make_specs([args.task], args.episodes, "fixed")
    cfg = ParallelRolloutConfig(execute=8, image_size=64)
    for w in (0, args.workers):
        t0 = time.perf_counter()
        with RolloutWorkers(w, 64) as pool:
            t1 = time.perf_counter()
            run_parallel_rollouts(policy, specs[: len(pool.slots)], cfg, pool=pool)  # builds the environments
            t2 = time.perf_counter()
            out = run_parallel_rollouts(policy, specs, cfg, pool=pool)
            t3 = time.perf_counter()
        rows.append((f"parallel, workers={w} (warm)", t3 - t2, sum(o.steps for o in out), sum(o.success for o in out)))
        print(f"workers={w}: start {t1 - t0:.1f} s, first episodes (environment build) {t2 - t1:.1f} s")
    base = rows[0][2] / rows[0][1]
    print(f"{args.episodes} episodes of {args.task}, state k-NN (k=16), fixed camera, 64 px, execute 8")
    print("| loop | wall s | env steps | successes | env-steps/s | vs today |")
    print("|---|---|---|---|---|---|")
    for name, dt, steps, succ in rows:
        print(f"| {name} | {dt:.1f} | {steps} | {succ}/{args.episodes} | {steps / dt:.0f} | {steps / dt / base:.2f}x |")


if __name__ == "__main__":
    main()
