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
# episode of the sample (training and held-out, as the paper plots its demonstrations). The scores
# are measured for `num_seeds` training seeds of both encoders and reported as the mean over seeds
# with a 95 % Student-t interval (`workbench.stats.seed_sweep`), beside CLASS − BC paired by seed;
# the t-SNE pictures are the first seed's.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0  # first training seed; seeds seed … seed + num_seeds − 1
smoke = False
num_seeds = 3
steps = 300
stride = 2  # every n-th frame
figures_out = None

# %%
from workbench.analysis import compute_embeddings, latent_trajectories, make_projector, trajectory_alignment
from workbench.figures import notebook_dataset, train_recipe
from workbench.stats import seed_sweep
from workbench.viz.latent import plot_latent_trajectories
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
seeds = [seed] if smoke else list(range(seed, seed + num_seeds))
labels = {"BC": "bc", "CLASS": "class"}

# %%
per_seed: dict = {label: [] for label in labels}
figs = {}
for s in seeds:
    for label, method in labels.items():
        # the notebooks' shared recipe (workbench.figures.recipe_config): one cached run per method and seed
        run = train_recipe(method, smoke=smoke, seed=s, dataset=data, steps=steps)
        emb = compute_embeddings(run.load(), data, stride=4 if smoke else stride)
        a = trajectory_alignment(emb.vectors, emb.episode, emb.task, emb.progress)
        per_seed[label].append({"seed": s, "alignment": a.score, "progress_alignment": a.progress_score, "per_task": a.per_task})
        print(f"{label} seed {s}: {len(emb)} frames, alignment {a.score:.3f}, progress alignment {a.progress_score:.3f}, "
              f"per task {({k: round(v, 2) for k, v in a.per_task.items()})}")
        if s == seeds[0]:  # the pictures: the first seed's
            pts = make_projector("tsne", random_state=s).fit_transform(emb.vectors)
            trs = latent_trajectories(pts, emb.episode, emb.time, task=emb.task, camera_setup=emb.camera_setup)
            for colour in ("task", "camera_setup"):
                figs[label, colour] = plot_latent_trajectories(
                    trs, color_by=colour, title=f"CLASS Fig. 13 — {label} (seed {s}): t-SNE latent trajectories by "
                                                f"{colour.replace('_', ' ')} (alignment {a.score:.2f})")

# %% every score with its interval over seeds, and CLASS − BC paired by seed
scores: dict = {label: {"seeds": seeds, "per_seed": rows} for label, rows in per_seed.items()}
for name in ("alignment", "progress_alignment"):
    for label, rows in per_seed.items():
        scores[label][name] = seed_sweep([r[name] for r in rows]).to_dict()
    diff = seed_sweep([c[name] - b[name] for c, b in zip(per_seed["CLASS"], per_seed["BC"])])
    for label in labels:
        scores[label][f"CLASS_minus_BC_{name}"] = diff.to_dict()
    print(f"{name:18s} BC {seed_sweep([r[name] for r in per_seed['BC']]).format(3)}  "
          f"CLASS {seed_sweep([r[name] for r in per_seed['CLASS']]).format(3)}  CLASS − BC {diff.format(3)}")

# %%
for (label, colour), fig in figs.items():
    save_figure(fig, f"class_fig13_{label.lower()}_{colour}", figures_out, meta=scores[label])
figs["CLASS", "task"]
