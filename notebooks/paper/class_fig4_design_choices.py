# %% [markdown]
# # CLASS Fig. 4 — design choices: soft vs hard positives, DTW window, DTW vs L2, quantile K
#
# CLASS §5 (Fig. 4) varies one design choice at a time (panel b: the DTW horizon, "up to T = 16",
# with the executed chunk length fixed at 16) and measures the k-NN retrieval policy
# (§4.4, k = 64, similarity-weighted chunk ensembling). Paper's claims: soft weights beat hard
# positives; a longer DTW horizon (up to T = 16) beats a short one; DTW beats L2 between the
# flattened chunks; a small quantile K (≈ 2.5 %) is best, too large K admits false positives.
#
# Here every variant trains the same small ResNet-18-GN (quarter width) for the same steps on the
# metaworld sample, and is measured **offline**: the k-NN policy's action-chunk MSE on held-out
# episodes (raw 4-D actions), next to the blind mean chunk and k-NN on the true state.
# Closed-loop success (`rollouts > 0`) follows the reference protocol on the tasks that can tell
# representations apart (reach, push, pick-place: blind replay 3–13 %, state k-NN 10–40 %, see
# `../shared/reference/metaworld-baselines.md`); it needs ≥ 100 episodes per task to resolve
# differences of ~10 points, so it is off by default to keep the notebook quick. The closed-loop
# panels at 32 demos a task are `workbench compare` stage (3) (notebooks/paper/README.md).
#
# Every variant is trained for `num_seeds` seeds (the held-out split follows the seed, the same for
# every variant at a seed); each MSE is the mean over seeds with a 95 % Student-t interval, and each
# variant's difference to the default is paired by seed (`workbench.stats.seed_sweep`).

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0  # first training seed; seeds seed … seed + num_seeds − 1
smoke = False
num_seeds = 3
steps = 300
rollouts = 0  # closed-loop episodes per task (reference protocol seeds 2000…); 0 = offline only
rollout_tasks = ["reach", "push", "pick-place"]
figures_out = None

# %%
from workbench.eval import EvalConfig, KNNConfig, evaluate_run
from workbench.figures import notebook_dataset, train_recipe
from workbench.stats import seed_sweep
from workbench.viz.curves import plot_variant_bars
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
variants = {  # Fig. 4 panel -> label -> CLASS settings changed from the default (soft, DTW, no window, K = 2.5 %)
    "a) weights": {"soft (default)": {}, "hard": {"hard": True}},
    "b) DTW horizon": {"horizon 1": {"dtw_horizon": 1}, "horizon 4": {"dtw_horizon": 4}, "horizon 8": {"dtw_horizon": 8}},
    "c) distance": {"L2": {"distance": "l2"}},
    "d) quantile K": {"K = 1 %": {"quantile": 1.0}, "K = 10 %": {"quantile": 10.0}},
}
if smoke:  # one variant per code path
    variants = {"a) weights": {"soft (default)": {}, "hard": {"hard": True}}, "c) distance": {"L2": {"distance": "l2"}}}

# %%
seeds = [seed] if smoke else list(range(seed, seed + num_seeds))
per_seed = []  # one row per (variant, seed)
for s in seeds:
    for panel, group in variants.items():
        for label, change in group.items():
            run = train_recipe("class", smoke=smoke, seed=s, dataset=data, steps=steps, method_config=change)
            rep = evaluate_run(run.run_dir, EvalConfig(probe=False, retrieval=False, knn=True, knn_config=KNNConfig(k=64),
                               rollouts=0 if smoke else rollouts, tasks=rollout_tasks, per_task_corpus=False,
                               save_episodes=0, stride=4 if smoke else 1, out="fig4"))
            row = {"panel": panel, "variant": label, "seed": s, "knn_mse": rep.knn.policy.mse, "knn_l1": rep.knn.policy.l1,
                   **{f"{k}_mse": v.mse for k, v in rep.knn.baselines.items()}}
            if rep.rollouts:
                row["success"] = rep.rollouts[0].success_rate
            per_seed.append(row)
            print(row)

# %% every MSE with its interval over seeds; each variant against the default, paired by seed
default = {r["seed"]: r["knn_mse"] for r in per_seed if r["variant"] == "soft (default)"}
rows = []
for panel, group in variants.items():
    for label in group:
        mine = [r for r in per_seed if r["variant"] == label]
        iv = seed_sweep([r["knn_mse"] for r in mine])
        row = {"panel": panel, "variant": label, "knn_mse": iv.estimate, "knn_mse_half_width": iv.half_width, "knn_mse_interval": iv.to_dict(),
               **{k: seed_sweep([r[k] for r in mine]).estimate for k in mine[0] if k.endswith("_mse") and k != "knn_mse"}}
        if label != "soft (default)":
            diff = seed_sweep([r["knn_mse"] - default[r["seed"]] for r in mine])
            row["minus_default"] = diff.to_dict()
        rows.append(row)
        print(f"{panel:16s} {label:16s} MSE {iv.format(3)}" + (f"  − default {diff.format(3)}" if label != "soft (default)" else ""))
baselines = {k: seed_sweep([r[k] for r in per_seed if r["variant"] == "soft (default)"]).to_dict()
             for k in per_seed[0] if k.endswith("_mse") and k != "knn_mse"}
print("baselines", {k: f"{v['estimate']:.3f} [{v['low']:.3f}, {v['high']:.3f}]" for k, v in baselines.items()})

# %%
fig = plot_variant_bars(rows, value="knn_mse", baselines=("mean_chunk_mse", "state_knn_mse"), name="CLASS k-NN", error="knn_mse_half_width",
                        title=f"CLASS Fig. 4: held-out action MSE of the k-NN retrieval policy per design choice (lower is better; "
                              f"error bars: 95 % over {len(seeds)} seeds)",
                        yaxis_title="action-chunk MSE (raw actions)", xaxis_title="variant (panels a–d)")
save_figure(fig, "class_fig4_design_choices", figures_out,
            meta={"rows": rows, "baselines": baselines, "per_seed": per_seed, "seeds": seeds, "steps": steps, "rollouts": rollouts})
fig
