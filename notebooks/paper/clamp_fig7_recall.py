# %% [markdown]
# # CLAMP Fig. 7 — Recall@5 cross-modal retrieval
#
# CLAMP App. B: embed held-out samples with the image, text and action(-history) encoders and
# measure, for each ordered pair of modalities, how often the paired sample is among the 5 most
# similar keys. Paper's claim: the tri-modal SigLIP objective gives far-above-chance Recall@5 for
# every pair. Here we compare the trained CLAMP with the same model after a single step (its
# initialisation) and with chance (5 / number of keys).

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
steps = 300
figures_out = None

# %%
from workbench.eval import EvalConfig, evaluate_run
from workbench.figures import notebook_config, notebook_dataset, train_cached
from workbench.viz.curves import plot_recall_at_k
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
stride = 4 if smoke else 1
runs = {
    "CLAMP": train_cached(notebook_config("clamp", smoke=smoke, seed=seed, dataset=data, steps=steps)),
    "CLAMP at init (1 step)": train_cached(notebook_config("clamp", smoke=smoke, seed=seed, dataset=data, overrides=["steps=1"]),
                                           name="clamp-init"),
}

# %%
recalls, meta = {}, {}
for label, run in runs.items():
    r = evaluate_run(run.run_dir, EvalConfig(probe=False, retrieval=True, knn=False, stride=stride, out="fig7")).retrieval
    meta[label] = {"recall": r.recall, "num_samples": r.num_samples, "notes": r.notes}
    for pair, at in r.recall.items():
        recalls[f"{pair.replace('->', '→')} · {label}"] = {int(k): v for k, v in at.items() if int(k) in (1, 5)}
n = meta["CLAMP"]["num_samples"]
meta["chance_recall_at_5"] = 5 / n
for k, v in recalls.items():
    print(f"{k:40s} R@1 {v[1]:.3f}  R@5 {v[5]:.3f}")
print(f"chance R@5 (paired keys) = 5/{n} = {5 / n:.3f}")

# %%
fig = plot_recall_at_k(recalls, title=f"CLAMP Fig. 7: cross-modal Recall@k on {n} held-out samples (chance R@5 {5 / n:.3f})")
save_figure(fig, "clamp_fig7_recall", figures_out, meta=meta)
fig
