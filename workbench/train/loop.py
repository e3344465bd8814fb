"""The training loop: one function that trains a run directory to the end, or to a stop.

Determinism: the batch at step ``s`` and every random draw inside the step (augmentations, noise)
come from generators seeded by ``(seed, s)``, so the same config gives the same metrics on the CPU
and a run stopped and resumed from a checkpoint follows the uninterrupted trajectory exactly.

Stopping: SIGTERM (and SIGINT) set a flag; the loop finishes its step, writes a checkpoint and exits
with state ``stopped``. SIGKILL leaves the last periodic checkpoint, from which ``resume`` goes on.

Distributed: under ``torchrun --nproc_per_node N`` each rank takes its slice of the same global
batch, the model is wrapped in DDP (gloo on CPU, NCCL on GPU), and the contrastive losses gather
embeddings across ranks so negatives come from the global batch (as open_clip and big_vision do).
Rank 0 alone writes the run directory.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.train.checkpoint import load_checkpoint, save_checkpoint
from workbench.train.config import TrainConfig
from workbench.train.optim import EMA, make_optimizer
from workbench.train.rundir import JobError, RunDir, RunState

__all__ = ["train", "lr_at", "batch_indices", "select_device", "build_training", "TrainingSetup"]


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to zero (CAIP App. C.3)."""
    peak, warm, total = cfg.optim.lr, cfg.optim.warmup_steps, cfg.steps
    if warm and step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> np.ndarray:
    """The global batch at ``step``: consecutive slices of a per-epoch permutation, seeded.

    A pure function of its arguments, so resuming needs no sampler state.
    """
    out = []
    pos = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(pos, n)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        take = perm[offset : offset + batch_size - len(out)]
        out.extend(take.tolist())
        pos += len(take)
    return np.asarray(out)


def _seed_step(seed: int, step: int, rank: int = 0) -> None:
    s = (seed * 1_000_003 + step * 7919 + rank) % (2**31)
    torch.manual_seed(s)
    np.random.seed(s)


class _Step(torch.nn.Module):
    """Routes ``forward`` to ``training_step`` so DDP's hooks see the computation."""

    def __init__(self, method: torch.nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: dict) -> dict:
        return self.method.training_step(batch)


@dataclass
class TrainingSetup:
    """What :func:`build_training` assembles from a config: the data, the method, its metadata."""

    dataset: object  # FrameChunkDataset of the training split
    method: torch.nn.Module
    split: dict[str, list[int]]
    norm_stats: object
    meta: dict  # JSON-able: what checkpoints carry so evaluation can rebuild everything


