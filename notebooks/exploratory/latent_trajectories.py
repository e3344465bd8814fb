# %% [markdown]
# # Latent trajectories
#
# Embed every frame of the demonstrations with a trained encoder, project to 2-D and draw each
# episode as a path (CLASS App. J.1). The alignment score says how much closer a frame's nearest
# frame in another demonstration of its task is than a random frame of that task.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
method = "class"
steps = 300
projector = "tsne"  # tsne, pca or umap (umap compiles for ~40 s on first use)
stride = 2
figures_out = None

# %%
from workbench.analysis import compute_embeddings, latent_trajectories, make_projector, trajectory_alignment
from workbench.figures import notebook_dataset, train_recipe
from workbench.viz.latent import plot_latent_trajectories

data = notebook_dataset(dataset, smoke)
# the paper notebooks' recipe (CLASS Fig. 13/14), so their trained run is reused
run = train_recipe(method, smoke=smoke, seed=seed, dataset=data, steps=steps)
emb = compute_embeddings(run.load(), data, stride=4 if smoke else stride)
a = trajectory_alignment(emb.vectors, emb.episode, emb.task, emb.progress)
print(f"{len(emb)} frames of {len(set(emb.episode))} episodes; alignment {a.score:.3f}, progress alignment {a.progress_score:.3f}")

# %%
pts = make_projector(projector, random_state=seed).fit_transform(emb.vectors)
trs = latent_trajectories(pts, emb.episode, emb.time, task=emb.task, camera_setup=emb.camera_setup, smooth=1.0)
plot_latent_trajectories(trs, color_by="task", title=f"{method}: {projector} of frame embeddings by task").show()
plot_latent_trajectories(trs, color_by="time", title="coloured by step")
