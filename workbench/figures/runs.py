"""Trained runs for the notebooks: cached by config, and the one training recipe they share.

Several figures need the same trained run (CLAMP Fig. 7 and Fig. 8; CLASS Fig. 13 and Fig. 14),
and a notebook re-executed with the same settings should not train again. :func:`train_cached`
therefore names a run directory after a hash of its complete config and reuses it when a run of
that config already finished. The runs live under :func:`notebook_runs_root`
(``ACTIONLENS_RUNS``, default the project's ``runs/notebooks``), which the notebook tests point at one temporary
folder for the whole session.

:func:`notebook_config` is the one place that says what ``smoke`` means for a training job
(a few steps on every 4th frame: it only proves the notebook runs) and what the full setting is
(the ``sample`` preset: a useful model on the shipped samples on 2 cores).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.train.config import TrainConfig, make_config

if TYPE_CHECKING:
    from workbench.train.run import TrainedRun

__all__ = ["SAMPLE_RESNET", "SMOKE_OVERRIDES", "CachedRun", "notebook_config", "recipe_config", "train_recipe", "notebook_runs_root", "notebook_dataset", "resolve_dataset", "smoke_dataset", "generated_dataset", "train_clap_vdvae",
           "train_arms", "train_cached"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: CLASS's encoder at the size of the baselines' ``sample`` preset (ResNet-18-GN at quarter width):
#: CLASS itself only has the full ResNet-18, too slow for several runs on 2 CPU cores
SAMPLE_RESNET = {"width_multiplier": 0.25, "num_keypoints": 16, "embed_dim": 64}

#: what every notebook's smoke mode trains: seconds per run, the numbers mean nothing
SMOKE_OVERRIDES = ["steps=3", "batch_size=8", "data.stride=4", "log_every=1", "ckpt_every=3"]


def notebook_runs_root(default: str | Path | None = None) -> Path:
    """Where notebook runs go: ``ACTIONLENS_RUNS`` when set, else ``default`` (the project's
    ``runs/notebooks``, whatever folder the notebook executes in)."""
    return Path(os.environ.get("ACTIONLENS_RUNS", default if default is not None else PROJECT_ROOT / "runs" / "notebooks"))


def resolve_dataset(path: str | Path) -> Path:
    """An absolute dataset path: as given when it exists from here, else relative to the project
    (notebooks execute in their own folder, and runs must find their data from anywhere)."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    return (PROJECT_ROOT / p).resolve()


def smoke_dataset(source: str | Path = "data_samples/metaworld", *, tasks: tuple[str, ...] = ("reach", "push"),
                  per_task: int = 4, root: str | Path | None = None) -> Path:
    """A few episodes of ``source`` (``per_task`` of each of ``tasks``), written once as a LeRobot
    dataset under the runs root and reused: decoding every frame of the full sample costs ~10 s per
    training or evaluation, which smoke runs should not pay."""
    from workbench.data import load_dataset, write_lerobot

    src = resolve_dataset(source)
    out = Path(root) if root is not None else notebook_runs_root() / f"smoke-{src.name}-{'-'.join(tasks)}-{per_task}"
    if (out / "meta" / "info.json").is_file():
        return out.resolve()
    ds = load_dataset(src)
    keep: list[int] = []
    for task in tasks:
        keep += [i.index for i in ds.infos if i.task == task][:per_task]
    if not keep:
        raise ValueError(f"{src}: none of the tasks {tasks} (it has {ds.tasks})")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_lerobot((ds.episode(i) for i in keep), out, lossless=True)
    return out.resolve()


