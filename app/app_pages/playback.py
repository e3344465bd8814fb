"""Playback: the episode in the Rerun web viewer, and a light frame scrubber beside it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cache
import sidebar
import streamlit as st
import streamlit.components.v1 as components

from workbench.types import DataError
from workbench.viz.trajectory import episode_path, plot_path_3d

st.title("Playback")
entry = sidebar.choose_dataset()
if entry is None:
    st.stop()
path = str(entry.path)
mtime = Path(path).stat().st_mtime
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

frame = st.slider("Frame", 0, len(ep) - 1, 0, key="playback_frame")
left, right = st.columns([1, 1])
with left:
    for name in ep.cameras:
        try:
            st.image(cache.frames(path, mtime, ep_index, name)[frame], caption=name, width=260)
        except DataError as e:
            st.error(str(e))
with right:
    if episode_path(ep) is not None:
        st.plotly_chart(plot_path_3d(ep, frame, int(horizon)), width="stretch")

st.subheader("Rerun viewer")
st.caption("Images, depth, camera frusta, the end-effector path or hand skeletons, action curves and chunk worms.")
point_cloud = st.toggle("Point cloud from depth", value=False, key="playback_pc")
if st.toggle("Open the viewer", value=False, key="playback_open"):
    with st.spinner("Logging the episode to Rerun…"):
        served = cache.rerun_server(path, mtime, ep_index, int(horizon), point_cloud)
    components.iframe(served.url, height=720)
    st.caption(f"Viewer: {served.url}")

with tempfile.TemporaryDirectory() as tmp:
    from workbench.viz.rerun import save_episode_rrd

    if st.button("Prepare .rrd download", key="playback_rrd"):
        out = save_episode_rrd(ep, Path(tmp) / f"episode_{ep_index}.rrd", horizon=int(horizon), point_cloud=point_cloud)
        st.download_button("Download .rrd", out.read_bytes(), file_name=out.name, key="playback_download")
