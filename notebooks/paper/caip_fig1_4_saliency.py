# %% [markdown]
# # CAIP Fig. 1 / Fig. 4 — saliency per encoder
#
# CAIP App. A.1 shows, for the same images, three native maps: CAIP's text-conditioned
# attention-pooling map (percentile clip 50/98, γ = 1.6, overlay α = 0.55), the MAP probe of an
# image–text **SigLIP** model, and a per-image PCA of **DINOv2**'s patch tokens shown as RGB.
# Paper's claim: CAIP's pooling attends to the task-relevant gripper and object, while SigLIP's
# probe sits on a few background patches and DINOv2's PCA segments the scene without singling out
# what the task needs.
#
# No pre-trained weights can be downloaded here, so both comparators are trained on the same frames
# for the same steps (`workbench.methods.comparators`): `siglip` (image–text sigmoid loss, ViT +
# MAP head; its probe map) and `simclr` (a self-supervised ViT standing in for DINOv2; the PCA of its
# patch tokens). Each map is scored by the share of its mass on the simulator's gripper + object
# pixels over `num_scored` held-out frames (a uniform map scores the mask's area fraction), with a
# 95 % bootstrap interval over frames, and CAIP's margin over each comparator paired by frame.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
steps = 300
num_images = 6  # rows drawn in the figure
num_scored = 128  # held-out frames the scores are averaged over
figures_out = None

# %%
import numpy as np
import torch

from workbench.analysis.saliency import clip_and_gamma, native_maps, overlay_map, overlay_rgb, saliency_mass_in_mask
from workbench.data.training_samples import collate
from workbench.eval.features import load_split
from workbench.figures import notebook_config, notebook_dataset, train_cached
from workbench.stats import bootstrap_interval
from workbench.viz.saliency import plot_saliency_overlays
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
caip = train_cached(notebook_config("caip", smoke=smoke, seed=seed, dataset=data, steps=steps)).load()
siglip = train_cached(notebook_config("siglip", smoke=smoke, seed=seed, dataset=data, steps=steps)).load()
simclr = train_cached(notebook_config("simclr", smoke=smoke, seed=seed, dataset=data, steps=steps)).load()

# %% held-out frames, with the simulator's gripper + object mask of each
val = load_split(caip, "val")
rng = np.random.default_rng(seed)
rows = np.sort(rng.choice(len(val), size=min(8 if smoke else num_scored, len(val)), replace=False))
batch = collate([val.dataset[int(i)] for i in rows])
images, texts = batch["image"], list(batch["text"])  # (R, 3, S, S) uint8
S = images.shape[-1]
ds = caip.open_dataset()
seg = np.stack([ds.episode(int(e)).cameras[caip.camera].segmentation.load()[int(t)] for e, t in zip(val.episode[rows], val.time[rows])])
masks = torch.nn.functional.interpolate(torch.from_numpy(seg)[:, None].float(), size=(S, S), mode="nearest")[:, 0].numpy() > 0

# %%
with torch.no_grad():
    pool = native_maps(caip.method, images, texts)["text_pooling"]
    probe = native_maps(siglip.method, images)["map_probe"]
    pca = native_maps(simclr.method, images)["pca"]
mass = {"CAIP pooling": saliency_mass_in_mask(pool, masks), "SigLIP MAP probe": saliency_mass_in_mask(probe, masks),
        "SimCLR PCA": saliency_mass_in_mask(pca.mask, masks)}
area = masks.reshape(len(rows), -1).mean(1)
ok = np.isfinite(np.stack(list(mass.values()))).all(0) & (area > 0)  # frames whose mask is not empty
scores = {k: bootstrap_interval(v[ok], seed=seed) for k, v in mass.items()}
scores["uniform map"] = bootstrap_interval(area[ok], seed=seed)
margins = {f"CAIP − {k}": bootstrap_interval(mass["CAIP pooling"][ok] - mass[k][ok], seed=seed) for k in mass if k != "CAIP pooling"}
for k, iv in {**scores, **margins}.items():
    print(f"{k:26s} {iv}")

# %%
shown = np.arange(min(num_images, len(rows)))
rgb = images[shown].permute(0, 2, 3, 1).numpy()
columns = {
    "input": rgb,
    "CAIP pooling": np.stack([overlay_map(rgb[i], clip_and_gamma(pool[i]), alpha=0.55, normalize=False) for i in shown]),
    "SigLIP MAP probe": np.stack([overlay_map(rgb[i], clip_and_gamma(probe[i]), alpha=0.55, normalize=False) for i in shown]),
    "SimCLR PCA": np.stack([overlay_rgb(rgb[i], pca, i) for i in shown]),
}
labels = [f"{val.task[rows[i]]} ep {val.episode[rows[i]]} t {val.time[rows[i]]}" for i in shown]
fig = plot_saliency_overlays(columns, row_labels=labels, scores={k: list(v[shown]) for k, v in mass.items()},
                             title=f"CAIP Fig. 1/4: native saliency maps (score = mass on gripper + object; mean over {int(ok.sum())} "
                                   "frames in the meta)")
meta = {"mass_in_mask": {k: iv.to_dict() for k, iv in scores.items()}, "caip_margin": {k: iv.to_dict() for k, iv in margins.items()},
        "frames_scored": int(ok.sum()), "comparators": {"MAP probe": "siglip (trained here)", "PCA": "simclr (trained here, for DINOv2)"}}
save_figure(fig, "caip_fig1_4_saliency", figures_out, meta=meta)
fig
