"""Playback: a frame scrubber with a play button, the camera frames and 3-D path beside it, and the
episode in the Rerun web viewer, its time synced with the scrubber both ways."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import cache
import sidebar
import state
import streamlit as st
from live_plot import live_plot
from rerun_viewer import ViewerTime, rerun_viewer

from workbench.types import DataError
from workbench.viz.trajectory import episode_path, plot_path_3d
from workbench.viz.virtual_views import why_no_virtual_views


PLAYING = "playback_playing"  # bool: the play button's state


def toggle_playing() -> None:
    st.session_state[PLAYING] = not st.session_state.get(PLAYING, False)


def follow_viewer(t: ViewerTime) -> None:
    """The time the user scrubbed or played to inside the Rerun viewer becomes the scrubber's (the
    page clamps it to the episode); the viewer playing on its own stops the page's play button."""
    st.session_state["playback_frame"] = t.frame
    st.session_state.pop("playback_next", None)
    if t.playing:
        st.session_state[PLAYING] = False


def viewer_host() -> str:
    """The host name the browser reached the app by: the Rerun servers listen on every interface,
    so the viewer opens from another machine too (``make app HOST=0.0.0.0``)."""
    return urlsplit("//" + (st.context.headers.get("Host") or "localhost")).hostname or "localhost"


st.title("Playback")
goto = st.session_state.pop(state.PLAYBACK_GOTO, None)
if goto is not None and goto[0] == st.session_state.get(state.DATASET):  # another page asked for an episode and frame
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

if "playback_next" in st.session_state:  # the play button's step, set before the slider is drawn
    st.session_state["playback_frame"] = st.session_state.pop("playback_next")
if st.session_state.get("playback_frame", 0) > len(ep) - 1:
    st.session_state["playback_frame"] = len(ep) - 1
s1, s2 = st.columns([1, 7], vertical_alignment="bottom")
playing = bool(st.session_state.get(PLAYING, False))
s1.button("⏸ Pause" if playing else "▶ Play", key="playback_play", on_click=toggle_playing, width="stretch",
          help="Step through the frames (the Rerun viewer below follows)")  # fmt: skip
frame = s2.slider("Frame", 0, len(ep) - 1, key="playback_frame")

predicted: dict = {}
worms: tuple = ()
with st.expander("Predicted chunks (k-NN policy of a run)", expanded=False):
    if ep.ee_pos is None:
        st.caption("This dataset has no end-effector pose: predicted-chunk worms need one.")
    elif (run := sidebar.run_or_none()) is None:
        st.caption("No trained run reads this dataset: pick a dataset a run was trained on in the sidebar.")
    elif st.toggle(f"Show the predicted worms of `{run.id}` (the sidebar's run)", value=False, key="playback_predict"):
        w2, w3 = st.columns([1, 1])
        k = int(w2.number_input("k", 1, 256, 16, key="playback_k"))
        anchor = w3.toggle("Anchor at the gripper", value=False, key="playback_anchor",
                           help="Shift each predicted path to start at the current end-effector position")  # fmt: skip
        st.caption("Retrieves the k training frames (of the run's training split, never this episode) most similar "
                   "in the run's embedding and averages the end-effector positions that followed them.")  # fmt: skip
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
        fig = plot_path_3d(ep, frame, int(horizon), predicted=predicted or None)
        fig.update_layout(uirevision=f"{path}:{ep_index}")  # a step keeps the user's camera; another episode resets it
        live_plot(fig, key="playback_path")  # updated in place: a step redraws the traces, not a new 3-D scene

st.subheader("Rerun viewer")
st.caption("Images, depth, camera frusta, the end-effector path or hand skeletons, action curves and chunk worms; "
           "its time cursor follows the scrubber and the play button above, and the scrubber follows the viewer's "
           "own timeline (drag it, or ←/→ and Space with the viewer focused).")  # fmt: skip
o1, o2 = st.columns([1, 2])
point_cloud = o1.toggle("Point cloud from depth", value=False, key="playback_pc")
no_views = why_no_virtual_views(ep)
if no_views is None:
    virtual_views = o2.toggle("CLAMP virtual views", value=False, key="playback_views",
                              help="The depth + XYZ views re-rendered from the merged cloud of the scene cameras (CLAMP §III-B): "
                                   "each view as an image in its camera's frustum, and the merged cloud as points")  # fmt: skip
else:
    virtual_views = False
    o2.caption(f"No CLAMP virtual views: {no_views}.")
if st.toggle("Open the viewer", value=False, key="playback_open"):
    with st.spinner("Logging the episode to Rerun…"):
        try:
            served = cache.rerun_server(path, mtime, ep_index, int(horizon), point_cloud, worms, virtual_views)
        except DataError as e:
            st.error(f"Cannot log episode {ep_index} to Rerun: {e}")
            st.stop()
    host = viewer_host()
    rerun_viewer(served.grpc_url_for(host), frame, key="playback_viewer", on_time=follow_viewer)
    st.caption(f"Recording served at `{served.grpc_url_for(host)}` (the browser needs that port too); "
               f"[open the viewer in its own tab]({served.url_for(host)}).")  # fmt: skip

if playing:  # one step, then rerun the page: the widgets show the new frame
    time.sleep(0.25)
    st.session_state["playback_next"] = (frame + 1) % len(ep)
    st.rerun()

with tempfile.TemporaryDirectory() as tmp:
    if st.button("Prepare .rrd download", key="playback_rrd"):
        from workbench.viz.rerun import save_episode_rrd  # rerun costs ~1 s to import: only on this click

        out = save_episode_rrd(ep, Path(tmp) / f"episode_{ep_index}.rrd", horizon=int(horizon), point_cloud=point_cloud,
                               virtual_views=virtual_views)  # fmt: skip
        st.download_button("Download .rrd", out.read_bytes(), file_name=out.name, key="playback_download")
