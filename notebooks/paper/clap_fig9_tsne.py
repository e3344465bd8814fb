# %% [markdown]
# # CLAP Fig. 9 — t-SNE of action features with and without the contrastive term
#
# Paper's claim (§IV, Fig. 9): the VD-VAE's action features z_{v,a} of transitions with the same
# semantics form more compact clusters when the VD-VAE is trained with the contrastive term
# (λ_con > 0) than without it (λ_con = 0), i.e. the contrastive objective organises the latent action
# space beyond reconstructing visual dynamics.
#
# Two comparisons, both on held-out episodes, coloured by task (our stand-in for the paper's
# hand-picked semantic categories), clustering measured by the silhouette of the task labels
# (cosine, full feature space) for each training seed:
#
# 1. **VD-VAE features z_{v,a}** (the paper's Fig. 9): the same frozen Act-VAE and image tower,
#    VD-VAE with λ_con = 0.1 (Table IX) and λ_con = 0, all training episodes labelled.
# 2. **Act-VAE latents** with an image tower trained jointly (`clap_actvae`, λ_con = 1 vs 0). Since
#    the fix of issue 17 the SigLIP term's gradient reaches the Act-VAE encoder whose latents are
#    plotted (`contrastive_to_actions`); before, its target was detached and the two arms differed
#    only through gradient clipping.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0  # seed of the t-SNE and of the shared Act-VAE the VD-VAEs use
smoke = False
seeds = [0, 1, 2]  # training seeds per arm
steps = 300
figures_out = None

# %%
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sklearn.metrics import silhouette_score

from workbench.analysis import make_projector
from workbench.eval.features import embed_split, load_split
from workbench.eval.latent_actions import embed_transitions
from workbench.figures import notebook_dataset, train_arms, train_clap_vdvae
from workbench.stats import seed_sweep, separated
from workbench.viz.save import save_figure

if smoke:
    seeds = [0]
data = notebook_dataset(dataset, smoke)
stride = 4 if smoke else 2


def silhouette(f: np.ndarray, labels: list[str]) -> float:
    return float(silhouette_score(f, labels, metric="cosine")) if len(set(labels)) > 1 else float("nan")


# 1. VD-VAE action features, λ_con = 0.1 vs 0 (every seed: its own VD-VAE on the same frozen Act-VAE)
vd_arms = {"VD-VAE z_v,a, λ_con = 0": 0.0, "VD-VAE z_v,a, λ_con = 0.1": 0.1}
feats: dict[str, dict[int, tuple[np.ndarray, list[str]]]] = {}
for label, lam in vd_arms.items():
    feats[label] = {}
    for s in seeds:
        _, vd = train_clap_vdvae(smoke=smoke, seed=seed, dataset=data, steps=steps, labelled_fraction=1.0, lambda_con=lam,
                                 vdvae_seed=s)
        feats[label][s] = embed_transitions(vd.load(), stride=stride)

# 2. Act-VAE latents with a jointly trained image tower, λ_con = 1 vs 0
act_arms = {"Act-VAE latents, λ_con = 0": 0.0, "Act-VAE latents, λ_con = 1": 1.0}
act_runs = train_arms("clap_actvae", {label: {"contrastive_weight": w} for label, w in act_arms.items()}, seeds,
                      names={label: f"clap-con{w:g}" for label, w in act_arms.items()}, smoke=smoke, split_seed=seed, dataset=data,
                      steps=steps)  # fmt: skip
for label, label_runs in act_runs.items():
    feats[label] = {}
    for s, run in zip(seeds, label_runs):
        restored = run.load()
        val = load_split(restored, "val", stride=stride)
        feats[label][s] = (embed_split(restored.method, val).action, list(val.task))

# %%
scores = {label: {s: silhouette(*feats[label][s]) for s in seeds} for label in feats}
sweeps = {label: seed_sweep(list(per_seed.values())) for label, per_seed in scores.items()}
for label, per_seed in scores.items():
    print(f"{label}: silhouette by task {sweeps[label].format(3)} over seeds (per seed "
          f"{np.round(list(per_seed.values()), 3).tolist()}), {len(feats[label][seeds[0]][1])} points")
for pair in (list(vd_arms), list(act_arms)):
    print(f"{pair[1]} vs {pair[0]}: intervals separated = {separated(sweeps[pair[0]], sweeps[pair[1]])}")

# %%
labels = list(feats)
fig = make_subplots(rows=2, cols=2, subplot_titles=[f"{k}<br>silhouette {np.mean(list(scores[k].values())):.2f} "
                                                    f"(mean of {len(seeds)} seeds)" for k in labels])
tasks_all = sorted({t for k in labels for t in feats[k][seeds[0]][1]})
colours = dict(zip(tasks_all, ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3"]))
for i, label in enumerate(labels):
    f, tasks = feats[label][seeds[0]]
    proj = make_projector("tsne", random_state=seed).fit_transform(f)
    tasks = np.asarray(tasks)
    for task, colour in colours.items():
        sel = tasks == task
        fig.add_trace(go.Scatter(x=proj[sel, 0], y=proj[sel, 1], mode="markers", name=task, legendgroup=task, showlegend=i == 0,
                                 marker=dict(size=4, color=colour)), row=i // 2 + 1, col=i % 2 + 1)
fig.update_layout(title=f"CLAP Fig. 9: t-SNE of held-out action features (seed {seeds[0]}), coloured by task", height=800)
save_figure(fig, "clap_fig9_tsne", figures_out, meta={"silhouette_by_task": {k: {str(s): v for s, v in d.items()} for k, d in scores.items()},
                                                      "over_seeds": {k: i.to_dict() for k, i in sweeps.items()},
                                                      "seeds": seeds, "steps": steps,
                                                      "num_points": {k: len(feats[k][seeds[0]][1]) for k in labels}})
fig