def build_training(cfg: TrainConfig, *, device: torch.device | None = None, progress: bool = False,
                   runs_root: str | Path | None = None) -> TrainingSetup:
    """Load the dataset, split it, compute chunk statistics on the training split, build the method
    (on the trained runs it builds on, trained first into ``runs_root/deps`` when ``"auto"``)."""
    from workbench.train.deps import load_dependencies

    from workbench.data import load_dataset
    from workbench.data.catalog import resolve_dataset_path
    from workbench.data.chunks import dataset_chunks
    from workbench.data.normalize import compute_norm_stats, split_episodes
    from workbench.data.training_samples import FrameChunkDataset
    from workbench.methods import METHODS, build_method

    ds = load_dataset(resolve_dataset_path(cfg.data.path))
    split = split_episodes(ds.infos, cfg.data.val_fraction, cfg.seed if cfg.data.split_seed is None else cfg.data.split_seed)
    train_eps = [ds.episode(i) for i in split["train"]]
    ch = dataset_chunks(train_eps, cfg.data.chunk_kind, cfg.data.horizon)
    stats = compute_norm_stats(ch.values, ch.mask)
    method_cls = METHODS[cfg.method][1]
    extra = method_cls.loader_kwargs(cfg.method_config_object())
    data = FrameChunkDataset(
        train_eps,
        camera=cfg.data.camera,
        chunk_kind=cfg.data.chunk_kind,
        horizon=cfg.data.horizon,
        stride=cfg.data.stride,
        image_size=cfg.data.image_size,
        history=cfg.data.history,
        norm_stats=stats,
        **extra,
    )
    from workbench.train.run import load_run

    runs, method_config = load_dependencies(cfg.method, cfg.method_config, load=load_run, train=train, train_config=cfg,
                                            runs_root=runs_root, map_location=device or "cpu")
    torch.manual_seed(cfg.seed)
    sample_meta = data.meta()
    method = build_method(cfg.method, method_config, sample_meta, runs=runs)
    if device is not None:
        method.to(device)
    method.prepare(data)
    meta = {
        "method": cfg.method,
        "method_config": method_config,  # with the runs it builds on as concrete directories
        "sample_meta": sample_meta.to_dict(),
        "norm_stats": stats.to_dict(),
        "split": split,
        "data": cfg.to_dict()["data"],
    }
    return TrainingSetup(data, method, split, stats, meta)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def _dist_env() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def train(run_dir: str | Path, *, resume: bool = False, progress: bool = False) -> RunState:
    """Train the run in ``run_dir`` (its ``config.yaml`` must exist); returns the final state."""
    import torch.distributed as dist

    rd = RunDir(run_dir)
    if not rd.exists():
        raise JobError(f"{rd.path}: no config.yaml; create the run with `workbench train` first")
    cfg = TrainConfig.from_yaml(rd.config_path)
    rank, world, local_rank = _dist_env()
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
        dist.init_process_group(backend)
    lead = rank == 0
    if lead:
        rd.acquire()
    stop = {"flag": False}

    def on_signal(signum, frame):  # finish the step, checkpoint, exit
        stop["flag"] = True

    old_term = signal.signal(signal.SIGTERM, on_signal)
    old_int = signal.signal(signal.SIGINT, on_signal)
    try:
        return _train(rd, cfg, resume=resume, progress=progress and lead, rank=rank, world=world,
                      local_rank=local_rank, stop=stop)  # fmt: skip
    except Exception as e:
        if lead:
            rd.log("failed:\n" + traceback.format_exc())
            rd.update_status(state=RunState.FAILED, error=f"{type(e).__name__}: {e}", pid=os.getpid(), finished=time.time())
        raise
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
        if lead:
            rd.release()
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(rd: RunDir, cfg: TrainConfig, *, resume: bool, progress: bool, rank: int, world: int, local_rank: int, stop: dict) -> RunState:
    from tqdm.auto import tqdm

    from workbench.data.training_samples import collate

    lead = rank == 0
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = select_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if cfg.batch_size % world:
        raise JobError(f"batch_size {cfg.batch_size} is not divisible by the {world} processes")
    if lead:
        rd.update_status(state=RunState.RUNNING, pid=os.getpid(), started=time.time(), total_steps=cfg.steps, error=None)
        rd.log(f"start on {device} (rank {rank} of {world}), resume={resume}")
    setup = build_training(cfg, device=device, runs_root=rd.path.parent)
    method, data = setup.method, setup.dataset
    params = [p for p in method.parameters() if p.requires_grad]
    groups = [g for g in method.param_groups() if g["params"]] if params else []  # a group's lr_scale scales lr_at
    opt = make_optimizer(groups, cfg.optim)
    ema = EMA(method, cfg.optim.ema_power) if cfg.optim.ema_power > 0 else None
    start = 0
    if resume:
        latest = rd.latest_checkpoint()
        if latest is not None:
            ck = load_checkpoint(latest, map_location=device)
            # with an EMA the checkpoint's model is the average (what evaluation loads), the live
            # weights travel beside it
            method.load_state_dict(ck.extra if ema is not None and ck.extra else ck.model)
            if ema is not None:
                ema.load_state_dict(ck.model)
            if ck.optimizer is not None:
                opt.load_state_dict(ck.optimizer)
            start = int(ck.meta["step"])
            if lead:
                rd.truncate_metrics(start)
                rd.update_status(resumed_from=start, step=start)
                rd.log(f"resumed from {latest.name} at step {start}")
    model: torch.nn.Module = _Step(method)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    per_rank = cfg.batch_size // world
    bar = tqdm(total=cfg.steps, initial=start, desc=f"train {cfg.method}", disable=not progress)
    t0 = time.time()
    state = RunState.FINISHED
    done = start
    for step in range(start, cfg.steps):
        idx = batch_indices(step, len(data), cfg.batch_size, cfg.seed)[rank * per_rank : (rank + 1) * per_rank]
        _seed_step(cfg.seed, step, rank)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg) * g.get("lr_scale", 1.0)
        model.train()
        opt.zero_grad(set_to_none=True)
        micro = cfg.optim.accumulate
        for part in np.array_split(idx, micro):  # gradient accumulation: the mean over micro-batches
            batch = _to_device(collate([data[int(i)] for i in part]), device)
            with autocast:
                out = model(batch)
            loss = out["loss"]
            if not torch.isfinite(loss):
                raise JobError(f"loss is {loss.item()} at step {step + 1}; lower optim.lr or check the data")
            if loss.requires_grad:
                (loss / micro).backward()
        if loss.requires_grad:
            if cfg.optim.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            opt.step()
            if ema is not None:
                ema.update(method, step + 1)
            method.after_step()
        done = step + 1
        if world > 1:  # report the global-batch mean of every metric
            import torch.distributed as dist

            for k, v in out.items():
                if torch.is_tensor(v) and v.numel() == 1:
                    v = v.detach().float().clone()
                    dist.all_reduce(v)
                    out[k] = v / world
        if world > 1:  # a stop seen by any rank stops every rank at the same step
            import torch.distributed as dist

            flag = torch.tensor([1.0 if stop["flag"] else 0.0], device=device)
            dist.all_reduce(flag)
            stop["flag"] = bool(flag.item() > 0)
        bar.update(1)
        if lead and (done % cfg.log_every == 0 or done == cfg.steps or stop["flag"]):
            rec = {"step": done, "lr": lr_at(step, cfg), "time": round(time.time() - t0, 3)}
            rec.update({k: float(v.detach().float().item()) for k, v in out.items() if torch.is_tensor(v) and v.numel() == 1})
            rd.append_metrics(rec)
            rd.update_status(step=done)
            bar.set_postfix(loss=f"{rec['loss']:.4f}")
        if done % cfg.ckpt_every == 0 or done == cfg.steps or stop["flag"]:
            if lead:
                _checkpoint(rd, method, opt, setup.meta, done, cfg, ema)
        if stop["flag"]:
            state = RunState.STOPPED
            break
    bar.close()
    if lead:
        rd.update_status(state=state, step=done, finished=time.time())
        rd.log(f"{state.value} at step {done}")
    return state


def _checkpoint(rd: RunDir, method, opt, meta: dict, step: int, cfg: TrainConfig, ema: EMA | None = None) -> None:
    if ema is None:
        path = save_checkpoint(rd.checkpoint_path(step), method, opt, meta={**meta, "step": step})
    else:  # the average is the model evaluation loads; the live weights are kept to resume
        path = save_checkpoint(rd.checkpoint_path(step), ema.state_dict(), opt, meta={**meta, "step": step, "ema": True},
                               extra=method.state_dict())  # fmt: skip
    rd.set_latest(path)
    for _, old in rd.checkpoints()[: -cfg.keep_checkpoints]:
        old.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m workbench.train.loop RUN_DIR [--resume]``: what the runner starts (and torchrun)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m workbench.train.loop")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    try:
        state = train(args.run_dir, resume=args.resume, progress=args.progress)
    except JobError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if state in (RunState.FINISHED, RunState.STOPPED) else 1


if __name__ == "__main__":
    sys.exit(main())
