# %% [markdown]
# # A tour of the shipped datasets
#
# `data_samples/` holds three small datasets: metaworld scripted experts (LeRobot v3, six tasks,
# a scene camera that is fixed, randomly placed or moving, and a wrist camera, with depth and
# segmentation), a Shadow hand in the EgoDex layout (hand poses as SE(3) per joint) and a
# robomimic-style HDF5 file. `workbench.data.load_dataset` reads any of them into the same
# `Episode` type; this notebook lists them and plots one episode of each.

# %% tags=["parameters"]
dataset = None  # None: all three samples; or a path to any dataset load_dataset reads
seed = 0
smoke = False
episodes_per_dataset = 2
figures_out = None

# %%
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.data import load_dataset
from workbench.figures import resolve_dataset
from workbench.viz.episode import plot_episode_streams

paths = [dataset] if dataset else ["data_samples/metaworld", "data_samples/hands", "data_samples/robomimic"]
datasets = {p: load_dataset(resolve_dataset(p)) for p in paths}
pd.DataFrame([{k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in ds.info().to_dict().items()
               if k != "path"} | {"dataset": p} for p, ds in datasets.items()]).set_index("dataset").T

# %% [markdown]
# Episodes per task and camera setup (metadata only: nothing is decoded yet).

# %%
pd.concat([pd.DataFrame([{"dataset": p, "task": i.task, "camera_setup": str(i.camera_setup), "length": i.length}
                         for i in ds.infos]) for p, ds in datasets.items()]).groupby(["dataset", "task"]).agg(
    episodes=("length", "size"), mean_length=("length", "mean"), setups=("camera_setup", lambda s: sorted(set(s))))

# %% [markdown]
# One episode of each: its streams over time and its first frame per camera.

# %%
rng = np.random.default_rng(seed)
for p, ds in datasets.items():
    picks = rng.choice(len(ds.infos), size=min(1 if smoke else episodes_per_dataset, len(ds.infos)), replace=False)
    for idx in picks:
        ep = ds.episode(int(ds.infos[int(idx)].index))
        print(f"{p} episode {ep.index}: task {ep.task!r}, {len(ep)} steps at {ep.fps} fps, instruction {ep.instruction!r}, "
              f"cameras {list(ep.cameras)}, modalities {ep.modalities}")
        plot_episode_streams(ep, max_dims=6, frame=len(ep) // 2).show()
        frames = go.Figure()
        for n, (name, cam) in enumerate(ep.cameras.items()):
            frames.add_trace(go.Image(z=cam.rgb[len(ep) // 2], xaxis=f"x{n + 1}", yaxis=f"y{n + 1}", name=name))
        frames.update_layout(grid=dict(rows=1, columns=len(ep.cameras)), height=300, title=f"{p} ep {ep.index}: mid-episode frames")
        frames.show()
