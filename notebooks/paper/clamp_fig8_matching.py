# %% [markdown]
# # CLAMP Fig. 8 — SigLIP matching-probability matrices
#
# For a handful of held-out samples, the probability sigmoid(t · x·yᵀ + b) that sample i of one
# modality matches sample j of another, with the learnt temperature t and bias b. Paper's claim:
# after pre-training the matrices are close to diagonal (high on matching pairs, low elsewhere).
# The same trained runs as Fig. 7 (reused from the run cache when they exist), over `num_seeds`
# training seeds (the held-out split follows the seed); every number is the mean over seeds with a
# 95 % Student-t interval (`workbench.stats.seed_sweep`), the matrices drawn are the first seed's.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0  # first training seed; seeds seed … seed + num_seeds − 1
smoke = False
steps = 300
num_seeds = 3
matching_size = 12  # samples per matrix
figures_out = None

# %%
import numpy as np

from workbench.eval import EvalConfig, evaluate_run
from workbench.figures import notebook_config, notebook_dataset, train_cached
from workbench.stats import seed_sweep
from workbench.viz.matrices import plot_matching_matrix
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
seeds = [seed] if smoke else list(range(seed, seed + num_seeds))
per_seed: dict = {}  # pair -> [{"mean_diagonal", "mean_off_diagonal", "temperature", "bias"} per seed]
matrices: dict = {}  # pair -> the first seed's matrix
for s in seeds:
    run = train_cached(notebook_config("clamp", smoke=smoke, seed=s, dataset=data, steps=steps))
    r = evaluate_run(run.run_dir, EvalConfig(probe=False, retrieval=True, knn=False, stride=4 if smoke else 1, out="fig8")).retrieval
    print(f"seed {s}: t = {r.temperature:.2f}, b = {r.bias:.2f}, pairs: {list(r.matching)}")
    for pair in r.matching:
        p = r.matching_array(pair)[:matching_size, :matching_size]
        diag, off = float(np.mean(np.diag(p))), float(p[~np.eye(len(p), dtype=bool)].mean())
        per_seed.setdefault(pair, []).append({"seed": s, "mean_diagonal": diag, "mean_off_diagonal": off,
                                              "temperature": r.temperature, "bias": r.bias})
        matrices.setdefault(pair, p)
        print(f"  {pair}: diagonal {diag:.3f}, off-diagonal {off:.3f}")

# %% every number with its interval over seeds
stats = {}
for pair, rows in per_seed.items():
    diag = seed_sweep([r["mean_diagonal"] for r in rows])
    off = seed_sweep([r["mean_off_diagonal"] for r in rows])
    margin = seed_sweep([r["mean_diagonal"] - r["mean_off_diagonal"] for r in rows])  # paired by seed
    ratio = seed_sweep([r["mean_diagonal"] / r["mean_off_diagonal"] for r in rows])
    stats[pair] = {"mean_diagonal": diag.to_dict(), "mean_off_diagonal": off.to_dict(), "diagonal_minus_off": margin.to_dict(),
                   "diagonal_over_off": ratio.to_dict(), "max_probability": float(max(np.max(matrices[pair]), 0.0)),
                   "per_seed": rows, "seeds": seeds, "matching_size": matching_size}
    print(f"{pair:12s} diagonal {diag}  off-diagonal {off}  diagonal − off {margin.format(3)}  ratio {ratio}")

# %%
for pair, p in matrices.items():
    a, b = pair.split("-")
    st = stats[pair]
    fig = plot_matching_matrix(p, row_labels=[f"{a} {i}" for i in range(len(p))], col_labels=[f"{b} {j}" for j in range(len(p))], x_label=b, y_label=a,
                               title=f"CLAMP Fig. 8: {a}–{b} matching probabilities, seed {seeds[0]} (over {len(seeds)} seeds: "
                                     f"diag {st['mean_diagonal']['estimate']:.3f}, off-diag {st['mean_off_diagonal']['estimate']:.3f})")
    save_figure(fig, f"clamp_fig8_matching_{pair}", figures_out, meta=stats[pair])
fig
