"""``run_compare``: data, training, closed-loop evaluation and the table, resumable at every level.

Layout of the output folder (everything a later session needs to continue)::

    OUT/compare_config.json    the settings; a different dataset or evaluation setting is refused
    OUT/data/                  the demonstrations (LeRobot v3.0), generated once
    OUT/runs/<method>-s<seed>/ one training run per trained method and seed (resumed if cut short)
    OUT/evals/<unit>.json      one closed-loop evaluation: method, policy, task, camera, seed, step, what
                               the policy read ("rgb" frames, CLAMP's depth + XYZ "views", "state")
    OUT/videos/<unit>.mp4      its first episode(s)
    OUT/compare.json           {"cells": [...]}: the final and the max-over-checkpoints cell per unit
    OUT/compare.md             the table with 95 % Wilson intervals per task and pooled
    OUT/compare_figure.html    the plotly figure (its spec in compare_figure.json)
    OUT/compare_demos.html     success vs demos per task (CLASS Fig. 11), where the cells hold several
                               numbers of demos for a camera (a collected table)

Every unit is written atomically when its episodes are done; a killed comparison, run again with
the same settings, skips finished units (and finished runs), resumes unfinished runs from their
last checkpoint and redoes only the unit that was cut.

Each method is trained as its paper compares it (:data:`workbench.compare.config.METHOD_SETTINGS`):
CLAMP on depth + XYZ virtual views, whose rollouts get a worker pool with the rig that computes
those views from live depth of the cameras its data recorded
(:func:`workbench.eval.parallel.make_depth_rig`), and ``clap_actvae`` with CLAP's image tower.

Checkpoints: "final" is the run's last checkpoint; "max" is the best of the evaluations at every
saved checkpoint (every ``ckpt_every`` steps), the papers' "max over evaluations during training"
— optimistic, since the same episodes pick the checkpoint and score it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.atomic import atomic_write_text
from workbench.compare.checkpoints import run_path, saved_steps, settle_max_cells
from workbench.compare.config import STATE_KNN, UNTRAINED, CompareConfig
from workbench.compare.units import CompareError, read_unit, unit_name

if TYPE_CHECKING:
    from workbench.sim.vector_env import DepthRig, RolloutWorkers
    from workbench.train.config import TrainConfig

__all__ = ["CompareError", "CompareResult", "assemble_cells", "describe_cells", "run_compare", "unit_name"]


@dataclass(frozen=True)
class CompareResult:
    out: Path
    cells: list[dict[str, Any]]
    evaluated: int  # units evaluated by this call (0 when everything was already done)
    skipped: int  # units found finished on disk
    seconds: float


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, flush=True)


# -- settings ---------------------------------------------------------------------------------------
def _check_settings(out: Path, cfg: CompareConfig) -> None:
    path = out / "compare_config.json"
    if path.exists():
        try:
            old = CompareConfig.from_dict(json.loads(path.read_text())["config"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise CompareError(f"{path}: unreadable comparison settings ({e}); remove it or choose another --out") from e
        for key in ("data_key", "evaluation_key"):
            a, b = getattr(old, key)(), getattr(cfg, key)()
            diff = [k for k in a if a[k] != b[k]]
            if diff:
                raise CompareError(f"{out} holds a comparison with {diff[0]}={a[diff[0]]!r}, not {b[diff[0]]!r}; "
                                   "continue it with the same settings or choose another --out")  # fmt: skip
        # a method's own overrides matter where both hold it: adding a method to a folder is fine
        for m in (m for m in cfg.methods if m in old.methods):
            a, b = old.method_overrides.get(m, ()), cfg.method_overrides.get(m, ())
            if a != b:
                raise CompareError(f"{out} holds a comparison with method_overrides[{m!r}]={list(a)!r}, not {list(b)!r}; "
                                   "continue it with the same settings or choose another --out")  # fmt: skip
    atomic_write_text(path, json.dumps({"config": cfg.to_dict()}, indent=2, default=list))


# -- data -------------------------------------------------------------------------------------------
def _ensure_data(out: Path, cfg: CompareConfig, quiet: bool) -> Path:
    from workbench.data.generate import make_metaworld_dataset

    from workbench.data.normalize import write_dataset_stats

    root = out / "data"
    if (root / "meta" / "workbench_stats.json").exists():
        return root
    if (root / "meta" / "info.json").exists():  # the dataset landed (atomically), its statistics did not
        write_dataset_stats(root, ("raw", "ee"), cfg.data_seed)
        return root
    _log(f"generating {cfg.demos} demos × {len(cfg.tasks)} tasks ({cfg.camera_setup} camera) into {root}", quiet)
    r = make_metaworld_dataset(root, cfg.tasks, cfg.demos, camera_setups=[cfg.camera_setup], seed=cfg.data_seed,
                               image_size=cfg.image_size, action_noise=cfg.action_noise, max_steps=cfg.demo_max_steps,
                               workers=cfg.workers, progress=not quiet)  # fmt: skip
    _log(f"  {r.frames} frames in {r.seconds:.0f} s ({r.frames_per_second:.0f} frames/s)", quiet)
    return root


# -- training ---------------------------------------------------------------------------------------
def _ensure_run(out: Path, data: Path, cfg: CompareConfig, method: str, seed: int, quiet: bool) -> Path:
    from workbench.train import RunDir, create_run, make_config
    from workbench.train.config import ConfigError
    from workbench.train.loop import train
    from workbench.train.rundir import RunState

    path = run_path(out, method, seed)
    rd = RunDir(path)
    sets = [f"data.path={data.resolve()}", "data.camera=scene", f"data.image_size={cfg.image_size}", "data.val_fraction=0.0",
            f"seed={seed}", f"ckpt_every={cfg.ckpt_every}", "keep_checkpoints=1000", *cfg.overrides(method)]  # fmt: skip
    try:
        rc = make_config(method, cfg.preset, sets)
    except (ConfigError, ValueError) as e:
        raise CompareError(f"{method}: its training settings are refused ({e}); see --set and method_overrides") from e
    if rd.exists():
        _check_run_settings(path, rc, cfg.method_overrides.get(method, ()))
        if rd.read_status().state == RunState.FINISHED.value:
            return path
        _log(f"resuming {path.name}", quiet)
        state = train(path, resume=True, progress=not quiet)
    else:
        create_run(rc, path)
        _log(f"training {path.name} ({rc.steps} steps, preset {cfg.preset})", quiet)
        state = train(path, progress=not quiet)
    if state != RunState.FINISHED:
        raise CompareError(f"{path}: training ended {state.value}; run the comparison again to resume it")
    return path


def _check_run_settings(path: Path, want: TrainConfig, overrides: Sequence[str]) -> None:
    """Refuse a run on disk trained without the method's overrides (e.g. ``clap_actvae`` from a
    folder written before its image tower was switched on: a random tower under CLAP's name)."""
    from workbench.train.config import TrainConfig

    have = TrainConfig.from_yaml(path / "config.yaml").to_dict()
    asked = want.to_dict()
    for item in overrides:
        a, b = have, asked
        for part in item.split("=", 1)[0].strip().split("."):
            a = a.get(part) if isinstance(a, dict) else None
            b = b.get(part) if isinstance(b, dict) else None
        if a != b:
            raise CompareError(f"{path} was trained with {item.split('=', 1)[0]}={a!r}; this comparison's method_overrides "
                               f"ask {b!r}: remove that run folder to retrain it, or choose another --out")  # fmt: skip


