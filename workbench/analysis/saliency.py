"""Saliency maps of image encoders: gradient attributions, native attention maps, overlays, the
model-parameter randomisation check, and how much saliency falls on the gripper and object.

Gradient attributions (captum) need one scalar per image. :class:`EmbeddingSimilarity` wraps a
method so that its forward is the cosine similarity between the image embedding and a target
embedding — the embedding of the action chunk that follows the frame (CAIP, CLAP), of the
instruction (CLAMP), or any vector (e.g. the mean embedding of a frame's DTW neighbours for CLASS).
:func:`attribute` then runs ``Saliency``, ``IntegratedGradients``, ``Occlusion`` or ``LayerGradCam``
and reduces each to a non-negative (B, S, S) map (how each reduction is chosen is documented there).

Native maps follow CAIP App. A.1:

* :func:`text_pooling_map` — the text-conditioned pooling attention ``A ∈ R^{H×L×N}``: "for each
  non-special text token … normalize each head by its spatial maximum and then take the maximum
  across heads … aggregate across all content tokens using a per-location maximum"; shown after
  :func:`clip_and_gamma` (percentiles 50/98, γ = 1.6) at overlay opacity 0.55;
* :func:`map_probe_map` — a MAP head's probe-to-patch weights, "min–max normalize each head
  independently, and visualize the mean across heads";
* :func:`pca_rgb_map` — per-image PCA of the final patch tokens, the first three components as RGB
  "after percentile normalization", the first "additionally used as a soft foreground mask".

:func:`randomisation_check` is the model-parameter randomisation test of Adebayo et al. 2018
("Sanity Checks for Saliency Maps", §3.1): a map that explains the *trained* model must change when
the weights are re-initialised; we report the Spearman rank correlation between the maps of the
trained and of the randomised model (near 1 = the method ignores the weights, e.g. an edge
detector). Randomisation is *cascading* (top block first, then progressively down to the input,
the paper's main variant) — the last cascade step is the fully randomised model; *independent*
randomises one block at a time.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from workbench.methods.capabilities import ActionEmbedder, TextEmbedder

__all__ = [
    "SALIENCY_METHODS",
    "EmbeddingSimilarity",
    "PCAMap",
    "RandomisationCheck",
    "action_target",
    "attribute",
    "caip_pooling_maps",
    "clip_and_gamma",
    "dtw_prototype_target",
    "find_feature_layer",
    "map_probe_map",
    "native_maps",
    "overlay_map",
    "overlay_rgb",
    "pca_rgb_map",
    "randomisation_check",
    "randomize_weights",
    "saliency_mass_in_mask",
    "spearman_per_image",
    "text_pooling_map",
    "text_target",
]

SALIENCY_METHODS = ("saliency", "integrated_gradients", "occlusion", "grad_cam")


def _as_float_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(B, 3, S, S) uint8 / float [0, 1], or (B, S, S, 3) uint8 numpy -> float (B, 3, S, S) in [0, 1]."""
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must be (B, 3, S, S) or (B, S, S, 3), got shape {tuple(x.shape)}")
    if x.shape[1] != 3 and x.shape[-1] == 3:
        x = x.permute(0, 3, 1, 2)
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


# ----------------------------------------------------------------------------------------------
# Targets and the scalar wrapper
# ----------------------------------------------------------------------------------------------


