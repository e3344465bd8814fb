"""Playback: the episode in the Rerun web viewer, and a light frame scrubber beside it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cache
import sidebar
import state
import streamlit as st
import streamlit.components.v1 as components

from workbench.types import DataError
from workbench.viz.trajectory import episode_path, plot_path_3d

st.title("Playback")
goto = st.session_state.pop(state.PLAYBACK_GOTO, None)
if goto is not None:  # another page asked for an episode and frame: set the widgets before they are drawn
    st.session_state[state.DATASET] = goto[0]
    st.session_state["playback_episode"] = int(goto[1])
    st.session_state["playback_frame"] = int(goto[2])
entry, path, mtime = sidebar.dataset_or_stop()
try:
    table = cache.episode_table(path, mtime)
except DataError as e:
    st.error(f"Cannot open this dataset: {e}")
    st.stop()
if table.empty:
    st.info("This dataset has no episodes that can be served.")
    st.stop()

c1, c2 = st.columns([2, 1])
ep_index = int(c1.selectbox("Episode", table["episode"].tolist(), key="playback_episode"))
horizon = c2.number_input("Chunk horizon (worms)", 2, 64, 16, key="playback_horizon")
try:
    ep = cache.episode(path, mtime, ep_index)
except DataError as e:
    st.error(f"Cannot load episode {ep_index}: {e}")
    st.stop()

if st.session_state.get("playback_frame", 0) > len(ep) - 1:
    st.session_state["playback_frame"] = len(ep) - 1
frame = st.slider("Frame", 0, len(ep) - 1, key="playback_frame")

predicted: dict = {}
worms: tuple = ()
with st.expander("Predicted chunks (k-NN policy of a run)", expanded=False):
    if ep.ee_pos is None:
        st.caption("This dataset has no end-effector pose: predicted-chunk worms need one.")
    elif st.toggle("Show a run's predicted worms", value=False, key="playback_predict"):
        w1, w2, w3 = st.columns([3, 1, 1])
        run = sidebar.choose_run(w1, "playback_run")
        k = int(w2.number_input("k", 1, 256, 16, key="playback_k"))
        anchor = w3.toggle("Anchor at the gripper", value=False, key="playback_anchor",
                           help="Shift each predicted path to start at the current end-effector position")  # fmt: skip
        st.caption("Retrieves the k training frames (of the run's training split, never this episode) most similar "
                   "in the run's embedding and averages the end-effector positions that followed them.")  # fmt: skip
        if run is not None:
            stamp = cache.checkpoint_stamp(str(run.path))
            with st.spinner("Embedding this episode and the run's training split…"):
                try:
                    name = f"{run.id} k-NN"
                    predicted[name] = cache.ee_paths(str(run.path), stamp, path, mtime, ep_index, k, anchor)
                    worms = ((name, str(run.path), stamp, k, anchor),)
                except Exception as e:
                    st.error(f"Cannot predict with run `{run.id}` on this dataset: {e}")
left, right = st.columns([1, 1])
with left:
    for name in ep.cameras:
        try:
            st.image(cache.frames(path, mtime, ep_index, name)[frame], caption=name, width=260)
        except DataError as e:
            st.error(str(e))
with right:
    if episode_path(ep) is not None:
        st.plotly_chart(plot_path_3d(ep, frame, int(horizon), predicted=predicted or None), width="stretch")

st.subheader("Rerun viewer")
st.caption("Images, depth, camera frusta, the end-effector path or hand skeletons, action curves and chunk worms.")
point_cloud = st.toggle("Point cloud from depth", value=False, key="playback_pc")
if st.toggle("Open the viewer", value=False, key="playback_open"):
    with st.spinner("Logging the episode to Rerun…"):
        served = cache.rerun_server(path, mtime, ep_index, int(horizon), point_cloud, worms)
    components.iframe(served.url, height=720)
    st.caption(f"Viewer: {served.url}")

with tempfile.TemporaryDirectory() as tmp:
    from workbench.viz.rerun import save_episode_rrd

    if st.button("Prepare .rrd download", key="playback_rrd"):
        out = save_episode_rrd(ep, Path(tmp) / f"episode_{ep_index}.rrd", horizon=int(horizon), point_cloud=point_cloud)
        st.download_button("Download .rrd", out.read_bytes(), file_name=out.name, key="playback_download")