# -- policies ---------------------------------------------------------------------------------------
def _state_corpus(data: Path, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int], list[str]]:
    from workbench.data import load_dataset
    from workbench.data.chunks import action_chunks
    from workbench.data.normalize import split_episodes
    from workbench.eval.parallel import placement_seeds

    ds = load_dataset(data)
    eps = [ds.episode(i) for i in split_episodes(ds.infos, 0.0, seed)["train"]]
    ch = [action_chunks(ep.actions, 16) for ep in eps]
    seeds = placement_seeds(eps)
    tasks = [ep.task for ep in eps for _ in range(len(ep))]
    return (np.concatenate([ep.state for ep in eps]), np.concatenate([c[0] for c in ch]), np.concatenate([c[1] for c in ch]),
            seeds, tasks)  # fmt: skip


def _make_policies(run_dir: Path, checkpoint: Path, policies: Sequence[str], cfg: CompareConfig,
                   seed: int) -> tuple[dict[str, Any], DepthRig | None]:  # fmt: skip
    """Every asked policy on one checkpoint (the corpus is embedded once, the head trained once) and
    the rig they read in closed loop: None for RGB frames; for CLAMP's depth + XYZ views, the
    cameras the training data recorded, encoded by the code that made its training views."""
    from workbench.eval.batch_policies import PROPRIO_DIMS, EncoderKNN, HeadPolicy, method_views
    from workbench.eval.features import embed_split, load_split
    from workbench.eval.head_training import HeadConfig, HeadKind, train_head
    from workbench.eval.knn import KNNConfig, KNNPolicy
    from workbench.eval.parallel import make_depth_rig
    from workbench.eval.results import EvalError
    from workbench.train.run import load_run

    restored = load_run(run_dir, checkpoint=checkpoint)
    train = load_split(restored, "train", stride=1)
    if train.state is None:
        raise CompareError(f"{run_dir}: the training data records no state; the k-NN query needs proprioception")
    views = method_views(restored.method)
    rig = None
    if views is not None:
        try:
            rig = make_depth_rig(views, restored.open_dataset().episode(int(train.episode[0])))
        except EvalError as e:
            raise CompareError(f"{run_dir}: {restored.method_name} reads depth + XYZ views that no rollout here can "
                               f"match: {e}") from e  # fmt: skip
    feats = embed_split(restored.method, train)
    texts = train.task_texts()
    knn = KNNConfig(k=cfg.knn_k, temperature=cfg.knn_tau)
    labels = list(train.task) if cfg.per_task_corpus else None
    out: dict[str, Any] = {}
    if "knn" in policies:
        out["knn"] = EncoderKNN.fit(restored.method, feats.image, train.raw, train.raw_mask, KNNPolicy(knn), texts,
                                    proprio=train.state[:, :PROPRIO_DIMS], sample_tasks=labels)  # fmt: skip
    if "knn_image" in policies:
        out["knn_image"] = EncoderKNN.fit(restored.method, feats.image, train.raw, train.raw_mask, KNNPolicy(knn), texts,
                                          sample_tasks=labels)  # fmt: skip
    if "mlp" in policies:
        head = train_head(restored.method, train, HeadConfig(kind=HeadKind.MLP, steps=cfg.head_steps, seed=seed),
                          embeddings=feats.image, method_name=restored.method_name)  # fmt: skip
        out["mlp"] = HeadPolicy(head, texts)
    return out, rig


