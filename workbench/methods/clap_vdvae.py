"""CLAP's VD-VAE: latent actions from video, aligned with a frozen Act-VAE (paper 001, §III-C2,
Algorithm 2, Eq. 3–4, Table IX).

From a transition ``(o_t, o_{t+H})`` the frozen image tower gives features ``f_t, f_{t+H}``; the
online inverse encoder sees the features of an augmented copy of the pair and produces an
action-relevant latent sequence ``z_{v,a}``, quantised with the *frozen* Act-VAE codebook, and an
action-irrelevant one ``z_{v,i}``, quantised with a learnable environment codebook; the forward
decoder predicts the clean ``f_{t+H}`` from the clean ``f_t`` and both quantised latents. The loss
(Eq. 4, averaged over the batch as in Alg. 2 line 27) is

    L = ||f_{t+H} - f̂_{t+H}||² + λ_vq (VQ(z_{v,a}; C_act) + VQ(z_{v,i}; C_env))
        + λ_con SigLIP(z_{v,a}, z_a⁺) + λ_reg ||z_{v,i}||₁

with ``z_a⁺ = sg(E_act(a_gt))`` for labelled robot samples and ``z_a⁺ = sg(E_inv^tea(f_t, f_{t+H}))_a``
from an EMA teacher on the clean pair for unlabelled video (Alg. 2 lines 18–23). The teacher is
updated after every optimiser step, ``θ_tea ← μ θ_tea + (1 - μ) θ`` (line 29). Squared and absolute
norms are averaged over elements (as the Act-VAE's VQ terms are), so the weights do not depend on
the latent sizes.

What is frozen, and where it comes from: ``actvae_run`` names a ``clap_actvae`` run (its encoder
``E_act``, codebook ``C_act`` and decoder) and ``image_run`` any run whose method embeds images (the
frozen visual backbone ``V``; no downloadable DINO here). ``"auto"`` trains or reuses, on the same
data and preset, a ``clap_actvae`` run with the contrastive term on (λ_con = 1), whose image tower
was trained to align frames with the Act-VAE latents of the chunk that follows — so the default
backbone is that run's small ViT. Both are held frozen inside this method (in eval mode, no
gradient) and saved in its checkpoints.

Labelled and unlabelled data: ``labelled_fraction`` of each task's training episodes (a seeded
choice) keep their actions; the rest are used as video only (actions withheld). ``video_path`` adds
a whole dataset as video (e.g. the hands sample), ``video_per_batch`` pairs drawn from it per step,
so every batch mixes labelled and unlabelled samples (Alg. 2 line 5).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.losses import SigLIPLoss, siglip_loss, straight_through, vq_loss
from workbench.methods.base import Method, MethodConfig, RunDependency, split_param_groups
from workbench.methods.class_method import augment_images
from workbench.models.config import check_heads, check_positive
from workbench.models.latent_action import ForwardDynamicsDecoder, InverseDynamicsEncoder
from workbench.models.vq import VectorQuantizer

__all__ = ["VDVAEConfig", "VDVAEMethod", "clap_contrastive_loss", "ema_update", "labelled_episodes", "vdvae_loss"]


def clap_contrastive_loss(z: torch.Tensor, z_pos: torch.Tensor, tau: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
    """CLAP Eq. 3 averaged over the batch: for each row, ``-log σ((s_p - b)/τ) - Σ_j log(1 - σ((s_{n,j} - b)/τ))``
    with cosine similarities to its own reference (positive) and every other row's (negatives).

    Since ``1 - σ(x) = σ(-x)`` this is the project's SigLIP (:func:`workbench.losses.siglip_loss`)
    with logit scale ``1/τ`` and bias ``-b/τ``. z, z_pos (B, ...) are flattened per row.
    """
    x = F.normalize(z.flatten(1), dim=-1)
    y = F.normalize(z_pos.flatten(1), dim=-1)
    return siglip_loss(x, y, 1.0 / tau, -b / tau)


def vdvae_loss(f_future: torch.Tensor, f_pred: torch.Tensor, vq_action: torch.Tensor, vq_env: torch.Tensor,
               contrastive: torch.Tensor, z_env: torch.Tensor, lambda_vq: float, lambda_con: float,
               lambda_reg: float) -> dict[str, torch.Tensor]:
    """Eq. 4: ``rec + λ_vq (VQ_a + VQ_i) + λ_con L_con + λ_reg ||z_{v,i}||₁`` -> the loss and its terms."""
    rec = F.mse_loss(f_pred, f_future)
    reg = z_env.abs().mean()
    vq = vq_action + vq_env
    loss = rec + lambda_vq * vq + lambda_con * contrastive + lambda_reg * reg
    return {"loss": loss, "recon": rec, "vq": vq, "contrastive": contrastive, "reg": reg}


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, mu: float) -> None:
    """``θ_tea ← μ θ_tea + (1 - μ) θ`` for every parameter (CLAP Alg. 2 line 29); buffers are copied."""
    for pt, ps in zip(teacher.parameters(), student.parameters()):
        pt.mul_(mu).add_(ps.detach(), alpha=1.0 - mu)
    for bt, bs in zip(teacher.buffers(), student.buffers()):
        bt.copy_(bs)


def labelled_episodes(episodes: np.ndarray, tasks: np.ndarray, fraction: float, seed: int) -> set[int]:
    """A seeded ``fraction`` of each task's episodes (at least one when ``fraction > 0``): the
    episodes whose actions are used; the others are video only."""
    keep: set[int] = set()
    rng = np.random.default_rng(seed)
    for task in sorted(set(tasks.tolist())):
        eps = np.array(sorted(set(episodes[tasks == task].tolist())))
        n = 0 if fraction <= 0 else max(1, int(round(fraction * len(eps))))
        keep |= set(rng.permutation(eps)[:n].tolist())
    return keep


@dataclass(frozen=True)
class VDVAEConfig(MethodConfig):
    actvae_run: str = "auto"  # the frozen Act-VAE: a clap_actvae run directory or id, or "auto"
    image_run: str = "auto"  # the frozen image tower: a run directory or id, or "auto" (see the module docstring)
    width: int = 128  # transformer width of both networks
    encoder_depth: int = 2  # inverse-encoder blocks (Table IX: 12)
    decoder_depth: int = 2  # forward-decoder blocks (Table IX: 12)
    heads: int = 4  # attention heads; must divide width
    num_env_codes: int = 2  # length of z_{v,i} (Table IX: 2 task-irrelevant codes)
    env_codebook_size: int = 16  # size of C_env
    env_code_dim: int = 8  # width of each environment code
    beta: float = 1.0  # commitment weight of both VQ terms (Table IX: 1.0)
    lambda_vq: float = 1.0  # λ_vq
    lambda_con: float = 0.1  # λ_con (Table IX: 0.1)
    lambda_reg: float = 0.5  # λ_reg (Table IX: 0.5)
    ema: float = 0.99  # μ of the teacher's EMA update
    codebook_lr_scale: float = 0.5  # C_env's learning rate / the others' (Table IX: 1e-4 / 2e-4)
    dead_code_window: int = 50  # forward passes before an unused environment code is re-seeded; 0 = off
    labelled_fraction: float = 1.0  # share of each task's training episodes whose actions are used
    split_seed: int = 0  # seed of that choice
    video_path: str = ""  # a further dataset used as video only ("" = none)
    video_camera: str = ""  # its camera ("" = each episode's first)
    video_per_batch: int = 0  # pairs drawn from video_path per training step
    frame_gap: int = 16  # H in frames between o_t and o_{t+H}; must equal data.horizon
    augment_shift: int = 4  # online branch: random shift in pixels (same for both frames of a pair)
    augment_noise: float = 0.02  # online branch: Gaussian pixel noise

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(width=32, encoder_depth=1, decoder_depth=1, heads=2, env_codebook_size=8, env_code_dim=4,
                      dead_code_window=10, labelled_fraction=0.5, augment_shift=2),
        "sample": dict(width=64, encoder_depth=2, decoder_depth=2, heads=4, labelled_fraction=0.5),
        # Table IX (VD-VAE): the defaults above plus chunk 32 (depth 12/12 is far beyond a CPU)
        "paper": dict(frame_gap=32),
    }
    TRAIN_PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # Table IX: VAE lr 2e-4 (codebook 1e-4 via codebook_lr_scale), 1,000 warm-up steps, 100,000 steps, batch 256
        "paper": {"steps": 100_000, "batch_size": 256, "data": {"horizon": 32}, "optim": {"lr": 2e-4, "warmup_steps": 1000}},
    }

    def __post_init__(self) -> None:
        check_positive(self, width=self.width, encoder_depth=self.encoder_depth, decoder_depth=self.decoder_depth,
                       heads=self.heads, num_env_codes=self.num_env_codes, env_code_dim=self.env_code_dim,
                       frame_gap=self.frame_gap, codebook_lr_scale=self.codebook_lr_scale)
        check_heads(self)
        if self.env_codebook_size < 2:
            raise ValueError(f"VDVAEConfig.env_codebook_size must be >= 2, got {self.env_codebook_size!r}")
        for name in ("beta", "lambda_vq", "lambda_con", "lambda_reg", "augment_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"VDVAEConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("dead_code_window", "video_per_batch", "augment_shift"):
            if getattr(self, name) < 0:
                raise ValueError(f"VDVAEConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"VDVAEConfig.ema must be in [0, 1), got {self.ema!r}")
        if not 0.0 <= self.labelled_fraction <= 1.0:
            raise ValueError(f"VDVAEConfig.labelled_fraction must be in [0, 1], got {self.labelled_fraction!r}")
        if self.video_per_batch and not self.video_path:
            raise ValueError("VDVAEConfig.video_per_batch > 0 needs a video_path to draw the pairs from")
        if not self.actvae_run or not self.image_run:
            raise ValueError("VDVAEConfig.actvae_run and image_run must name runs (a directory, an id, or 'auto')")


#: what an "auto" Act-VAE / image tower is: one clap_actvae run with its image tower trained
AUTO_ACTVAE = {"contrastive_weight": 1.0}


class VDVAEMethod(Method):
    name: ClassVar[str] = "clap_vdvae"
    config_class: ClassVar[type[MethodConfig]] = VDVAEConfig
    data_defaults: ClassVar[dict[str, Any]] = {"chunk_kind": "raw"}  # tokens decode to executable actions

    @classmethod
    def dependencies(cls, config: MethodConfig) -> dict[str, RunDependency]:
        return {"actvae": RunDependency("actvae_run", "clap_actvae", AUTO_ACTVAE),
                "image": RunDependency("image_run", "clap_actvae", AUTO_ACTVAE)}

    @classmethod
    def loader_kwargs(cls, config: VDVAEConfig) -> dict[str, Any]:
        return {"future_offset": config.frame_gap}

    def build(self) -> None:
        from workbench.methods.clap import ActVAEMethod

        cfg: VDVAEConfig = self.config  # type: ignore[assignment]
        act, img = self.runs["actvae"], self.runs["image"]
        self._check_runs(act, img)
        assert isinstance(act.method, ActVAEMethod)
        self.actvae: ActVAEMethod = act.method
        self.image_tower: Method = img.method  # type: ignore[assignment]
        for p in [*self.actvae.parameters(), *self.image_tower.parameters()]:
            p.requires_grad_(False)
        self.actvae.eval()
        self.image_tower.eval()
        with torch.no_grad():
            probe = torch.zeros(1, self.meta.image_channels, self.meta.image_size, self.meta.image_size, dtype=torch.uint8)
            self.feat_dim = int(self.image_tower.encode_images(probe, [""]).shape[-1])
        avc = self.actvae.act_vae.config
        nq, d = avc.num_registers, avc.code_dim
        args = (self.feat_dim, cfg.width, cfg.encoder_depth, cfg.heads, nq, d, cfg.num_env_codes, cfg.env_code_dim)
        self.inverse = InverseDynamicsEncoder(*args)
        # z_{v,a} lives on the sphere where the Act-VAE's codes are (their median norm): see action_latents
        self.register_buffer("code_radius", self.action_codebook().detach().norm(dim=-1).median().clone())
        self.teacher = copy.deepcopy(self.inverse).requires_grad_(False)  # E_inv^tea ← E_inv (Alg. 2 line 3)
        self.forward_decoder = ForwardDynamicsDecoder(self.feat_dim, cfg.width, cfg.decoder_depth, cfg.heads, nq, d,
                                                      cfg.num_env_codes, cfg.env_code_dim)
        self.env_quantizer = VectorQuantizer(cfg.env_codebook_size, cfg.env_code_dim, cfg.beta, cfg.dead_code_window)
        self.loss_fn = SigLIPLoss.caip_init()
        dim = self.meta.chunk_dim
        # chunk statistics: the data's (set in prepare) and the Act-VAE's, to hand E_act its own normalisation
        self.register_buffer("data_mean", torch.zeros(dim))
        self.register_buffer("data_std", torch.ones(dim))
        stats = act.norm_stats
        self.register_buffer("act_mean", torch.as_tensor(np.zeros(dim) if stats is None else stats.mean, dtype=torch.float32))
        self.register_buffer("act_std", torch.as_tensor(np.ones(dim) if stats is None else np.maximum(stats.std, stats.eps),
                                                        dtype=torch.float32))
        self.labelled = torch.zeros(0, dtype=torch.long)  # episode indices whose actions are used (set in prepare)
        self.video = None

    def _check_runs(self, act: Any, img: Any) -> None:
        """Refuse runs that cannot serve, naming both (the Act-VAE and the image tower)."""
        from workbench.methods.clap import ActVAEMethod, ActVAEMethodConfig

        def refuse(problem: str) -> ValueError:
            return ValueError(f"clap_vdvae cannot use Act-VAE run {act.id!r} with image-tower run {img.id!r}: {problem}")

        m = self.meta
        if not isinstance(act.method, ActVAEMethod):
            raise refuse(f"run {act.id!r} is a {act.method_name!r} run, not a clap_actvae run (no Act-VAE codebook)")
        am = act.sample_meta
        if (am.chunk_kind, am.horizon, am.chunk_dim) != (m.chunk_kind, m.horizon, m.chunk_dim):
            raise refuse(f"the Act-VAE encodes {am.chunk_kind} chunks of {am.horizon}x{am.chunk_dim}, the data gives "
                         f"{m.chunk_kind} chunks of {m.horizon}x{m.chunk_dim}; train both with the same data.chunk_kind and data.horizon")
        if not isinstance(img.method, Method):
            raise refuse(f"run {img.id!r} has no image encoder")
        im = img.sample_meta
        if (im.image_size, im.image_channels) != (m.image_size, m.image_channels):
            raise refuse(f"the image tower takes {im.image_size}px {im.image_channels}-channel images, the data gives "
                         f"{m.image_size}px {m.image_channels}-channel ones; set data.image_size to match")
        if isinstance(img.method, ActVAEMethod) and isinstance(img.method.config, ActVAEMethodConfig) \
                and img.method.config.contrastive_weight == 0:
            raise refuse(f"run {img.id!r} never trained its image tower (contrastive_weight = 0)")

    def train(self, mode: bool = True) -> VDVAEMethod:
        super().train(mode)
        self.actvae.eval()  # frozen: no dropout, no dead-code re-seeding of C_act
        self.image_tower.eval()
        self.teacher.eval()
        return self

    def param_groups(self) -> list[dict[str, Any]]:
        cfg: VDVAEConfig = self.config  # type: ignore[assignment]
        return split_param_groups(self, [self.env_quantizer.codebook], cfg.codebook_lr_scale)

    def prepare(self, dataset: Any) -> None:
        cfg: VDVAEConfig = self.config  # type: ignore[assignment]
        if getattr(dataset, "future_offset", 0) != self.meta.horizon or cfg.frame_gap != self.meta.horizon:
            raise ValueError(f"clap_vdvae: method_config.frame_gap ({cfg.frame_gap}) must equal data.horizon "
                             f"({self.meta.horizon}) so that a labelled chunk spans the transition o_t -> o_t+H")
        if dataset.norm_stats is not None:
            self.data_mean.copy_(torch.as_tensor(dataset.norm_stats.mean, dtype=torch.float32))
            self.data_std.copy_(torch.as_tensor(np.maximum(dataset.norm_stats.std, dataset.norm_stats.eps), dtype=torch.float32))
        self.labelled = torch.tensor(sorted(self.labelled_split(dataset)), dtype=torch.long, device=self.data_mean.device)
        if cfg.video_path:
            from workbench.data.video_pairs import load_video_pairs

            self.video = load_video_pairs(cfg.video_path, cfg.video_camera or None, self.meta.image_size)

    def labelled_split(self, dataset: Any) -> set[int]:
        """Episode indices of ``dataset`` whose actions this run uses (the others are video only)."""
        cfg: VDVAEConfig = self.config  # type: ignore[assignment]
        eps = np.asarray(dataset.chunks.episode)
        tasks = np.asarray([dataset.tasks[int(dataset[i]["task_id"])] for i in range(len(dataset))])
        return labelled_episodes(eps, tasks, cfg.labelled_fraction, cfg.split_seed)

    # -- the networks ----------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, images: torch.Tensor, texts: list[str] | None = None) -> torch.Tensor:
        """Frozen features V(o) (B, C), scaled to unit variance per dimension (the tower's output is
        L2-normalised)."""
        return self.image_tower.encode_images(images.to(self.device), texts).float() * math.sqrt(self.feat_dim)

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """The frozen image tower's embedding (what the VD-VAE reads)."""
        return self.image_tower.encode_images(images.to(self.device), text)

    def action_codebook(self) -> torch.Tensor:
        return self.actvae.act_vae.quantizer.codebook

    def action_latents(self, z: torch.Tensor) -> torch.Tensor:
        """The inverse encoder's action outputs (B, Nq, d) put on the sphere of the codes' radius.

        SigLIP (Eq. 3) aligns only directions, while tokens are nearest codes in Euclidean distance;
        a latent far from the codes' norm gets the same nearest code whatever its direction — at
        our scale every pseudo token collapsed onto the one code nearest the origin, and the
        commitment term locked it there. With ``|z_{v,a}|`` fixed at the codes' radius, the nearest
        code is the best-aligned one, so the contrastive alignment decides the token."""
        return F.normalize(z, dim=-1) * self.code_radius

    def latents(self, images: torch.Tensor, futures: torch.Tensor, texts: list[str] | None = None, *,
                teacher: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """z_{v,a} (B, Nq, d), z_{v,i} (B, Ne, d_i) of clean transitions."""
        net = self.teacher if teacher else self.inverse
        z_a, z_i = net(self.features(images, texts), self.features(futures, texts))
        return self.action_latents(z_a), z_i

    @torch.no_grad()
    def encode_transitions(self, images: torch.Tensor, futures: torch.Tensor, texts: list[str] | None = None) -> torch.Tensor:
        """Continuous action features z_{v,a}, flattened and L2-normalised (B, Nq·d): CLAP Fig. 9's points."""
        return self.normalize(self.latents(images, futures, texts)[0].flatten(1))

    @torch.no_grad()
    def pseudo_tokens(self, images: torch.Tensor, futures: torch.Tensor, texts: list[str] | None = None) -> torch.Tensor:
        """Pseudo action tokens ẑ_a (B, Nq): z_{v,a} quantised with C_act (§III-C2, last sentence)."""
        return self.actvae.act_vae.quantizer.lookup(self.latents(images, futures, texts)[0])

    @torch.no_grad()
    def action_tokens(self, chunk: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Act-VAE tokens z_a (B, Nq) of chunks normalised with the data's statistics."""
        return self.actvae.act_vae.encode(self.to_actvae_scale(chunk.to(self.device)), None if mask is None else mask.to(self.device))

    @torch.no_grad()
    def raw_action_tokens(self, raw: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Act-VAE tokens z_a (B, Nq) of un-normalised chunks (B, H, D)."""
        x = (raw.to(self.device) - self.act_mean) / self.act_std
        return self.actvae.act_vae.encode(x, None if mask is None else mask.to(self.device))

    @torch.no_grad()
    def decode_tokens(self, codes: torch.Tensor) -> torch.Tensor:
        """Act-VAE decoding of tokens (B, Nq) -> un-normalised chunks (B, H, D)."""
        return self.actvae.act_vae.decode(codes.to(self.device)) * self.act_std + self.act_mean

    def to_actvae_scale(self, chunk: torch.Tensor) -> torch.Tensor:
        """Chunks normalised with the data's statistics -> with the Act-VAE's (what E_act saw)."""
        return (chunk * self.data_std + self.data_mean - self.act_mean) / self.act_std

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        cfg: VDVAEConfig = self.config  # type: ignore[assignment]
        b = self.to_device(batch)
        if "future_image" not in b:
            raise ValueError("clap_vdvae needs future_image in the batch (FrameChunkDataset(future_offset=H))")
        images, futures, texts = b["image"], b["future_image"], list(b["text"])
        labelled = torch.isin(b["episode"], self.labelled)  # (B,)
        if self.video is not None and cfg.video_per_batch:
            v = self.video.sample(cfg.video_per_batch, cfg.frame_gap)
            images = torch.cat([images, v["image"].to(self.device)])  # type: ignore[union-attr]
            futures = torch.cat([futures, v["future_image"].to(self.device)])  # type: ignore[union-attr]
            texts += v["text"]  # type: ignore[operator]
            labelled = torch.cat([labelled, torch.zeros(cfg.video_per_batch, dtype=torch.bool, device=self.device)])
        f_t, f_th = self.features(images, texts), self.features(futures, texts)  # clean (B, C)
        pair = augment_images(torch.cat([images, futures], dim=1), cfg.augment_shift, cfg.augment_noise)  # (B, 6, S, S)
        fa_t, fa_th = self.features(pair[:, :3], texts), self.features(pair[:, 3:], texts)
        z_va, z_vi = self.inverse(fa_t, fa_th)  # online branch on augmented features (Alg. 2 line 11)
        z_va = self.action_latents(z_va)
        codebook = self.action_codebook()  # frozen C_act
        codes = self.actvae.act_vae.quantizer.lookup(z_va)  # (B, Nq)
        zq_a = codebook[codes]
        vq_a = vq_loss(z_va, zq_a, cfg.beta)
        env = self.env_quantizer(z_vi)
        f_pred = self.forward_decoder(f_t, straight_through(z_va, zq_a), env.z_q)
        with torch.no_grad():
            target = self.action_latents(self.teacher(f_t, f_th)[0])  # sg(E_inv^tea(f_t, f_{t+H}))_a, clean pair
            act_codes = None
            if bool(labelled.any()):
                k = labelled[: b["chunk"].shape[0]]
                chunk = self.to_actvae_scale(b["chunk"][k])
                z_act = self.actvae.act_vae.encode_continuous(chunk, b["mask"][k])  # sg(E_act(a_gt))
                target = target.clone()
                target[labelled.nonzero().squeeze(1)] = z_act
                act_codes = self.actvae.act_vae.quantizer.lookup(z_act)
        con = self.loss_fn(self.normalize(z_va.flatten(1)), self.normalize(target.flatten(1)))
        out = vdvae_loss(f_th, f_pred, vq_a.loss, env.terms.loss, con, z_vi, cfg.lambda_vq, cfg.lambda_con, cfg.lambda_reg)
        metrics = {k: v.detach() for k, v in out.items() if k != "loss"}
        metrics["labelled_share"] = labelled.float().mean()
        metrics["env_usage"] = env.usage
        if act_codes is not None:
            metrics["token_accuracy"] = (codes[labelled] == act_codes).float().mean()
        return {"loss": out["loss"], **metrics}

    def after_step(self) -> None:
        cfg: VDVAEConfig = self.config  # type: ignore[assignment]
        ema_update(self.teacher, self.inverse, cfg.ema)
