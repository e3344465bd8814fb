# %% [markdown]
# # CLASS Fig. 13 — latent trajectories: behaviour cloning against CLASS
#
# CLASS App. J.1 embeds every frame of several demonstrations, projects the embeddings with t-SNE
# (perplexity 100) and draws each episode as a path. Paper's claim: CLASS's paths for the same
# task follow each other closely whatever the camera, while behaviour cloning's scatter by
# viewpoint. The plot is backed by a number: `trajectory_alignment` scores how much closer each
# frame's nearest frame in *another* demonstration of its task is than a random frame of that task
# (1 = perfectly aligned, 0 = no better than random), in the full embedding space.
#
# Both encoders are the same small ResNet-18-GN trained for the same steps; frames from every
# episode of the sample (training and held-out, as the paper plots its demonstrations).

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
steps = 300
stride = 2  # every n-th frame
figures_out = None

# %%
from workbench.analysis import compute_embeddings, latent_trajectories, make_projector, trajectory_alignment
from workbench.figures import notebook_dataset, train_recipe
from workbench.viz.latent import plot_latent_trajectories
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
# the notebooks' shared recipe (workbench.figures.recipe_config): one cached run per method
runs = {
    "BC": train_recipe("bc", smoke=smoke, seed=seed, dataset=data, steps=steps),
    "CLASS": train_recipe("class", smoke=smoke, seed=seed, dataset=data, steps=steps),
}

# %%
scores, figs = {}, {}
for label, run in runs.items():
    emb = compute_embeddings(run.load(), data, stride=4 if smoke else stride)
    a = trajectory_alignment(emb.vectors, emb.episode, emb.task, emb.progress)
    scores[label] = {"alignment": a.score, "progress_alignment": a.progress_score, "per_task": a.per_task}
    pts = make_projector("tsne", random_state=seed).fit_transform(emb.vectors)
    trs = latent_trajectories(pts, emb.episode, emb.time, task=emb.task, camera_setup=emb.camera_setup)
    for colour in ("task", "camera_setup"):
        figs[label, colour] = plot_latent_trajectories(
            trs, color_by=colour, title=f"CLASS Fig. 13 — {label}: t-SNE latent trajectories by {colour.replace('_', ' ')} "
                                        f"(alignment {a.score:.2f})")
    print(f"{label}: {len(emb)} frames, alignment {a.score:.3f}, progress alignment {a.progress_score:.3f}, "
          f"per task {({k: round(v, 2) for k, v in a.per_task.items()})}")

# %%
for (label, colour), fig in figs.items():
    save_figure(fig, f"class_fig13_{label.lower()}_{colour}", figures_out, meta=scores[label])
figs["CLASS", "task"]