class _Pools:
    """Rollout workers per kind of input, opened when first needed and kept for every later unit:
    RGB frames (``rig`` None) and one pool per depth rig (CLAMP's views of given cameras)."""

    def __init__(self, workers: int, image_size: int) -> None:
        self.workers, self.image_size = workers, image_size
        self._open: list[tuple[Any, RolloutWorkers]] = []

    def get(self, rig: DepthRig | None) -> RolloutWorkers:
        from workbench.sim.vector_env import RolloutWorkers

        # bound methods compare their instance by identity: key a rig by its cameras and encoder's instance
        key = None if rig is None else (rig.cameras, getattr(rig.encode, "__func__", rig.encode),
                                        getattr(rig.encode, "__self__", None))  # fmt: skip
        for k, pool in self._open:
            if k == key:
                return pool
        pool = RolloutWorkers(self.workers, self.image_size, rig)
        self._open.append((key, pool))
        return pool

    def close(self) -> None:
        for _, pool in self._open:
            pool.close()
        self._open = []


# -- evaluation -------------------------------------------------------------------------------------
def _evaluate(out: Path, name: str, policy: Any, cfg: CompareConfig, pool: Any, key: dict[str, Any], execute: int,
              record: bool, training_seeds: Sequence[int]) -> None:  # fmt: skip
    from workbench.data.video import write_video
    from workbench.eval.parallel import ParallelRolloutConfig, check_disjoint_seeds, make_specs, run_parallel_rollouts

    specs = make_specs([key["task"]], cfg.episodes, cfg.camera_setup, seed_start=cfg.seed_start,
                       save_episodes=cfg.save_videos if record else 0)  # fmt: skip
    check_disjoint_seeds(specs, training_seeds)
    t0 = time.perf_counter()
    rcfg = ParallelRolloutConfig(max_steps=cfg.max_steps, execute=execute, image_size=cfg.image_size, workers=cfg.workers)
    outcomes = run_parallel_rollouts(policy, specs, rcfg, pool=pool)
    videos = []
    for o in outcomes:
        if o.frames is not None:
            rel = Path("videos") / f"{name}__ep{o.spec.seed}.mp4"
            write_video(out / rel, o.frames, 20.0)
            videos.append(str(rel))
    unit = {**key, "episodes": len(outcomes), "successes": int(sum(o.success for o in outcomes)),
            "mean_steps": float(np.mean([o.steps for o in outcomes])), "eval_seeds": [specs[0].seed, specs[-1].seed],
            "execute": execute, "outcomes": [bool(o.success) for o in outcomes], "videos": videos,
            "seconds": round(time.perf_counter() - t0, 2)}  # fmt: skip
    atomic_write_text(out / "evals" / f"{name}.json", json.dumps(unit, indent=1))


