"""CLAP's policies on the latent action space: the token policy CLAP-NTP (paper 001 §III-D,
Algorithm 3, Eq. 5) and its post-training with a rectified-flow head and Knowledge Matching,
CLAP-RF (§III-E, Algorithm 4, Eq. 6–7).

**clap_ntp** trains a small autoregressive :class:`~workbench.models.token_policy.TokenPolicy` on
``(o_t, I) -> z_a``: for robot samples (the VD-VAE run's labelled episodes) the Act-VAE tokens of
the true chunk, for video samples (the others) the VD-VAE's pseudo tokens ``ẑ_a`` of the transition
``(o_t, o_{t+H})`` — both computed once before training. ``use_video=False`` drops the video
samples: the robot-demos-only arm of the claim "pseudo-labelled video helps". Its chunk at run time
is the greedy token sequence decoded by the frozen Act-VAE decoder. The paper's sub-task tokens
(``Y = [y_sub, z_a]``) are left out: the data has no sub-task annotations.

**clap_rf** is Algorithm 4's Stage 2 on a trained clap_ntp run (Stage 1, NTP adaptation on new
target data, is that run's own training): the reference ``φ_ref`` is the NTP run, frozen; the
trainable branch ``φ_policy`` starts as a copy of its token policy; a flow-matching head ``f^a``
(:class:`~workbench.models.heads.FlowMatchingHead`, Beta time sampling as in §IV-C2) is
conditioned on the branch's representation ``h_t`` (its hidden state at BOS) and trained on robot
chunks only with ``L_post = L_RF + α L_KL``, where ``L_KL`` (Eq. 7) is the reverse KL from the
branch's token distributions to the reference's on the robot tokens' contexts. ``alpha = 0`` is
the ablation without Knowledge Matching.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from workbench.methods.base import Method, MethodConfig, RunDependency
from workbench.methods.clap_vdvae import VDVAEMethod
from workbench.models.config import check_heads, check_positive
from workbench.models.heads import FlowMatchingHead, FlowMatchingHeadConfig, TimeSampling
from workbench.models.token_policy import TokenPolicy, TokenPolicyConfig, reverse_kl, token_nll

__all__ = ["ClapNTP", "ClapNTPConfig", "ClapRF", "ClapRFConfig"]


def _refuse(owner: str, run: Any, dependant: str, problem: str) -> ValueError:
    return ValueError(f"{owner} cannot build on run {run.id!r} ({dependant}): {problem}")


class _ChunkScale(nn.Module):
    """The data's chunk statistics as buffers (set in prepare, saved in checkpoints)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set(self, stats: Any) -> None:
        if stats is not None:
            self.mean.copy_(torch.as_tensor(stats.mean, dtype=torch.float32))
            self.std.copy_(torch.as_tensor(np.maximum(stats.std, stats.eps), dtype=torch.float32))

    def raw(self, chunk: torch.Tensor) -> torch.Tensor:
        return chunk * self.std + self.mean

    def normalized(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw - self.mean) / self.std


# -- CLAP-NTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClapNTPConfig(MethodConfig):
    vdvae_run: str = "auto"  # the clap_vdvae run whose Act-VAE gives robot tokens and which pseudo-labels video
    use_video: bool = True  # train on the VD-VAE's pseudo tokens of the video episodes too (False: robot only)
    width: int = 64  # transformer width
    depth: int = 2  # joint transformer blocks
    vision_depth: int = 1  # ViT blocks
    heads: int = 4  # attention heads; must divide width
    patch_size: int = 8  # ViT patch
    max_text: int = 16  # instruction tokens kept
    frame_gap: int = 16  # H between o_t and o_{t+H} for pseudo-labelling; must equal data.horizon

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(width=32, depth=1, heads=2),
        "sample": dict(width=64, depth=2, heads=4),
        "paper": dict(frame_gap=32),  # chunk 32 (Table IX); the paper's policy is a 4B VLM
    }
    TRAIN_PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # Table IX (CLAP-NTP): peak lr 5e-5, 1,000 warm-up steps, 150,000 steps (ours decays to 0, not 5e-6)
        "paper": {"steps": 150_000, "data": {"horizon": 32}, "optim": {"lr": 5e-5, "warmup_steps": 1000}},
    }

    def __post_init__(self) -> None:
        check_positive(self, width=self.width, depth=self.depth, vision_depth=self.vision_depth, heads=self.heads,
                       patch_size=self.patch_size, max_text=self.max_text, frame_gap=self.frame_gap)
        check_heads(self)
        if not self.vdvae_run:
            raise ValueError("ClapNTPConfig.vdvae_run must name a clap_vdvae run (a directory, an id, or 'auto')")


