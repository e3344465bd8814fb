# %% [markdown]
# # CAIP Fig. 3 — linear probe against zero-shot action classification
#
# CAIP §3.2: cluster held-out action chunks with K-means, train a logistic regression on frozen
# image features to predict the cluster while sweeping 1 … 256 samples per class, and compare with
# zero-shot classification through the action encoder (each cluster's prototype is the mean action
# embedding of its members). Paper's claim: CAIP's zero-shot accuracy matches a linear probe trained
# on a fair number of labelled samples per class, and CAIP's probe curve lies above the baselines'.
#
# Here: CAIP and the behaviour-cloning baseline (same data, same steps) on the metaworld sample;
# `workbench.eval.evaluate_run` runs the whole protocol on each run's held-out episodes.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
steps = 300  # training steps per run in the full setting
figures_out = None

# %%
from workbench.eval import EvalConfig, ProbeConfig, evaluate_run
from workbench.figures import notebook_config, notebook_dataset, train_cached
from workbench.viz.curves import plot_probe_curves
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
methods = {"CAIP": "caip", "BC": "bc"}
probe_cfg = ProbeConfig(shots=(1, 2, 4) if smoke else (1, 2, 4, 8, 16, 32, 64), repeats=1 if smoke else 5, seed=seed)
stride = 4 if smoke else 1

# %%
results = {}
for label, method in methods.items():
    run = train_cached(notebook_config(method, smoke=smoke, seed=seed, dataset=data, steps=steps))
    report = evaluate_run(run.run_dir, EvalConfig(probe=True, retrieval=False, knn=False, probe_config=probe_cfg, stride=stride, out="fig3"))
    results[label] = report.probe
    p = report.probe
    print(f"{label}: K={p.num_clusters} train={p.num_train} test={p.num_test} chance={p.chance:.3f} "
          f"probe={dict(zip(p.shots, (round(a, 3) for a in p.accuracy)))} zero-shot={p.zero_shot}")

# %%
curves = {k: (r.shots, r.accuracy, r.accuracy_std) for k, r in results.items()}
zero_shot = {k: r.zero_shot for k, r in results.items() if r.zero_shot is not None}
fig = plot_probe_curves(curves, zero_shot=zero_shot, title="CAIP Fig. 3: linear probe vs zero-shot (held-out episodes)")
meta = {k: {"shots": r.shots, "accuracy": r.accuracy, "zero_shot": r.zero_shot, "chance": r.chance,
            "num_clusters": r.num_clusters, "num_test": r.num_test} for k, r in results.items()}
save_figure(fig, "caip_fig3_probe", figures_out, meta=meta)
fig