def _load_units(out: Path) -> list[dict[str, Any]]:
    return [read_unit(p) for p in sorted((out / "evals").glob("*.json"))]


def assemble_cells(units: Sequence[dict[str, Any]],
                   steps_saved: Mapping[tuple[str, int], Sequence[int] | None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One "final" (last step) cell per (method, policy, task, camera, seed), and one "max" (most
    successes over steps; earliest on ties) where every checkpoint its run saved was evaluated:
    ``steps_saved[(method, seed)]`` (:func:`workbench.compare.checkpoints.saved_steps`; a run it does
    not name has no "max" cell). Each cell records ``steps_evaluated`` and ``steps_saved``."""
    steps_saved = steps_saved or {}
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for u in units:
        groups.setdefault((u["method"], u["policy"], u["task"], u["camera_setup"], u["seed"]), []).append(u)
    cells = []
    for (method, _, _, _, seed), us in sorted(groups.items()):
        us = sorted(us, key=lambda u: u["step"])
        saved = steps_saved.get((method, int(seed)))
        steps = {"steps_evaluated": [x["step"] for x in us]} | ({} if saved is None else {"steps_saved": sorted(int(s) for s in saved)})
        final = us[-1]
        best = max(us, key=lambda u: (u["successes"], -u["step"]))
        for kind, u in (("final", final), ("max", best)):
            cells.append({k: u[k] for k in ("method", "policy", "task", "camera_setup", "seed", "episodes", "successes", "step")}
                         | {"checkpoint": kind, **steps, "videos": u.get("videos", [])})  # fmt: skip
    return settle_max_cells(cells)  # the incomplete "max" cells out


def folder_cells(out: Path, cfg: CompareConfig) -> list[dict[str, Any]]:
    """The cells of the comparison folder ``out`` from its evaluations on disk, each run's saved
    checkpoints read from ``out/runs`` (a "max" only where they were all evaluated)."""
    units = _load_units(out)
    runs = {(u["method"], int(u["seed"])) for u in units}
    return describe_cells(assemble_cells(units, {r: saved_steps(out, *r) for r in runs}), cfg)


def describe_cells(cells: Sequence[dict[str, Any]], cfg: CompareConfig) -> list[dict[str, Any]]:
    """``cells`` with what tells them apart from other comparison folders' in a collected table:
    ``demos`` per task and the training ``variant`` (:meth:`CompareConfig.variant`)."""
    return [c | {"demos": cfg.demos, "variant": cfg.variant(c["method"])} for c in cells]


#: What every compare.json says about its cells (a collected table adds where they come from).
NOTES = ("'max' is the best of the evaluations at every saved checkpoint, chosen on the same episodes it is scored on: "
         "optimistic; it is shown only once every checkpoint its run saved is evaluated (steps_saved within "
         "steps_evaluated), for every training seed of its row. No ImageNet weights exist here: every encoder starts "
         "from scratch.")  # fmt: skip


def write_results(out: Path, doc: dict[str, Any], *, figures: bool = True) -> None:
    """``doc`` (its ``cells``) as ``out``'s compare.json (left as it is when unchanged), compare.md
    and, with ``figures``, the figures: one writer for a comparison folder and a collected table.
    The runner writes the table after every unit and the figures (whose cost grows with the cells)
    at the end of each group of units and of the run."""
    from workbench.compare.differences import differences_markdown
    from workbench.compare.table import compare_table, compare_table_markdown
    from workbench.viz.compare import demo_sweep_cameras, plot_compare, plot_demo_sweep
    from workbench.viz.save import save_figure

    cells = doc["cells"]
    text = json.dumps(doc, indent=1, default=list)
    path = out / "compare.json"
    if not path.exists() or path.read_text() != text:
        atomic_write_text(path, text)
    md = [compare_table_markdown(cells), differences_markdown(out, cells)]
    atomic_write_text(out / "compare.md", "\n".join(x for x in md if x))
    if cells and figures:
        table = compare_table(cells)
        save_figure(plot_compare(table), "compare_figure", out)  # .html (+ plotly.js beside it) and .json
        if demo_sweep_cameras(table):  # a collected table with several numbers of demos: CLASS Fig. 11
            save_figure(plot_demo_sweep(table), "compare_demos", out)
        else:  # one left by an earlier collection of other folders would show what is not here
            for old in (out / "compare_demos.html", out / "compare_demos.json"):
                old.unlink(missing_ok=True)


def _write_results(out: Path, cfg: CompareConfig, cells: list[dict[str, Any]], *, figures: bool = True) -> None:
    write_results(out, {"config": cfg.to_dict(), "cells": cells, "notes": NOTES}, figures=figures)


def run_compare(out: str | Path, cfg: CompareConfig, *, quiet: bool = False,
                on_unit: Callable[[str], None] | None = None) -> CompareResult:  # fmt: skip
    """Run (or continue) the comparison ``cfg`` in ``out``; see the module docstring.

    ``on_unit(name)`` is called after each evaluation unit is saved (tests stop a run there).
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, cfg)
    data = _ensure_data(out, cfg, quiet)
    state, chunks, mask, training_seeds, state_tasks = _state_corpus(data, cfg.seeds[0])
    done = {p.stem for p in (out / "evals").glob("*.json")} if (out / "evals").exists() else set()
    evaluated = skipped = 0
    pools = _Pools(cfg.workers, cfg.image_size)
    try:
        # Two passes: every (seed, method)'s final checkpoint first, so that a comparison cut short
        # already holds the "final" table for all of them; then the earlier checkpoints ("max").
        for final_pass in (True, False):
            for seed in cfg.seeds:
                for method in cfg.methods:
                    if method == STATE_KNN and seed != cfg.seeds[0]:
                        continue  # nothing trained: every seed would repeat the same episodes exactly
                    if method == STATE_KNN:
                        if not final_pass:
                            continue
                        steps_ckpts: list[tuple[int, Path | None]] = [(0, None)]
                        run_dir = None
                        policies = ("knn",)
                    else:
                        run_dir = _ensure_run(out, data, cfg, method, seed, quiet)
                        from workbench.train import RunDir

                        steps_ckpts = [(s, p) for s, p in RunDir(run_dir).checkpoints()]
                        if method in UNTRAINED:  # its checkpoints are all the initial weights: evaluate one
                            steps_ckpts = steps_ckpts[-1:]
                        policies = cfg.policies
                    final_step = steps_ckpts[-1][0]
                    steps_ckpts = steps_ckpts[-1:] if final_pass else steps_ckpts[:-1]
                    for step, ckpt in steps_ckpts:
                        todo = [(pol, task) for pol in policies for task in cfg.tasks
                                if unit_name(method, pol, task, cfg.camera_setup, seed, step) not in done]  # fmt: skip
                        skipped += len(policies) * len(cfg.tasks) - len(todo)
                        if not todo:
                            continue
                        rig = None
                        if method == STATE_KNN:
                            from workbench.eval.batch_policies import StateKNN
                            from workbench.eval.knn import KNNConfig, KNNPolicy

                            # the reference protocol's state k-NN: standardised 39-D state, cosine
                            knn = KNNPolicy(KNNConfig(k=cfg.knn_k, temperature=cfg.knn_tau))
                            made = {"knn": StateKNN.fit(state, chunks, mask, knn, state_tasks if cfg.per_task_corpus else None)}
                        else:
                            made, rig = _make_policies(run_dir, ckpt, sorted({p for p, _ in todo}), cfg, seed)  # type: ignore[arg-type]
                        pool = pools.get(rig)
                        for pol, task in todo:
                            name = unit_name(method, pol, task, cfg.camera_setup, seed, step)
                            key = {"method": method, "policy": pol, "task": task, "camera_setup": cfg.camera_setup, "seed": seed,
                                   "step": step, "reads": "state" if method == STATE_KNN else "views" if rig is not None else "rgb"}  # fmt: skip
                            execute = cfg.mlp_execute if pol == "mlp" else cfg.knn_execute
                            _log(f"evaluating {name} ({cfg.episodes} episodes)", quiet)
                            _evaluate(out, name, made[pol], cfg, pool, key, execute, step == final_step, training_seeds)
                            evaluated += 1
                            # the table so far, after every unit: a comparison cut short leaves its results;
                            # the figures only after a (seed, method, checkpoint) group's last unit: redrawn
                            # after every unit, their cost (growing with the cells) would make a run's writing quadratic
                            _write_results(out, cfg, folder_cells(out, cfg), figures=(pol, task) == todo[-1])
                            if on_unit is not None:
                                on_unit(name)
    finally:
        pools.close()
    cells = folder_cells(out, cfg)
    _write_results(out, cfg, cells)
    return CompareResult(out, cells, evaluated, skipped, time.perf_counter() - t0)
