# %% [markdown]
# # Saliency: what in the image drives the embedding
#
# Gradient-based maps (captum) of the cosine similarity between a frame's image embedding and the
# embedding of the action chunk that follows it (CAIP's action tower), next to CAIP's native
# pooling map; then the model-randomisation sanity check (Adebayo et al.): a map that survives
# randomising the weights explains the image, not the model.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
steps = 300
num_images = 4
methods = ["saliency", "integrated_gradients", "grad_cam"]
figures_out = None

# %%
import numpy as np
import torch

from workbench.analysis.saliency import (
    EmbeddingSimilarity,
    action_target,
    attribute,
    caip_pooling_maps,
    overlay_map,
    randomisation_check,
)
from workbench.data.training_samples import collate
from workbench.eval.features import load_split
from workbench.figures import notebook_config, notebook_dataset, train_cached
from workbench.viz.saliency import plot_saliency_overlays

data = notebook_dataset(dataset, smoke)
restored = train_cached(notebook_config("caip", smoke=smoke, seed=seed, dataset=data, steps=steps)).load()
val = load_split(restored, "val")
rows = np.sort(np.random.default_rng(seed).choice(len(val), size=min(num_images, len(val)), replace=False))
batch = collate([val.dataset[int(i)] for i in rows])
images, texts = batch["image"], list(batch["text"])
method = restored.method

# %%
def maps_for(model, name):
    target = action_target(model, batch["chunk"], batch["mask"]).detach()
    return attribute(EmbeddingSimilarity(model, target, texts), images, name, n_steps=8 if smoke else 32)

rgb = images.permute(0, 2, 3, 1).numpy()
columns = {"input": rgb}
with torch.no_grad():
    pool = caip_pooling_maps(method, images, texts)
columns["CAIP pooling"] = np.stack([overlay_map(rgb[i], pool[i]) for i in range(len(rows))])
for name in methods:
    m = maps_for(method, name)
    columns[name] = np.stack([overlay_map(rgb[i], m[i]) for i in range(len(rows))])
plot_saliency_overlays(columns, row_labels=[f"{val.task[i]} t {val.time[i]}" for i in rows]).show()

# %% the randomisation check: low correlation after randomising = the map depends on the weights
import copy

check = randomisation_check(copy.deepcopy(method), lambda m: maps_for(m, "saliency"), name="saliency", steps=2 if smoke else 4,
                            seed=seed)
print(f"Spearman(trained, randomised) per image: {np.round(check.spearman, 3)}; cascading steps {check.steps}")
