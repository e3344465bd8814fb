"""What a comparison runs: :class:`CompareConfig`, its full-scale default and the smoke preset.

The default is stage (1) of issue 14's plan — CLASS Table 1's core under the dynamic camera:
32 demonstrations per task of reach, push and pick-place, state k-NN, random encoder, BC, CLASS
and CAIP, two training seeds, 100 closed-loop episodes per task and cell, k-NN and MLP-head
policies, the final checkpoint and the maximum over the saved checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

__all__ = ["CELL_METHODS", "CompareConfig", "METHOD_SETTINGS", "POLICIES", "RANDOM_ENCODER", "STATE_KNN", "UNTRAINED", "smoke_config",
           "split_overrides"]

#: Representations a comparison can hold: "state_knn" needs no training; the rest are trained
#: methods (workbench.methods) whose image encoder the policies read.
CELL_METHODS = ("state_knn", "random_encoder", "bc", "caip", "class", "clamp", "clap_actvae")
#: The reference that trains nothing (evaluated once, under the first training seed).
STATE_KNN = "state_knn"
#: The encoder left at its initial weights: the control for what training adds.
RANDOM_ENCODER = "random_encoder"
#: Trained methods whose weights never change: every checkpoint holds the initial weights, so one is
#: evaluated and "max" over checkpoints is "final".
UNTRAINED = (RANDOM_ENCODER,)
#: Policies per representation: CLASS §4.4's k-NN on ẑ = [proprio, image], its image-only
#: ablation, and an MLP head on the frozen image feature (the parametric setting).
POLICIES = ("knn", "knn_image", "mlp")
#: Training overrides that make a method the representation its paper compares, applied to that
#: method's runs after the comparison-wide ``train_overrides`` (issue 14 stage 5): CLAMP reads
#: depth + XYZ virtual views of the merged point cloud (§III-B; its config's default is the RGB
#: ablation), and ``clap_actvae`` trains CLAP's image tower, aligned by SigLIP to the Act-VAE
#: latents (``contrastive_weight`` > 0; at 0 the tower keeps its random initialisation).
METHOD_SETTINGS: dict[str, tuple[str, ...]] = {
    "clamp": ("method_config.image_input=dxyz",),
    "clap_actvae": ("method_config.contrastive_weight=1",),
}


@dataclass(frozen=True)
class CompareConfig:
    tasks: tuple[str, ...] = ("reach", "push", "pick-place")
    demos: int = 32  # expert demonstrations per task (placement seeds 10000·data_seed + j)
    camera_setup: str = "dynamic"  # fixed / random / dynamic: the data's and the rollouts' camera (CLASS Fig. 3)
    methods: tuple[str, ...] = ("state_knn", "random_encoder", "bc", "class", "caip")
    policies: tuple[str, ...] = ("knn", "mlp")
    seeds: tuple[int, ...] = (0, 1)  # training seeds (each trains every method once)
    episodes: int = 100  # closed-loop episodes per task and cell (seeds 2000 …)
    max_steps: int = 200  # episode cap (the reference protocol)
    preset: str = "sample"  # training preset of every method (workbench.train.config.TRAIN_PRESETS)
    train_overrides: tuple[str, ...] = ()  # key=value overrides applied to every run
    # key=value overrides of one method's runs, after train_overrides (a folder written before
    # this field existed loads with these defaults; runs trained otherwise are refused by name)
    method_overrides: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(METHOD_SETTINGS))
    ckpt_every: int = 500  # a checkpoint (and a "max" evaluation) every N steps; = the preset's steps: final only
    image_size: int = 64  # rendered = trained image side (no resize between data and policy)
    data_seed: int = 0
    action_noise: float = 0.1  # of the expert demonstrations (the reference protocol)
    demo_max_steps: int = 100  # step cap of a demonstration
    knn_k: int = 64  # CLASS App. B Table 4: k_nn = 64
    knn_tau: float = 0.01  # CLASS App. B Table 5: τ_nn = 0.01 (homogeneous)
    per_task_corpus: bool = True  # k-NN retrieves among the evaluated task's samples (the reference protocol's per-task k-NN)
    knn_execute: int = 16  # CLASS App. B Table 4: T_a = 16 (the whole chunk)
    mlp_execute: int = 12  # CLASS App. B Table 7: T_a = 12
    head_steps: int = 1000  # MLP-head training steps on the frozen encoder
    workers: int = 2  # rollout and generation processes
    save_videos: int = 1  # first episodes per cell recorded as mp4
    seed_start: int = 2000  # first evaluation seed (disjoint from the training placements)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept in compare.json
    # the name of this folder's training variant in a collected table (``workbench compare --label``);
    # "" derives it from the settings that differ from the defaults (see :meth:`variant`)
    label: str = ""

    def __post_init__(self) -> None:
        from workbench.data.generate import check_generation

        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "methods", tuple(self.methods))
        object.__setattr__(self, "policies", tuple(self.policies))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "train_overrides", tuple(self.train_overrides))
        object.__setattr__(self, "label", str(self.label).strip())
        if "|" in self.label or "\n" in self.label:
            raise ValueError(f"CompareConfig.label {self.label!r} must be one line without '|' (it names a table row)")
        object.__setattr__(self, "method_overrides", {str(m): tuple(v) for m, v in dict(self.method_overrides).items()})
        check_generation(self.tasks, self.demos, [self.camera_setup])
        bad = [m for m in self.methods if m not in CELL_METHODS]
        if bad:
            raise ValueError(f"unknown method {bad[0]!r}; a comparison holds {', '.join(CELL_METHODS)}")
        bad = [p for p in self.policies if p not in POLICIES]
        if bad:
            raise ValueError(f"unknown policy {bad[0]!r}; policies are {', '.join(POLICIES)}")
        for m, sets in self.method_overrides.items():
            if m not in CELL_METHODS or m == "state_knn":
                trained = ", ".join(x for x in CELL_METHODS if x != "state_knn")
                raise ValueError(f"method_overrides names {m!r}; only trained methods take overrides: {trained}")
            bad = [x for x in sets if "=" not in str(x)]
            if bad:
                raise ValueError(f"method_overrides[{m!r}]: {bad[0]!r} must look like key=value")
        if not self.methods or not self.policies or not self.seeds:
            raise ValueError("a comparison needs at least one method, one policy and one seed")
        for name in ("episodes", "max_steps", "ckpt_every", "image_size", "knn_k", "knn_execute", "mlp_execute", "head_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"CompareConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0 or self.save_videos < 0:
            raise ValueError("CompareConfig.workers and save_videos must be >= 0")
        if self.image_size < 64 and any(m not in ("state_knn",) for m in self.methods):
            raise ValueError(f"CompareConfig.image_size must be >= 64 for the ResNet encoders, got {self.image_size}")
        train0 = 10_000 * self.data_seed  # the generator's placements: train0 … train0 + demos - 1
        if self.seed_start < train0 + self.demos and train0 < self.seed_start + self.episodes:
            raise ValueError(f"evaluation seeds {self.seed_start}… overlap the training placements {train0}…{train0 + self.demos - 1}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompareConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown compare setting {unknown[0]!r}; allowed: {', '.join(sorted(names))}")
        return cls(**d)

    def data_key(self) -> dict[str, Any]:
        """What the dataset depends on: a different value means a different dataset."""
        return {k: getattr(self, k) for k in ("tasks", "demos", "camera_setup", "image_size", "data_seed", "action_noise",
                                             "demo_max_steps")}  # fmt: skip

    def overrides(self, method: str) -> tuple[str, ...]:
        """Every ``key=value`` override of ``method``'s runs, in the order they apply."""
        return (*self.train_overrides, *self.method_overrides.get(method, ()))

    def variant(self, method: str) -> str:
        """What tells ``method``'s cells apart from the default training of the same method, demos
        and camera in a collected table (stage 3's CLASS variants, another preset): the folder's
        ``label`` when set, else its non-default preset and overrides, "" for the defaults. The
        state k-NN trains nothing: always ""."""
        if method == "state_knn":
            return ""
        if self.label:
            return self.label
        parts = [] if self.preset == _DEFAULT_PRESET else [f"preset={self.preset}"]
        parts += list(self.train_overrides)
        if self.method_overrides.get(method, ()) != METHOD_SETTINGS.get(method, ()):
            defaults = METHOD_SETTINGS.get(method, ())
            parts += [f"{method}:{x}" for x in self.method_overrides.get(method, ()) if x not in defaults]
            parts += [f"{method}:without {x}" for x in defaults if x not in self.method_overrides.get(method, ())]
        return ", ".join(parts)

    def evaluation_key(self) -> dict[str, Any]:
        """What a cell's counts depend on beyond its own fields (a changed value must not reuse cells)."""
        return {k: getattr(self, k) for k in ("max_steps", "preset", "train_overrides", "ckpt_every", "knn_k", "knn_tau",
                                             "knn_execute", "mlp_execute", "head_steps", "seed_start", "per_task_corpus")}  # fmt: skip


