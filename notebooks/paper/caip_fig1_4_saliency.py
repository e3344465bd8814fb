# %% [markdown]
# # CAIP Fig. 1 / Fig. 4 — saliency per encoder
#
# CAIP App. A.1 shows, for the same images, three native maps: CAIP's text-conditioned
# attention-pooling map (percentile clip 50/98, γ = 1.6, overlay α = 0.55), the attention map of a
# MAP (multi-head attention pooling) head, and a per-image PCA of the patch tokens shown as RGB.
# Paper's claim: CAIP's pooling attends to the task-relevant gripper and object, while the other
# maps are diffuse or follow image structure. Here the MAP map comes from a behaviour-cloning model
# with a ViT + MAP encoder trained on the same data (the workbench's MAP-pooled baseline), and each
# map is scored by the share of its mass on the simulator's gripper + object pixels (a uniform map
# scores the mask's area fraction).

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
steps = 300
num_images = 6
figures_out = None

# %%
import numpy as np
import torch

from workbench.analysis.saliency import clip_and_gamma, native_maps, overlay_map, overlay_rgb, saliency_mass_in_mask
from workbench.data import load_dataset
from workbench.data.training_samples import collate
from workbench.eval.features import load_split
from workbench.figures import notebook_config, notebook_dataset, train_cached
from workbench.viz.saliency import plot_saliency_overlays
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
caip = train_cached(notebook_config("caip", smoke=smoke, seed=seed, dataset=data, steps=steps)).load()
bc_map = train_cached(notebook_config("bc", smoke=smoke, seed=seed, dataset=data, steps=steps, method_config={"encoder": "vit"}),
                      name="bc-vit").load()

# %% held-out frames: spread over the validation episodes, mid-episode
val = load_split(caip, "val")
rng = np.random.default_rng(seed)
rows = np.sort(rng.choice(len(val), size=min(num_images, len(val)), replace=False))
batch = collate([val.dataset[int(i)] for i in rows])
images, texts = batch["image"], list(batch["text"])  # (R, 3, S, S) uint8
S = images.shape[-1]
ds = load_dataset(data)
cam = caip.sample_meta.camera
seg = np.stack([ds.episode(int(e)).cameras[cam].segmentation.load()[int(t)] for e, t in zip(val.episode[rows], val.time[rows])])
masks = torch.nn.functional.interpolate(torch.from_numpy(seg)[:, None].float(), size=(S, S), mode="nearest")[:, 0].numpy() > 0

# %%
with torch.no_grad():
    m_caip = native_maps(caip.method, images, texts)
    m_map = native_maps(bc_map.method, images)
pool, probe, pca = m_caip["text_pooling"], m_map["map_probe"], m_caip["pca"]
rgb = images.permute(0, 2, 3, 1).numpy()
columns = {
    "input": rgb,
    "CAIP pooling": np.stack([overlay_map(rgb[i], clip_and_gamma(pool[i]), alpha=0.55, normalize=False) for i in range(len(rows))]),
    "MAP probe": np.stack([overlay_map(rgb[i], clip_and_gamma(probe[i]), alpha=0.55, normalize=False) for i in range(len(rows))]),
    "PCA": np.stack([overlay_rgb(rgb[i], pca, i) for i in range(len(rows))]),
}
mass = {"CAIP pooling": saliency_mass_in_mask(pool, masks), "MAP probe": saliency_mass_in_mask(probe, masks),
        "PCA": saliency_mass_in_mask(pca.mask, masks)}
area = masks.reshape(len(rows), -1).mean(1)
for k, v in mass.items():
    print(f"{k:13s} mass on gripper+object: mean {np.nanmean(v):.3f}  (uniform map: {area.mean():.3f})")

# %%
labels = [f"{val.task[i]} ep {val.episode[i]} t {val.time[i]}" for i in rows]
fig = plot_saliency_overlays(columns, row_labels=labels, scores={k: list(v) for k, v in mass.items()},
                             title="CAIP Fig. 1/4: native saliency maps (score = mass on gripper + object)")
meta = {"mass_in_mask_mean": {k: float(np.nanmean(v)) for k, v in mass.items()}, "mask_area_mean": float(area.mean()),
        "frames": labels}
save_figure(fig, "caip_fig1_4_saliency", figures_out, meta=meta)
fig