class ClapNTP(Method):
    name: ClassVar[str] = "clap_ntp"
    config_class: ClassVar[type[MethodConfig]] = ClapNTPConfig
    data_defaults: ClassVar[dict[str, Any]] = {"chunk_kind": "raw"}  # decoded tokens are executed

    @classmethod
    def dependencies(cls, config: MethodConfig) -> dict[str, RunDependency]:
        return {"vdvae": RunDependency("vdvae_run", "clap_vdvae")}

    @classmethod
    def loader_kwargs(cls, config: ClapNTPConfig) -> dict[str, Any]:
        return {"future_offset": config.frame_gap}

    def build(self) -> None:
        cfg: ClapNTPConfig = self.config  # type: ignore[assignment]
        run = self.runs["vdvae"]
        if not isinstance(run.method, VDVAEMethod):
            raise _refuse("clap_ntp", run, "vdvae_run", f"it is a {run.method_name!r} run, not clap_vdvae")
        vm, m = run.sample_meta, self.meta
        if (vm.chunk_kind, vm.horizon, vm.chunk_dim, vm.image_size) != (m.chunk_kind, m.horizon, m.chunk_dim, m.image_size):
            raise _refuse("clap_ntp", run, "vdvae_run", f"it was trained on {vm.chunk_kind} chunks {vm.horizon}x{vm.chunk_dim} "
                          f"at {vm.image_size}px, this data gives {m.chunk_kind} {m.horizon}x{m.chunk_dim} at {m.image_size}px")
        self.vdvae: VDVAEMethod = run.method.requires_grad_(False).eval()
        avc = self.vdvae.actvae.act_vae.config
        self.tokenizer = self.make_tokenizer()
        self.policy = TokenPolicy(TokenPolicyConfig(
            image_size=m.image_size, in_channels=m.image_channels, patch_size=cfg.patch_size, vision_depth=cfg.vision_depth,
            vocab_size=self.tokenizer.vocab_size, max_text=cfg.max_text, num_codes=avc.codebook_size, seq_len=avc.num_registers,
            width=cfg.width, depth=cfg.depth, heads=cfg.heads))
        self.scale = _ChunkScale(m.chunk_dim)
        self.targets = torch.zeros(0, avc.num_registers, dtype=torch.long)  # per training sample (prepare)
        self.weights = torch.zeros(0)
        self.robot = torch.zeros(0, dtype=torch.bool)

    def train(self, mode: bool = True) -> ClapNTP:
        super().train(mode)
        self.vdvae.eval()
        return self

    @torch.no_grad()
    def prepare(self, dataset: Any) -> None:
        """Robot tokens for the VD-VAE's labelled episodes, pseudo tokens for the others (Alg. 3 lines 5–9)."""
        from workbench.data.training_samples import collate

        cfg: ClapNTPConfig = self.config  # type: ignore[assignment]
        if getattr(dataset, "future_offset", 0) != cfg.frame_gap:
            raise ValueError(f"clap_ntp: method_config.frame_gap ({cfg.frame_gap}) must equal data.horizon ({self.meta.horizon})")
        self.scale.set(dataset.norm_stats)
        robot_eps = torch.tensor(sorted(self.vdvae.labelled_split(dataset)), dtype=torch.long)
        targets, robot = [], []
        for s in range(0, len(dataset), 128):
            b = collate([dataset[i] for i in range(s, min(s + 128, len(dataset)))])
            true = self.vdvae.raw_action_tokens(self.scale.raw(b["chunk"].to(self.device)), b["mask"])
            is_robot = torch.isin(b["episode"], robot_eps).to(self.device)
            if cfg.use_video:
                pseudo = self.vdvae.pseudo_tokens(b["image"], b["future_image"], b["text"])
                true = torch.where(is_robot[:, None], true, pseudo)
            targets.append(true.cpu())
            robot.append(is_robot.cpu())
        self.targets, self.robot = torch.cat(targets), torch.cat(robot)
        self.weights = (self.robot | torch.tensor(cfg.use_video)).float()

    def text_ids(self, texts: list[str] | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokenize(texts, n, self.config.max_text)  # type: ignore[attr-defined]

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        if len(self.targets) == 0:
            raise RuntimeError("clap_ntp has no token targets yet: call prepare(train_dataset) before training")
        b = self.to_device(batch)
        idx = b["index"].cpu()
        y, w, robot = self.targets[idx].to(self.device), self.weights[idx].to(self.device), self.robot[idx].to(self.device)
        ids, mask = self.text_ids(b["text"], len(idx))
        out = self.policy(b["image"], ids, mask, self.policy.shift_right(y))
        nll = token_nll(out.logits, y)  # (B,) Eq. 5
        loss = (nll * w).sum() / w.sum().clamp_min(1.0)
        hit = (out.logits.argmax(-1) == y).float().mean(1)
        metrics = {"nll": loss.detach(), "robot_share": robot.float().mean()}
        if bool(robot.any()):
            metrics["robot_token_accuracy"] = hit[robot].mean().detach()
        return {"loss": loss, **metrics}

    @torch.no_grad()
    def generate_tokens(self, images: torch.Tensor, texts: list[str] | None = None) -> torch.Tensor:
        ids, mask = self.text_ids(texts, images.shape[0])
        return self.policy.generate(images.to(self.device), ids, mask)

    @torch.no_grad()
    def predict_chunk(self, images: torch.Tensor, texts: list[str] | None = None, seed: int = 0) -> torch.Tensor:
        """Greedy tokens decoded by the Act-VAE decoder -> un-normalised chunks (B, H, D)."""
        return self.vdvae.decode_tokens(self.generate_tokens(images, texts))

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """The token policy's context at BOS, L2-normalised (B, W)."""
        return self.normalize(self.policy.context(images.to(self.device), *self.text_ids(text, images.shape[0])))


# -- CLAP-RF + Knowledge Matching ------------------------------------------------------------------


@dataclass(frozen=True)
class ClapRFConfig(MethodConfig):
    ntp_run: str = "auto"  # the clap_ntp run: the frozen reference φ_ref and the start of φ_policy
    alpha: float = 0.1  # KM weight α in L_post = L_RF + α L_KL (0 = no Knowledge Matching)
    hidden: int = 256  # flow head hidden width
    head_depth: int = 3  # flow head hidden layers
    time_sampling: str = "beta"  # flow time: "beta" (CLAP §IV-C2, Beta(1.5, 1)) or "uniform"
    num_steps: int = 10  # Euler steps when sampling a chunk
    noise_samples: int = 4  # (t, ε) draws per robot chunk in Eq. 6's expectation (lowers the loss's variance)

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(hidden=64, head_depth=2),
        "sample": dict(hidden=256, head_depth=3),
    }

    def __post_init__(self) -> None:
        check_positive(self, hidden=self.hidden, head_depth=self.head_depth, num_steps=self.num_steps,
                       noise_samples=self.noise_samples)
        TimeSampling(self.time_sampling)
        if self.alpha < 0:
            raise ValueError(f"ClapRFConfig.alpha must be >= 0, got {self.alpha!r}")
        if not self.ntp_run:
            raise ValueError("ClapRFConfig.ntp_run must name a clap_ntp run (a directory, an id, or 'auto')")


