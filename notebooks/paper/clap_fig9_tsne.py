# %% [markdown]
# # CLAP Fig. 9 — t-SNE of action features with and without the contrastive term
#
# CLAP trains the Act-VAE alone, or together with a SigLIP term that aligns image embeddings with
# its action latents (λ_con > 0). Paper's claim: with the contrastive term the action features
# organise by what the action does (clusters per task/skill); without it they spread by low-level
# motion statistics. Here: the continuous Act-VAE latents of held-out chunks for λ_con = 0 and
# λ_con = 1, projected with t-SNE and coloured by task; the silhouette of the task labels in the
# full feature space quantifies the clustering.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
steps = 300
figures_out = None

# %%
import numpy as np
from sklearn.metrics import silhouette_score

from workbench.analysis import make_projector
from workbench.eval.features import embed_split, load_split
from workbench.figures import notebook_config, notebook_dataset, train_cached
from workbench.viz.latent import plot_latent_panels
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
arms = {"Act-VAE only (λ_con = 0)": 0.0, "with contrastive term (λ_con = 1)": 1.0}
feats, tasks = {}, None
for label, w in arms.items():
    run = train_cached(notebook_config("clap_actvae", smoke=smoke, seed=seed, dataset=data, steps=steps,
                                       method_config={"contrastive_weight": w}), name=f"clap-con{w:g}")
    restored = run.load()
    val = load_split(restored, "val", stride=4 if smoke else 2)
    feats[label] = embed_split(restored.method, val).action  # (N, Nq·d) L2-normalised latents
    tasks = np.asarray(val.task)

# %%
scores, proj = {}, {}
for label, f in feats.items():
    scores[label] = float(silhouette_score(f, tasks, metric="cosine")) if len(set(tasks)) > 1 else float("nan")
    proj[label] = make_projector("tsne", random_state=seed).fit_transform(f)
    print(f"{label}: {f.shape[0]} chunks, silhouette by task {scores[label]:.3f}")

fig = plot_latent_panels(proj, tasks, subtitles={k: f"{k}<br>silhouette {scores[k]:.2f}" for k in arms},
                         title="CLAP Fig. 9: t-SNE of held-out action latents, coloured by task")
save_figure(fig, "clap_fig9_tsne", figures_out, meta={"silhouette_by_task": scores, "num_chunks": int(len(tasks))})
fig
