# %% [markdown]
# # CLAMP Fig. 8 on a task held out of pre-training
#
# CLAMP App. B, Fig. 8: SigLIP matching probabilities sigmoid(t · x·zᵀ + b) between image and
# previous-action embeddings "on an unseen task"; the paper's model "correctly retrieves all
# examples for both tasks" (image → previous action and previous action → image). Here CLAMP on
# depth + XYZ virtual views with STRING is pre-trained on five metaworld tasks and evaluated on the
# sixth, on App. B examples (time step a multiple of 10, a new 3×3 grid cell of the first object
# per step), spread over the held-out episodes. We report how many rows pick their own pair
# (top-1, with a Wilson interval) against chance 1/n, and the mean diagonal vs off-diagonal
# probability.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample
seed = 0
smoke = False
steps = 300
held_out = "door-open"  # the task left out of pre-training
view_size = 32
matching_size = 12  # examples per matrix
figures_out = None

# %%
import numpy as np
import torch

from workbench.data import load_dataset
from workbench.data.training_samples import collate
from workbench.data.views import DEFAULT_VIEWS
from workbench.eval.appb import first_object_positions, select_app_b
from workbench.eval.retrieval import matching_probabilities
from workbench.figures import notebook_config, resolve_dataset, smoke_dataset, train_cached
from workbench.stats import wilson_interval
from workbench.train.run import load_run
from workbench.viz.matrices import plot_matching_matrix
from workbench.viz.save import save_figure

source = resolve_dataset(dataset or "data_samples/metaworld")
tasks = load_dataset(source).tasks
if held_out not in tasks:
    raise ValueError(f"held_out must be one of {tasks}, got {held_out!r}")
per_task = 2 if smoke else 8
train_data = smoke_dataset(source, tasks=tuple(t for t in tasks if t != held_out)[: 2 if smoke else None], per_task=per_task)
test_data = smoke_dataset(source, tasks=(held_out,), per_task=per_task)
mc = {"image_input": "dxyz", "view_size": view_size}
run = train_cached(notebook_config("clamp", smoke=smoke, seed=seed, dataset=str(train_data), steps=steps, method_config=mc),
                   name=f"clamp3d-without-{held_out}")  # fmt: skip
trained = load_run(run.run_dir)
method = trained.method.eval()
print(f"pre-trained on {load_dataset(train_data).tasks}; evaluated on {held_out}")

# %%
test_eps = list(load_dataset(test_data))
fcd = trained.samples(test_eps, stride=1)  # the held-out task's samples as training saw its own
eps = {ep.index: ep for ep in test_eps}
pos = first_object_positions(eps, fcd.chunks.episode, fcd.chunks.time)
tasks_of = [eps[int(e)].task for e in fcd.chunks.episode]
chosen = select_app_b(tasks_of, fcd.chunks.time, pos, lo=DEFAULT_VIEWS.workspace_lo, hi=DEFAULT_VIEWS.workspace_hi)
pick = chosen[np.linspace(0, len(chosen) - 1, min(matching_size, len(chosen))).round().astype(int)]
with torch.no_grad():
    b = collate([fcd[int(i)] for i in pick])
    x = method.encode_images(b["image"]).numpy()
    z = method.encode_history(b["history"]).numpy()
t, bias = float(method.loss_fn.temperature.detach()), float(method.loss_fn.bias.detach())
n = len(pick)
print(f"{len(chosen)} App. B examples of {held_out}; {n} in the matrices; t = {t:.2f}, b = {bias:.2f}")

# %%
stats = {}
for name, p in (("image→previous action", matching_probabilities(x, z, t, bias)),
                ("previous action→image", matching_probabilities(z, x, t, bias))):  # fmt: skip
    hits = int((p.argmax(axis=1) == np.arange(n)).sum())
    top1 = wilson_interval(hits, n)
    diag, off = float(np.mean(np.diag(p))), float(p[~np.eye(n, dtype=bool)].mean())
    stats[name] = {"top1": top1.estimate, "top1_low": top1.low, "top1_high": top1.high, "n": n, "chance": 1 / n,
                   "mean_diagonal": diag, "mean_off_diagonal": off}  # fmt: skip
    print(f"{name}: top-1 {hits}/{n} = {top1.format(2)} (chance {1 / n:.2f}); diagonal {diag:.3f} vs off-diagonal {off:.3f}")
    a, c = name.split("→")
    fig = plot_matching_matrix(p, row_labels=[f"{a} {i}" for i in range(n)], col_labels=[f"{c} {j}" for j in range(n)],
                               x_label=c, y_label=a,
                               title=f"CLAMP Fig. 8 on held-out {held_out}: {name} (top-1 {hits}/{n}, diag {diag:.2f}, off {off:.2f})")  # fmt: skip
    save_figure(fig, f"clamp_fig8_heldout_{'image_action' if name.startswith('image') else 'action_image'}", figures_out,
                meta={"held_out": held_out, "temperature": t, "bias": bias, **stats[name]})  # fmt: skip
fig
