"""Datasets: the episodes of a dataset, their frames and every scalar stream."""

from __future__ import annotations

from concurrent.futures import TimeoutError

import cache
import sidebar
import state
import streamlit as st

from workbench.data.flags import FLAGS, flags_path, load_flags, set_episode_flags
from workbench.types import DataError
from workbench.viz.episode import episode_streams, plot_episode_streams
from workbench.viz.images import colorize_depth, colorize_labels

st.title("Datasets")
entry, path, mtime = sidebar.dataset_or_stop()
try:
    ds = cache.dataset(path, mtime)
    info = ds.info()
except DataError as e:
    st.error(f"Cannot open this dataset: {e}")
    st.stop()

cols = st.columns(5)
cols[0].metric("episodes", info.episodes)
cols[1].metric("frames", info.frames)
cols[2].metric("fps", f"{info.fps:g}")
cols[3].metric("action dim", info.action_dim)
cols[4].metric("tasks", len(info.tasks))
st.caption(f"`{info.path}` · layout **{info.layout}** · cameras: {', '.join(info.cameras) or '–'} · "
           f"camera setups: {', '.join(info.camera_setups)} · modalities: {', '.join(info.modalities)}")  # fmt: skip
if ds.problems:  # one message, the details folded away: a damaged dataset can have hundreds
    st.warning(f"{len(ds.problems)} of {info.episodes + len(ds.problems)} episodes cannot be read and are skipped. "
               f"First: {ds.problems[0]}")  # fmt: skip
    with st.expander("Every skipped episode"):
        st.code("\n".join(str(p) for p in ds.problems), language=None)

table = cache.episode_table(path, mtime).copy()
if table.empty:
    st.info("No episode of this dataset can be read.")
    st.stop()
try:
    flags = load_flags(path)
except DataError as e:
    st.warning(f"Flags not loaded: {e}")
    flags = {}
table["flags"] = [", ".join(flags.get(int(i), {}).get("flags", [])) for i in table["episode"]]
if st.toggle("Thumbnails", value=len(table) <= 200, key="datasets_thumbs"):
    job = cache.thumbnails_job(path, mtime)
    try:
        thumbs = job.result(timeout=1.0)
    except TimeoutError:  # still decoding: the table now, the thumbnails when they are ready
        thumbs = {}
        st.caption(f"Making the thumbnails of {len(table)} episodes in the background…")

        @st.fragment(run_every=1.0)
        def _wait_for_thumbnails() -> None:
            if job.done():
                st.rerun(scope="app")

        _wait_for_thumbnails()
    table.insert(1, "frame", [thumbs.get(int(i)) for i in table["episode"]])
f1, f2 = st.columns(2)
tasks = f1.multiselect("Tasks", sorted(table["task"].unique()), key="datasets_tasks")
setups = f2.multiselect("Camera setups", sorted(table["camera setup"].unique()), key="datasets_setups")
view = table
if tasks:
    view = view[view["task"].isin(tasks)]
if setups:
    view = view[view["camera setup"].isin(setups)]
st.dataframe(view, hide_index=True, width="stretch", height=min(320, 35 * (len(view) + 1)),
             column_config={"frame": st.column_config.ImageColumn("frame", width="small")})

if st.toggle("Dataset statistics", value=False, key="datasets_stats"):
    st.dataframe(cache.task_stats(path, mtime), hide_index=True, width="stretch")
if view.empty:
    st.info("No episode matches the filters.")
    st.stop()

ep_index = st.selectbox("Episode", view["episode"].tolist(), key=state.DATASETS_EPISODE)
try:
    ep = cache.episode(path, mtime, int(ep_index))
except DataError as e:
    st.error(f"Cannot load episode {ep_index}: {e}")
    st.stop()
st.markdown(f"**{ep.task}** — _{ep.instruction or 'no instruction'}_ · {len(ep)} steps · "
            f"success: {ep.success} · camera setup: {ep.camera_setup.value}")  # fmt: skip

with st.expander("Flags", expanded=False):
    mine = flags.get(int(ep_index), {"flags": [], "note": ""})
    chosen_flags = st.multiselect("Flags", FLAGS, default=[f for f in mine["flags"] if f in FLAGS], key=f"datasets_flags_{ep_index}")
    note = st.text_input("Note", value=mine["note"], key=f"datasets_note_{ep_index}")
    if st.button("Save flags", key="datasets_save_flags"):
        set_episode_flags(path, int(ep_index), chosen_flags, note)
        st.success(f"Saved beside the dataset in {flags_path(path).name}")

frame = st.slider("Frame", 0, len(ep) - 1, 0, key=state.DATASETS_FRAME)
if ep.cameras:
    cam_cols = st.columns(len(ep.cameras))
    for col, (name, cam) in zip(cam_cols, ep.cameras.items()):
        try:
            rgb = cache.frames(path, mtime, int(ep_index), name)
        except DataError as e:
            col.error(str(e))
            continue
        col.image(rgb[frame], caption=f"{name} ({cam.setup.value})", width=280)
        if cam.depth is not None:
            col.image(colorize_depth(cam.depth[frame]), caption=f"{name} depth", width=280)
        if cam.segmentation is not None:
            col.image(colorize_labels(cam.segmentation[frame]), caption=f"{name} segmentation", width=280)

names = list(episode_streams(ep))
chosen = st.multiselect("Streams", names, default=names[: min(4, len(names))], key=state.DATASETS_STREAMS)
if chosen:
    st.plotly_chart(plot_episode_streams(ep, chosen, frame=frame), width="stretch")