_DEFAULT_PRESET = next(f.default for f in fields(CompareConfig) if f.name == "preset")


def split_overrides(items: Sequence[str]) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """``--set`` items into ``(train_overrides, method_overrides)``: ``key=value`` applies to every
    run; ``method:key=value`` to that method's runs, after its :data:`METHOD_SETTINGS`."""
    common: list[str] = []
    per = {m: list(v) for m, v in METHOD_SETTINGS.items()}
    for item in items:
        head, sep, _ = item.partition("=")
        if not sep:
            raise ValueError(f"{item!r} must look like key=value or method:key=value")
        if ":" in head:
            method, rest = item.split(":", 1)
            per.setdefault(method.strip(), []).append(rest.strip())
        else:
            common.append(item)
    return tuple(common), {m: tuple(v) for m, v in per.items()}


def smoke_config(**kw: Any) -> CompareConfig:
    """The whole pipeline at toy size: one task, 4 demos, smoke-preset training, 3 episodes per cell."""
    base = CompareConfig(tasks=("reach",), demos=4, methods=("state_knn", "random_encoder", "bc", "class"),
                         policies=("knn", "mlp"), seeds=(0, 1), episodes=3, max_steps=60, preset="smoke",
                         ckpt_every=6, demo_max_steps=60, head_steps=20, workers=2, save_videos=1)  # fmt: skip
    return replace(base, **kw)
