# %% [markdown]
# # Rerun playback inline
#
# `workbench.viz.rerun.show_in_notebook` logs an episode (cameras with depth and segmentation,
# actions, end-effector path or hand skeletons, camera poses) and shows the Rerun viewer in the
# cell. Scrub the timeline to play it.

# %% tags=["parameters"]
dataset = "data_samples/metaworld"
episode = 0
seed = 0
smoke = False
figures_out = None

# %%
from workbench.data import load_dataset
from workbench.figures import resolve_dataset
from workbench.viz.rerun import show_in_notebook

ds = load_dataset(resolve_dataset(dataset))
ep = ds.episode(ds.infos[episode].index)
print(f"episode {ep.index}: {ep.task!r}, {len(ep)} steps, cameras {list(ep.cameras)}, setup {ep.camera_setup}")
rec = show_in_notebook(ep, height=500)

# %% [markdown]
# A hand-pose episode: the skeleton in MANO order from the EgoDex-style sample.

# %%
hands = load_dataset(resolve_dataset("data_samples/hands"))
if not smoke:
    show_in_notebook(hands.episode(hands.infos[0].index), height=500)
