# %% [markdown]
# # DTW neighbours between action chunks
#
# CLASS (§4.1, App. B) calls two observations similar when the action chunks that follow them are
# close under dynamic time warping: end-effector chunks of 16 steps (position, 6-D rotation scaled
# by 0.5, gripper). This notebook finds the DTW nearest chunks of a query in other episodes, draws
# the alignment path over the step-cost matrix, and overlays the two chunks.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
horizon = 16
stride = 2
k = 8
figures_out = None

# %%
import numpy as np

from workbench.data import load_dataset
from workbench.data.chunks import dataset_chunks
from workbench.dtw import dtw_path, dtw_topk
from workbench.figures import notebook_dataset
from workbench.viz.actions import plot_action_chunks
from workbench.viz.matrices import plot_dtw_matrix

ds = load_dataset(notebook_dataset(dataset, smoke))
chunks = dataset_chunks((ds.episode(i.index) for i in ds.infos), "ee", horizon, stride=4 if smoke else stride)
task = {i.index: i.task for i in ds.infos}
print(f"{len(chunks.values)} chunks of shape {chunks.values.shape[1:]}")

# %% the query: a random chunk; neighbours from other episodes only
rng = np.random.default_rng(seed)
q = int(rng.integers(len(chunks.values)))
others = np.flatnonzero(chunks.episode != chunks.episode[q])
idx, dist = dtw_topk(chunks.values[q : q + 1], chunks.values[others], k)
nbrs = others[idx[0]]
for r, d in zip(nbrs, dist[0]):
    print(f"ep {chunks.episode[r]:3d} t {chunks.time[r]:3d} {task[int(chunks.episode[r])]:12s} DTW {d:.4f}")
print(f"query: ep {chunks.episode[q]} t {chunks.time[q]} {task[int(chunks.episode[q])]}; "
      f"{np.mean([task[int(chunks.episode[r])] == task[int(chunks.episode[q])] for r in nbrs]):.0%} of neighbours share its task")

# %% the alignment with the nearest neighbour
a, b = chunks.values[q], chunks.values[nbrs[0]]
d, path = dtw_path(a, b)
cost = ((a[:, None] - b[None]) ** 2).sum(-1)
plot_dtw_matrix(cost, path, title=f"step cost and DTW path (distance {d:.4f})").show()
plot_action_chunks(a[:, :3], b[:, :3], mode="3d", title="query (true) vs nearest DTW neighbour (predicted): xyz")