class EmbeddingSimilarity(nn.Module):
    """``forward(images) -> (B,)`` cosine similarity of ``method.encode_images(images, text)`` with
    ``target`` ((C,) shared, or (B, C) per image).

    captum evaluates the forward on expanded batches (IntegratedGradients stacks ``n_steps``
    copies of the batch, step-major); the target and text are tiled to match.
    """

    def __init__(self, method: nn.Module, target: torch.Tensor, text: Sequence[str] | None = None) -> None:
        super().__init__()
        self.method = method
        t = torch.as_tensor(target, dtype=torch.float32)
        self.register_buffer("target", F.normalize(t[None] if t.ndim == 1 else t, dim=-1), persistent=False)
        self.text = list(text) if text is not None else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b = images.shape[0]
        tb = self.target.shape[0]
        if b % tb:
            raise ValueError(f"a batch of {b} images does not tile the {tb} targets")
        target = self.target.repeat(b // tb, 1).to(images.device)  # (B, C)
        text = None
        if self.text is not None:
            if b % len(self.text):
                raise ValueError(f"a batch of {b} images does not tile the {len(self.text)} texts")
            text = self.text * (b // len(self.text))
        z = self.method.encode_images(images, text)  # (B, C)
        return (F.normalize(z, dim=-1) * target).sum(-1)  # (B,)


@torch.no_grad()
def action_target(method: nn.Module, chunks: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
    """Embeddings (B, C) of the action chunks (B, H, D) that follow the frames, for methods with an
    action tower (``encode_actions``: CAIP, CLAP). Chunks must be normalised as in training."""
    if not isinstance(method, ActionEmbedder):
        raise ValueError(f"{type(method).__name__} has no action encoder; use text_target or a vector target")
    c = torch.as_tensor(chunks, dtype=torch.float32).to(method.device)
    m = None if mask is None else torch.as_tensor(mask, dtype=torch.bool).to(method.device)
    return method.encode_actions(c, m)


def dtw_prototype_target(vectors: np.ndarray, chunks: np.ndarray, rows: Sequence[int], *, k: int = 8,
                         episode: np.ndarray | None = None, cost: str = "sqeuclidean") -> torch.Tensor:  # fmt: skip
    """Targets (len(rows), C) for a method without an action tower (CLASS): for each frame, the
    mean embedding of the k frames whose following action chunks are DTW-closest to its own —
    the action chunk's prototype in image-embedding space, i.e. what CLASS pulls the frame towards
    (§4.1–4.2). With ``episode`` the frame's own episode is excluded (its temporal neighbours)."""
    from workbench.dtw import pairwise_dtw

    v = np.asarray(vectors, dtype=np.float64)
    c = np.asarray(chunks, dtype=np.float64)
    r = np.asarray(rows, dtype=np.int64)
    d = pairwise_dtw(c[r], c, cost=cost)  # (Q, N)
    d[np.arange(len(r)), r] = np.inf
    if episode is not None:
        ep = np.asarray(episode)
        d[ep[r][:, None] == ep[None, :]] = np.inf
    nn = np.argsort(d, axis=1, kind="stable")[:, :k]
    proto = v[nn].mean(1)
    return torch.as_tensor(proto / np.maximum(np.linalg.norm(proto, axis=1, keepdims=True), 1e-12), dtype=torch.float32)


@torch.no_grad()
def text_target(method: nn.Module, texts: Sequence[str]) -> torch.Tensor:
    """Embeddings (B, C) of instructions, for methods with a text tower in the shared space (CLAMP)."""
    if not isinstance(method, TextEmbedder):
        raise ValueError(f"{type(method).__name__} has no text encoder in its embedding space")
    return method.encode_text(list(texts))


# ----------------------------------------------------------------------------------------------
# Gradient attributions (captum)
# ----------------------------------------------------------------------------------------------


def find_feature_layer(method: nn.Module) -> nn.Module:
    """The ``feature_layer`` of the first image encoder inside ``method`` (for LayerGradCam)."""
    from workbench.models.vision import ResNetGNEncoder, ViTEncoder

    for m in method.modules():
        if isinstance(m, (ViTEncoder, ResNetGNEncoder)):
            return m.feature_layer
    raise ValueError(f"{type(method).__name__} contains no ViTEncoder or ResNetGNEncoder")


def attribute(
    forward: nn.Module,
    images: torch.Tensor | np.ndarray,
    method: str = "saliency",
    *,
    layer: nn.Module | None = None,
    n_steps: int = 32,
    window: int | None = None,
    baseline: float = 0.0,
) -> np.ndarray:
    """A non-negative (B, S, S) float32 map per image of how much each pixel drives ``forward``.

    ``forward`` maps float images (B, 3, S, S) in [0, 1] to (B,) scalars (e.g. :class:`EmbeddingSimilarity`).

    * ``"saliency"`` — |∂f/∂x| max over colour channels (Simonyan et al. 2014);
    * ``"integrated_gradients"`` — |IG| summed over channels, ``n_steps`` from a constant
      ``baseline`` image (Sundararajan et al. 2017);
    * ``"occlusion"`` — the drop in f when a ``window``-pixel grey square (default S/8, stride half
      of it) covers the pixel, positive part (evidence *for* the target);
    * ``"grad_cam"`` — LayerGradCam on ``layer`` (default the encoder's ``feature_layer``) with ReLU,
      upsampled bilinearly to the image.
    """
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion, Saliency

    if method not in SALIENCY_METHODS:
        raise ValueError(f"method must be one of {SALIENCY_METHODS}, got {method!r}")
    dev = next((p.device for p in forward.parameters()), torch.device("cpu"))
    x = _as_float_images(images).to(dev).requires_grad_(True)
    s = x.shape[-1]
    was_training = forward.training
    forward.eval()
    try:
        if method == "saliency":
            a = Saliency(forward).attribute(x, abs=True).amax(1)  # (B, S, S)
        elif method == "integrated_gradients":
            ig = IntegratedGradients(forward)
            a = ig.attribute(x, baselines=torch.full_like(x, baseline), n_steps=n_steps, internal_batch_size=max(1, x.shape[0]) * 8)
            a = a.abs().sum(1)
        elif method == "occlusion":
            w = window or max(2, s // 8)
            a = Occlusion(forward).attribute(x, sliding_window_shapes=(3, w, w), strides=(3, max(1, w // 2), max(1, w // 2)),
                                             baselines=0.5, perturbations_per_eval=16)  # fmt: skip
            a = a.sum(1).clamp_min(0.0)
        else:
            layer = layer if layer is not None else find_feature_layer(getattr(forward, "method", forward))
            g = LayerGradCam(forward, layer).attribute(x, relu_attributions=True)  # (B, 1, h, w)
            a = LayerAttribution.interpolate(g, (s, s), interpolate_mode="bilinear")[:, 0].clamp_min(0.0)
    finally:
        forward.train(was_training)
    return a.detach().float().cpu().numpy()


# ----------------------------------------------------------------------------------------------
# Native maps (CAIP App. A.1)
# ----------------------------------------------------------------------------------------------


def text_pooling_map(attention: torch.Tensor | np.ndarray, text_mask: torch.Tensor | np.ndarray,
                     *, special_first: bool = True) -> np.ndarray:  # fmt: skip
    """CAIP's aggregated text-pooling saliency, (B, N) in [0, 1] (App. A.1).

    ``attention`` (B, H, L, N) text-token × patch weights; ``text_mask`` (B, L) True on real tokens.
    Padding is excluded, and so is the first token when ``special_first`` (our tokenizer's
    ``<cls>``, the BOS-like special token; there is no EOS). Each head is divided by its spatial
    maximum, then max over heads, then max over content tokens.
    """
    a = torch.as_tensor(attention, dtype=torch.float32)
    m = torch.as_tensor(text_mask, dtype=torch.bool).clone()
    if a.ndim != 4 or m.shape != a.shape[:1] + a.shape[2:3]:
        raise ValueError(f"attention must be (B, H, L, N) with text_mask (B, L), got {tuple(a.shape)} and {tuple(m.shape)}")
    if special_first:
        content = m.clone()
        content[:, 0] = False
        # an instruction of no words keeps the special token rather than giving an empty map
        m = torch.where(content.any(1, keepdim=True), content, m)
    per_head = a / a.amax(-1, keepdim=True).clamp_min(1e-12)  # (B, H, L, N)
    per_token = per_head.amax(1)  # (B, L, N)
    per_token = per_token.masked_fill(~m[:, :, None], 0.0)
    return per_token.amax(1).numpy()  # (B, N)


def map_probe_map(attention: torch.Tensor | np.ndarray) -> np.ndarray:
    """A MAP head's saliency, (B, N) in [0, 1]: per-head min–max, then the mean over heads (App. A.1)."""
    a = torch.as_tensor(attention, dtype=torch.float32)
    if a.ndim != 3:
        raise ValueError(f"attention must be (B, H, N), got {tuple(a.shape)}")
    lo, hi = a.amin(-1, keepdim=True), a.amax(-1, keepdim=True)
    return ((a - lo) / (hi - lo).clamp_min(1e-12)).mean(1).numpy()


@dataclass(frozen=True)
class PCAMap:
    """Per-image PCA of patch tokens: ``rgb`` (B, h, w, 3) in [0, 1] already faded by ``mask``
    (B, h, w) in [0, 1], the soft foreground from the first component."""

    rgb: npt.NDArray[np.float32]
    mask: npt.NDArray[np.float32]


def _percentile_unit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    a, b = np.percentile(x, [lo, hi])
    return np.clip((x - a) / max(b - a, 1e-12), 0.0, 1.0)


def pca_rgb_map(tokens: torch.Tensor | np.ndarray, grid: tuple[int, int] | None = None,
                *, percentiles: tuple[float, float] = (1.0, 99.0)) -> PCAMap:  # fmt: skip
    """First three principal components of each image's own patch tokens (B, N, C) as RGB (App. A.1).

    Each component is percentile-normalised to [0, 1]. Component signs are arbitrary; the first is
    oriented so its largest-magnitude values are positive — the salient minority of patches rather
    than the uniform background — and then serves as the soft foreground mask.
    """
    t = np.asarray(torch.as_tensor(tokens, dtype=torch.float32))
    if t.ndim != 3:
        raise ValueError(f"tokens must be (B, N, C), got {t.shape}")
    b, n, _ = t.shape
    h, w = grid if grid is not None else (int(round(n**0.5)),) * 2
    if h * w != n:
        raise ValueError(f"{n} tokens do not fill a {h}x{w} grid")
    rgb = np.zeros((b, n, 3), np.float32)
    mask = np.zeros((b, n), np.float32)
    for i in range(b):
        x = t[i] - t[i].mean(0)
        u, s, _ = np.linalg.svd(x, full_matrices=False)
        pcs = u[:, :3] * s[:3]  # (N, ≤3)
        if pcs.shape[1] < 3:
            pcs = np.pad(pcs, ((0, 0), (0, 3 - pcs.shape[1])))
        pc1 = pcs[:, 0]
        if np.abs(pc1.min()) > np.abs(pc1.max()):
            pcs[:, 0] = -pc1
        comps = np.stack([_percentile_unit(pcs[:, c], *percentiles) for c in range(3)], axis=1)
        mask[i] = comps[:, 0]
        rgb[i] = comps * mask[i][:, None]
    return PCAMap(rgb=rgb.reshape(b, h, w, 3), mask=mask.reshape(b, h, w))


def clip_and_gamma(saliency: np.ndarray, low: float = 50.0, high: float = 98.0, gamma: float = 1.6) -> np.ndarray:
    """Per-map percentile clip to [low, high] percentiles, rescale to [0, 1], then ``x ** gamma``
    (CAIP App. A.1: 50/98 and γ = 1.6; γ > 1 darkens the weak half further). (…, h, w) maps."""
    s = np.asarray(saliency, dtype=np.float64)
    if not 0 <= low < high <= 100:
        raise ValueError(f"need 0 <= low < high <= 100, got {low}, {high}")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    flat = s.reshape(-1, s.shape[-2] * s.shape[-1])
    lo = np.percentile(flat, low, axis=1)[:, None]
    hi = np.percentile(flat, high, axis=1)[:, None]
    out = np.clip((flat - lo) / np.maximum(hi - lo, 1e-12), 0.0, 1.0) ** gamma
    return out.reshape(s.shape).astype(np.float32)


def _grid(maps: np.ndarray, n_grid: int) -> np.ndarray:
    return maps.reshape(maps.shape[0], n_grid, n_grid)


def caip_pooling_maps(method: nn.Module, images: torch.Tensor | np.ndarray, text: Sequence[str] | None = None) -> np.ndarray:
    """CAIP's aggregated text-pooling map (B, h, w) in [0, 1] for images and their instructions."""
    from workbench.models.pooling import TextConditionedPooling

    caught = _capture(method, images, text, (TextConditionedPooling,))
    if TextConditionedPooling not in caught:
        raise ValueError(f"{type(method).__name__} has no text-conditioned pooling")
    out, args = caught[TextConditionedPooling]
    text_mask = args[2] if len(args) > 2 and args[2] is not None else torch.ones(out.attention.shape[:1] + out.attention.shape[2:3], dtype=torch.bool)
    maps = text_pooling_map(out.attention.cpu(), text_mask.cpu())
    return _grid(maps, int(round(maps.shape[1] ** 0.5)))


def _capture(method: nn.Module, images: torch.Tensor | np.ndarray, text: Sequence[str] | None,
             kinds: tuple[type, ...]) -> dict[type, tuple[Any, tuple]]:  # fmt: skip
    """Run ``encode_images`` once and keep the first output (and inputs) of each module kind."""
    caught: dict[type, tuple[Any, tuple]] = {}
    hooks = []
    for m in method.modules():
        for kind in kinds:
            if isinstance(m, kind):
                def hook(mod, args, out, kind=kind):
                    caught.setdefault(kind, (out, args))
                hooks.append(m.register_forward_hook(hook))
    was_training = method.training
    method.eval()
    try:
        with torch.no_grad():
            x = _as_float_images(images).to(method.device)
            method.encode_images(x, list(text) if text is not None else None)
    finally:
        method.train(was_training)
        for h in hooks:
            h.remove()
    return caught


def native_maps(method: nn.Module, images: torch.Tensor | np.ndarray, text: Sequence[str] | None = None) -> dict[str, Any]:
    """Every native map the method's architecture offers, from one forward pass:

    ``"text_pooling"`` (B, h, w) for CAIP's pooling, ``"map_probe"`` (B, h, w) for a MAP head, and
    ``"pca"`` (a :class:`PCAMap`) of the final patch tokens / feature map of the image encoder.
    """
    from workbench.models.pooling import MAPHead, TextConditionedPooling
    from workbench.models.vision import ResNetGNEncoder, ViTEncoder

    layer = find_feature_layer(method)

    class _Feature:  # the kind key for the feature layer's output
        pass

    caught: dict[Any, Any] = {}
    hook = layer.register_forward_hook(lambda mod, args, out: caught.setdefault(_Feature, out))
    try:
        caught.update(_capture(method, images, text, (TextConditionedPooling, MAPHead, ViTEncoder, ResNetGNEncoder)))
    finally:
        hook.remove()
    out: dict[str, Any] = {}
    if TextConditionedPooling in caught:
        o, args = caught[TextConditionedPooling]
        maps = text_pooling_map(o.attention.cpu(), args[2].cpu())
        out["text_pooling"] = _grid(maps, int(round(maps.shape[1] ** 0.5)))
    if MAPHead in caught:
        o, _ = caught[MAPHead]
        maps = map_probe_map(o.attention.cpu())
        out["map_probe"] = _grid(maps, int(round(maps.shape[1] ** 0.5)))
    feat = caught.get(_Feature)
    if feat is not None:
        f = feat.detach().float().cpu()  # (B, C, h, w)
        out["pca"] = pca_rgb_map(f.flatten(2).transpose(1, 2), (f.shape[2], f.shape[3]))
    return out


# ----------------------------------------------------------------------------------------------
# Overlays
# ----------------------------------------------------------------------------------------------

# inferno, 9 anchors (matplotlib's), interpolated to 256 entries: dark = low, yellow = high
_INFERNO = np.array([[0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
                     [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164]], dtype=np.float64)  # fmt: skip
_LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_INFERNO)), _INFERNO[:, c]) for c in range(3)], 1)


def _resize(a: np.ndarray, size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """(h, w[, C]) float array -> (H, W[, C])."""
    t = torch.as_tensor(np.asarray(a, dtype=np.float32))
    chan = t.ndim == 3
    t = t.permute(2, 0, 1)[None] if chan else t[None, None]
    kw = {"align_corners": False} if mode == "bilinear" else {}
    r = F.interpolate(t, size=size, mode=mode, **kw)[0]
    return (r.permute(1, 2, 0) if chan else r[0]).numpy()


def overlay_map(image: np.ndarray, saliency: np.ndarray, *, alpha: float = 0.55, normalize: bool = True) -> np.ndarray:
    """A (h, w) map blended over an (H, W, 3) uint8 image with the inferno colour map, opacity
    ``alpha`` (CAIP App. A.1: 0.55) -> (H, W, 3) uint8. The map is upsampled bilinearly and, with
    ``normalize``, rescaled to [0, 1] by its max (values are otherwise taken as already in [0, 1])."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {img.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    s = np.asarray(saliency, dtype=np.float32)
    if s.ndim != 2:
        raise ValueError(f"saliency must be (h, w), got {s.shape}")
    s = np.nan_to_num(s, nan=0.0)
    if normalize:
        s = s - min(0.0, float(s.min()))
        s = s / max(float(s.max()), 1e-12)
    s = np.clip(_resize(s, img.shape[:2]), 0.0, 1.0)
    colour = _LUT[np.round(s * 255).astype(np.int64)]  # (H, W, 3)
    return np.clip((1 - alpha) * img.astype(np.float64) + alpha * colour, 0, 255).round().astype(np.uint8)


def overlay_rgb(image: np.ndarray, pca: PCAMap, index: int = 0, *, alpha: float = 1.0) -> np.ndarray:
    """The PCA-RGB map of image ``index`` upsampled (nearest, so patches stay visible) and blended
    over the image (alpha 1 shows the map alone) -> (H, W, 3) uint8."""
    img = np.asarray(image)
    rgb = _resize(pca.rgb[index], img.shape[:2], mode="nearest") * 255.0
    return np.clip((1 - alpha) * img + alpha * rgb, 0, 255).round().astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Mass in the segmentation mask
# ----------------------------------------------------------------------------------------------


def saliency_mass_in_mask(saliency: np.ndarray, mask: np.ndarray) -> float | np.ndarray:
    """Fraction of a non-negative map's total inside ``mask`` (e.g. the simulator's gripper + object
    pixels), in [0, 1]. ``saliency`` (h, w) or (B, h, w) is upsampled bilinearly to the mask's
    (H, W) or (B, H, W) first. A uniform map scores the mask's area fraction; NaN for an all-zero
    map. Returns a float for one map, an array for a batch."""
    s = np.asarray(saliency, dtype=np.float64)
    m = np.asarray(mask).astype(bool)
    single = s.ndim == 2
    if single:
        s, m = s[None], (m[None] if m.ndim == 2 else m)
    if s.ndim != 3 or m.ndim != 3 or m.shape[0] != s.shape[0]:
        raise ValueError(f"saliency (B, h, w) and mask (B, H, W) must match in B, got {s.shape} and {m.shape}")
    if not np.isfinite(s).all():
        raise ValueError("saliency contains NaN or infinite values")
    if (s < 0).any():
        raise ValueError("saliency must be non-negative (take abs or the positive part first)")
    out = np.empty(s.shape[0])
    for i in range(s.shape[0]):
        r = s[i] if s.shape[1:] == m.shape[1:] else np.maximum(_resize(s[i], m.shape[1:]), 0.0)
        tot = r.sum()
        out[i] = r[m[i]].sum() / tot if tot > 0 else np.nan
    return float(out[0]) if single else out


# ----------------------------------------------------------------------------------------------
# Model-parameter randomisation (Adebayo et al. 2018)
# ----------------------------------------------------------------------------------------------


def _param_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters directly, in registration (≈ input-to-output) order."""
    return [(n, m) for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]


def _reinit(module: nn.Module) -> None:
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        return
    for p in module.parameters(recurse=False):
        # learned queries, positions, temperatures: redrawn at the scale these models init them
        nn.init.normal_(p, std=0.02)


def randomize_weights(model: nn.Module, *, seed: int = 0, modules: Sequence[str] | None = None) -> nn.Module:
    """A deep copy of ``model`` with the named modules (default: all) re-initialised, seeded and
    without touching the global RNG."""
    m = copy.deepcopy(model)
    named = _param_modules(m)
    chosen = set(modules) if modules is not None else {n for n, _ in named}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for n, mod in named:
            if n in chosen:
                _reinit(mod)
    return m


def spearman_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of two batches of maps, per image ((B, …) -> (B,)); NaN where a
    map is constant."""
    from scipy.stats import spearmanr

    x = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    y = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    if x.shape != y.shape:
        raise ValueError(f"map batches differ in shape: {x.shape} vs {y.shape}")
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0:
            out[i] = spearmanr(x[i], y[i]).statistic
    return out


@dataclass(frozen=True)
class RandomisationCheck:
    """Spearman correlation between the maps of a trained and a randomised model."""

    name: str  # which saliency method
    mode: str  # "cascading" or "independent"
    spearman: npt.NDArray[np.float64]  # (B,) trained vs fully randomised, per image
    mean: float  # nan-mean of ``spearman``
    steps: tuple[tuple[str, float], ...]  # (last block randomised, mean correlation) per step


def randomisation_check(
    model: nn.Module,
    saliency_fn: Callable[[nn.Module], np.ndarray],
    *,
    name: str = "",
    mode: str = "cascading",
    steps: int = 4,
    seed: int = 0,
    modules: Sequence[str] | None = None,
) -> RandomisationCheck:
    """Adebayo et al.'s model-parameter randomisation test for one saliency method.

    ``saliency_fn(model) -> (B, h, w)`` computes the maps for fixed images (and recomputes any
    model-dependent target, as the test randomises the whole explanation pipeline). The
    parameter-owning modules (or ``modules``) are split into ``steps`` groups; ``"cascading"``
    randomises groups from the output end down to the input, cumulatively — its last step is the
    fully randomised model, whose per-image correlation is ``spearman``; ``"independent"``
    randomises one group at a time and also adds a final fully randomised step.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', got {mode!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    names = list(modules) if modules is not None else [n for n, _ in _param_modules(model)]
    if not names:
        raise ValueError("the model has no parameters to randomise")
    reference = np.asarray(saliency_fn(model))
    groups = [list(g) for g in np.array_split(np.array(names[::-1], dtype=object), min(steps, len(names))) if len(g)]
    results: list[tuple[str, float]] = []
    last: np.ndarray | None = None
    done: list[str] = []
    for g in groups:
        chosen = done + g if mode == "cascading" else g
        maps = np.asarray(saliency_fn(randomize_weights(model, seed=seed, modules=chosen)))
        rho = spearman_per_image(reference, maps)
        results.append((str(g[-1]), float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan")))
        done = chosen if mode == "cascading" else done
        last = rho
    if mode == "independent":
        last = spearman_per_image(reference, np.asarray(saliency_fn(randomize_weights(model, seed=seed, modules=names))))
        results.append(("all", float(np.nanmean(last)) if np.isfinite(last).any() else float("nan")))
    assert last is not None
    mean = float(np.nanmean(last)) if np.isfinite(last).any() else float("nan")
    return RandomisationCheck(name=name, mode=mode, spearman=last, mean=mean, steps=tuple(results))