def generated_dataset(tasks: Sequence[str], demos: int, *, camera_setup: str = "fixed", image_size: int = 64,
                      max_steps: int = 100, seed: int = 0, workers: int = 1, root: str | Path | None = None) -> Path:
    """Expert demonstrations made by the generator (scene, wrist and ``scene2`` RGB-D, object
    positions; RGB stored losslessly, so closed-loop frames match the training frames) once under
    the runs root and reused: what a closed-loop notebook trains on. The dataset lands atomically,
    so a cut generation leaves nothing that looks finished."""
    from workbench.data.generate import make_metaworld_dataset
    from workbench.data.normalize import write_dataset_stats

    name = f"metaworld-{'-'.join(tasks)}-{demos}x-{camera_setup}-{image_size}px-{max_steps}steps-s{seed}"
    out = Path(root) if root is not None else notebook_runs_root() / "data" / name
    if (out / "meta" / "workbench_stats.json").is_file():
        return out.resolve()
    if (out / "meta" / "info.json").is_file():  # the dataset landed, its statistics did not
        write_dataset_stats(out, ("raw", "ee"), seed)
        return out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    make_metaworld_dataset(out, tuple(tasks), demos, camera_setups=(camera_setup,), seed=seed, image_size=image_size,
                           max_steps=max_steps, workers=workers, progress=False, lossless=True)  # fmt: skip
    return out.resolve()


def notebook_dataset(dataset: str | Path | None, smoke: bool) -> Path:
    """The dataset a notebook uses: ``dataset`` when given, else the metaworld sample, or in smoke
    mode :func:`smoke_dataset` of it."""
    if dataset is not None:
        return resolve_dataset(dataset)
    return smoke_dataset() if smoke else resolve_dataset("data_samples/metaworld")