class ClapRF(Method):
    name: ClassVar[str] = "clap_rf"
    config_class: ClassVar[type[MethodConfig]] = ClapRFConfig
    data_defaults: ClassVar[dict[str, Any]] = {"chunk_kind": "raw"}

    @classmethod
    def dependencies(cls, config: MethodConfig) -> dict[str, RunDependency]:
        return {"ntp": RunDependency("ntp_run", "clap_ntp")}

    def build(self) -> None:
        cfg: ClapRFConfig = self.config  # type: ignore[assignment]
        run = self.runs["ntp"]
        if not isinstance(run.method, ClapNTP):
            raise _refuse("clap_rf", run, "ntp_run", f"it is a {run.method_name!r} run, not clap_ntp")
        nm, m = run.sample_meta, self.meta
        if (nm.chunk_kind, nm.horizon, nm.chunk_dim, nm.image_size, nm.vocab) != (m.chunk_kind, m.horizon, m.chunk_dim, m.image_size, m.vocab):
            raise _refuse("clap_rf", run, "ntp_run", "it was trained on other chunks, images or instructions than this data's")
        self.reference: ClapNTP = run.method.requires_grad_(False).eval()  # φ_ref, frozen (Alg. 4 line 13)
        self.policy = copy.deepcopy(self.reference.policy).requires_grad_(True)  # φ_policy ← φ_NTP (line 14)
        self.tokenizer = self.reference.tokenizer
        self.head = FlowMatchingHead(FlowMatchingHeadConfig(
            cond_dim=self.policy.config.width, horizon=m.horizon, action_dim=m.chunk_dim, hidden=cfg.hidden,
            depth=cfg.head_depth, time_sampling=TimeSampling(cfg.time_sampling), num_steps=cfg.num_steps, gated_skip=True))
        self.scale = _ChunkScale(m.chunk_dim)
        self.robot_episodes = torch.zeros(0, dtype=torch.long)

    def train(self, mode: bool = True) -> ClapRF:
        super().train(mode)
        self.reference.eval()
        return self

    def prepare(self, dataset: Any) -> None:
        self.scale.set(dataset.norm_stats)
        self.robot_episodes = torch.tensor(sorted(self.reference.vdvae.labelled_split(dataset)), dtype=torch.long)

    def text_ids(self, texts: list[str] | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokenize(texts, n, self.reference.config.max_text)  # type: ignore[attr-defined]

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        cfg: ClapRFConfig = self.config  # type: ignore[assignment]
        b = self.to_device(batch)
        robot = torch.isin(b["episode"].cpu(), self.robot_episodes)  # Stage 2 trains on robot data only
        keep = robot.nonzero().squeeze(1) if bool(robot.any()) else torch.arange(len(robot))
        keep = keep.to(self.device)
        images, chunk, mask = b["image"][keep], b["chunk"][keep], b["mask"][keep]
        texts = [b["text"][int(i)] for i in keep.tolist()]
        ids, tmask = self.text_ids(texts, len(texts))
        y = self.reference.vdvae.raw_action_tokens(self.scale.raw(chunk), mask)  # robot action tokens (line 20)
        out = self.policy(images, ids, tmask, self.policy.shift_right(y))
        k = cfg.noise_samples  # Eq. 6's expectation over (ρ, ε): k draws per chunk, h_t = the BOS state
        rf = self.head.loss(chunk.masked_fill(~mask[..., None], 0.0).repeat_interleave(k, 0), out.context.repeat_interleave(k, 0))
        with torch.no_grad():
            ref_logits = self.reference.policy(images, ids, tmask, self.policy.shift_right(y)).logits
        kl = reverse_kl(out.logits, ref_logits).mean()  # Eq. 7
        weight = 1.0 if bool(robot.any()) else 0.0  # a batch without robot samples teaches nothing
        loss = weight * (rf + cfg.alpha * kl)
        return {"loss": loss, "rf": rf.detach(), "kl": kl.detach(), "robot_share": robot.float().mean()}

    @torch.no_grad()
    def predict_chunk(self, images: torch.Tensor, texts: list[str] | None = None, seed: int = 0) -> torch.Tensor:
        """A chunk from the flow head, un-normalised (B, H, D). Every row integrates the same seeded
        noise, so a row's chunk depends on its own image and instruction only, not on what else is
        in the batch (parallel rollouts batch whichever environments are waiting)."""
        cond = self.policy.context(images.to(self.device), *self.text_ids(texts, images.shape[0]))
        g = torch.Generator(device=cond.device).manual_seed(seed)
        hc = self.head.config
        noise = torch.randn((1, hc.horizon, hc.action_dim), device=cond.device, dtype=cond.dtype, generator=g)
        return self.scale.raw(self.head.sample(cond, noise=noise.expand(cond.shape[0], -1, -1)))

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """The trainable branch's representation h_t, L2-normalised (B, W)."""
        return self.normalize(self.policy.context(images.to(self.device), *self.text_ids(text, images.shape[0])))
