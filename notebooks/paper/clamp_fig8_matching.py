# %% [markdown]
# # CLAMP Fig. 8 — SigLIP matching-probability matrices
#
# For a handful of held-out samples, the probability sigmoid(t · x·yᵀ + b) that sample i of one
# modality matches sample j of another, with the learnt temperature t and bias b. Paper's claim:
# after pre-training the matrices are close to diagonal (high on matching pairs, low elsewhere).
# The same trained run as Fig. 7 (reused from the run cache when it exists).

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
steps = 300
matching_size = 12  # samples per matrix
figures_out = None

# %%
import numpy as np

from workbench.eval import EvalConfig, evaluate_run
from workbench.figures import notebook_config, notebook_dataset, train_cached
from workbench.viz.matrices import plot_matching_matrix
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
run = train_cached(notebook_config("clamp", smoke=smoke, seed=seed, dataset=data, steps=steps))
r = evaluate_run(run.run_dir, EvalConfig(probe=False, retrieval=True, knn=False, stride=4 if smoke else 1, out="fig8")).retrieval
print(f"t = {r.temperature:.2f}, b = {r.bias:.2f}, pairs: {list(r.matching)}")

# %%
stats = {}
for pair in r.matching:
    p = r.matching_array(pair)[:matching_size, :matching_size]
    diag, off = float(np.mean(np.diag(p))), float(p[~np.eye(len(p), dtype=bool)].mean())
    stats[pair] = {"mean_diagonal": diag, "mean_off_diagonal": off}
    a, b = pair.split("-")
    fig = plot_matching_matrix(p, row_labels=[f"{a} {i}" for i in range(len(p))], col_labels=[f"{b} {j}" for j in range(len(p))], x_label=b, y_label=a,
                               title=f"CLAMP Fig. 8: {a}–{b} matching probabilities (diag {diag:.2f}, off-diag {off:.2f})")
    save_figure(fig, f"clamp_fig8_matching_{pair}", figures_out, meta={"temperature": r.temperature, "bias": r.bias, **stats[pair]})
    print(pair, stats[pair])
fig