def notebook_config(method: str, *, smoke: bool, seed: int = 0, dataset: str | None = None, steps: int | None = None,
                    method_config: dict[str, Any] | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """A validated config: the ``smoke`` preset cut to :data:`SMOKE_OVERRIDES` when ``smoke``, else
    the ``sample`` preset (``steps`` replaces its step count). ``method_config`` entries and
    ``overrides`` (``key=value``) apply last, in both modes."""
    over = [f"seed={seed}", f"data.path={resolve_dataset('data_samples/metaworld')}"]
    if dataset is not None:
        over.append(f"data.path={resolve_dataset(dataset)}")
    if smoke:
        over += SMOKE_OVERRIDES
    elif steps is not None:
        over.append(f"steps={steps}")
    over += [f"method_config.{k}={_yaml_value(v)}" for k, v in (method_config or {}).items()]
    over += list(overrides or [])
    return make_config(method, "smoke" if smoke else "sample", over)


def _yaml_value(v: Any) -> str:
    import yaml

    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("\n...").strip()


@dataclass(frozen=True)
class CachedRun:
    """A run :func:`train_cached` trained or found; :meth:`load` gives its
    :class:`~workbench.train.run.TrainedRun`."""

    run_dir: Path
    config: TrainConfig
    reused: bool  # True when a finished run of this config was found

    @property
    def method(self) -> str:
        return self.config.method

    def load(self, map_location: str = "cpu") -> TrainedRun:
        """The trained run (:class:`workbench.train.run.TrainedRun`), method in eval mode."""
        from workbench.train.run import load_run

        return load_run(self.run_dir, map_location=map_location)


def train_cached(cfg: TrainConfig, *, runs_root: str | Path | None = None, name: str | None = None) -> CachedRun:
    """Train ``cfg`` in this process under ``runs_root/<name or method>-<config hash>``, or reuse
    that directory when a run of the same config already finished there. A run left unfinished
    (interrupted) is deleted and trained again."""
    from workbench.train.deps import config_hash, train_or_reuse
    from workbench.train.loop import train

    root = Path(runs_root) if runs_root is not None else notebook_runs_root()
    path = root / f"{name or cfg.method}-{config_hash(cfg)}"
    return CachedRun(path, cfg, train_or_reuse(cfg, path, train))


def train_clap_vdvae(*, smoke: bool, seed: int = 0, dataset: str | Path | None = None, steps: int | None = None,
                     labelled_fraction: float = 0.25, lambda_con: float | None = None,
                     vdvae_seed: int | None = None) -> tuple[CachedRun, CachedRun]:
    """CLAP's first two stages for the notebooks: an Act-VAE whose image tower is trained with the
    contrastive term (the frozen backbone and codebook), then a VD-VAE on it with a share
    ``labelled_fraction`` of each task's episodes labelled and the rest used as video only.
    ``vdvae_seed`` (default ``seed``) seeds the VD-VAE alone, on the same Act-VAE; every stage uses
    the train/val split of ``seed`` (``data.split_seed``), so seeds of later stages compare on it.
    Returns (act_vae run, vd_vae run); both cached by config like :func:`train_cached`."""
    split = [f"data.split_seed={seed}"]  # one train/val split for every seed of every stage
    act = train_cached(notebook_config("clap_actvae", smoke=smoke, seed=seed, dataset=dataset, steps=steps,
                                       method_config={"contrastive_weight": 1.0}, overrides=["data.chunk_kind=raw", *split]),
                       name="clap-actvae")
    mc: dict[str, Any] = {"actvae_run": str(act.run_dir), "image_run": str(act.run_dir), "labelled_fraction": labelled_fraction}
    if lambda_con is not None:
        mc["lambda_con"] = lambda_con
    vd = train_cached(notebook_config("clap_vdvae", smoke=smoke, seed=seed if vdvae_seed is None else vdvae_seed, dataset=dataset,
                                      steps=steps, method_config=mc, overrides=split),
                      name="clap-vdvae")
    return act, vd


def train_arms(method: str, arms: Mapping[str, dict[str, Any]], seeds: Sequence[int], *, names: Mapping[str, str], smoke: bool,
               split_seed: int = 0, dataset: str | Path | None = None, steps: int | None = None,
               runs_root: str | Path | None = None) -> dict[str, list[CachedRun]]:  # fmt: skip
    """The arms of a comparison (``arm -> method_config``), each trained at every seed of ``seeds``
    on one train/val split (``data.split_seed = split_seed``), so the arms compare on the same
    held-out episodes: ``arm -> [run per seed]``, each cached by config (:func:`train_cached`,
    directory named ``names[arm]``)."""
    return {arm: [train_cached(notebook_config(method, smoke=smoke, seed=s, dataset=dataset, steps=steps, method_config=mc,
                                               overrides=[f"data.split_seed={split_seed}"]),
                               runs_root=runs_root, name=names[arm]) for s in seeds]
            for arm, mc in arms.items()}  # fmt: skip


def recipe_config(method: str, *, smoke: bool, seed: int = 0, dataset: str | Path | None = None, steps: int | None = None,
                  method_config: dict[str, Any] | None = None, overrides: list[str] | None = None) -> TrainConfig:  # fmt: skip
    """The one training recipe the notebooks share, so notebooks asking for the same method reuse
    one cached run: :func:`notebook_config`, with CLASS and BC at :data:`SAMPLE_RESNET` (the full
    setting; smoke keeps the methods' tiny smoke encoders) and CLASS at batch size 32 (it encodes
    two augmented views per image: 32 images a batch = 64 encoder passes, BC's 64 images).
    ``method_config`` entries (e.g. a CLASS design variant, Fig. 4) apply on top."""
    encoder = SAMPLE_RESNET if method in ("class", "bc") and not smoke else {}
    over = ["batch_size=32"] if method == "class" and not smoke else []
    return notebook_config(method, smoke=smoke, seed=seed, dataset=dataset, steps=steps,
                           method_config={**encoder, **(method_config or {})}, overrides=over + list(overrides or []))  # fmt: skip


def train_recipe(method: str, *, smoke: bool, seed: int = 0, dataset: str | Path | None = None, steps: int | None = None,
                 method_config: dict[str, Any] | None = None, overrides: list[str] | None = None,
                 runs_root: str | Path | None = None) -> CachedRun:  # fmt: skip
    """:func:`train_cached` of :func:`recipe_config` (the run directory is named after the method)."""
    cfg = recipe_config(method, smoke=smoke, seed=seed, dataset=dataset, steps=steps, method_config=method_config,
                        overrides=overrides)  # fmt: skip
    return train_cached(cfg, runs_root=runs_root, name=method)
