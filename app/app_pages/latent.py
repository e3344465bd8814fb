"""Latent space: each episode's frames as a path through a 2-D projection of a run's embeddings
(CLASS App. J.1), with box/lasso selection, a chosen frame's saliency and neighbours."""

from __future__ import annotations

import os
import time
from concurrent.futures import TimeoutError

import cache
import sidebar
import state
import streamlit as st

from workbench.analysis import latent_trajectories
from workbench.viz.latent import COLOR_BY, plot_latent_trajectories, selected_sample_ids

st.title("Latent space")
run, run_path, stamp, data_path, mtime = sidebar.analysis_inputs("latent")

c1, c2, c3 = st.columns([2, 2, 1])
projector = c1.radio("Projection", ["pca", "tsne", "umap"], horizontal=True, key="latent_projector",
                     format_func={"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}.get)  # fmt: skip
color_by = c2.radio("Colour by", COLOR_BY, horizontal=True, key="latent_color",
                    format_func=lambda c: c.replace("_", " "))  # fmt: skip
stride = int(c3.number_input("Every n-th frame", 1, 16, 2, key="latent_stride"))

emb = sidebar.embeddings_or_stop(run, run_path, stamp, data_path, mtime, stride)

points = cache.stored_projection(run_path, stamp, data_path, mtime, stride, projector) if projector != "pca" else None
if points is None and projector == "umap" and not cache.umap_ready():  # compiled once per server, in the background
    if os.environ.get("ACTIONLENS_WARM_UMAP", "1") != "0":
        cache.umap_warmup()

        @st.fragment(run_every=2.0)
        def _wait_for_umap() -> None:
            if cache.umap_ready():
                st.rerun(scope="app")

        _wait_for_umap()
    st.info("UMAP is still compiling in the background (about 40 s, once per server); showing PCA meanwhile. "
            "Pick t-SNE or PCA, or come back to UMAP in a moment.")  # fmt: skip
    projector = "pca"
if points is None and projector != "pca":  # in the background, PCA meanwhile; the page redraws itself when it is ready
    job, started = cache.projection_job(run_path, stamp, data_path, mtime, stride, projector)
    try:
        points = job.result(timeout=1.0)  # one on disk (shipped or computed before) is there at once
    except TimeoutError:
        name = {"tsne": "t-SNE", "umap": "UMAP"}[projector]
        expected = max(5.0, len(emb) * (0.03 if projector == "tsne" else 0.015))  # seconds on 2 cores, measured
        elapsed = time.time() - started
        st.progress(min(elapsed / expected, 0.95), text=f"{name} of {len(emb)} frames in the background: {elapsed:.0f} s of "
                    f"about {expected:.0f} s (cached afterwards). Showing PCA meanwhile.")  # fmt: skip

        @st.fragment(run_every=1.0)
        def _wait_for_projection() -> None:
            if job.done():
                st.rerun(scope="app")

        _wait_for_projection()
        projector = "pca"
    except Exception as e:
        st.error(f"The {projector} projection failed: {e}. Showing PCA.")
        projector = "pca"
if points is None:
    points = cache.projection(run_path, stamp, data_path, mtime, stride, "pca")

m1, m2, m3 = st.columns(3)
try:
    al = cache.alignment(run_path, stamp, data_path, mtime, stride)
    m1.metric("Alignment score", f"{al.score:.3f}", help="1 − mean nearest-other-demonstration distance / mean distance "
              "to another demonstration of the task, in the full embedding (1 = the paths overlap, 0 = no closer than chance)")  # fmt: skip
    m2.metric("Progress score", f"{al.progress_score:.3f}", help="1 when the nearest other demonstration is at the same stage of the task")
except ValueError as e:
    m1.caption(f"No alignment score: {e}")
m3.metric("Frames", len(emb))

trajs = latent_trajectories(points, emb.episode, emb.time, task=emb.task, camera_setup=emb.camera_setup)
fig = plot_latent_trajectories(trajs, color_by=color_by, title=f"{run.id} · {projector.upper()}")
fig.update_layout(height=560, dragmode="lasso")
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key="latent_plot", width="stretch")

rows = selected_sample_ids(((event or {}).get("selection") or {}).get("points", []), trajs)
if not rows:
    st.caption("Select points with a click, a box or the lasso to see their frames.")
    st.stop()

st.subheader(f"{len(rows)} selected frame{'s' * (len(rows) > 1)}")
shown = rows[:24]
cols = st.columns(8)
for n, r in enumerate(shown):
    e, t = int(emb.episode[r]), int(emb.time[r])
    cols[n % 8].image(cache.frame(data_path, mtime, e, t, emb.camera), caption=f"ep {e} · t {t}", width="stretch")
if len(rows) > len(shown):
    st.caption(f"Showing the first {len(shown)} of {len(rows)}.")

st.subheader("Chosen frame")
chosen = st.selectbox("Frame", rows, key="latent_chosen",
                      format_func=lambda r: f"episode {emb.episode[r]} · step {emb.time[r]} · {emb.task[r]}")  # fmt: skip
e, t = int(emb.episode[chosen]), int(emb.time[chosen])
left, right = st.columns([1, 3])
left.image(cache.frame(data_path, mtime, e, t, emb.camera), caption=f"episode {e}, step {t}", width="stretch")
if left.button("Play back from here", key="latent_play", icon=":material/play_circle:"):
    st.session_state[state.PLAYBACK_GOTO] = (data_path, e, t)
    st.switch_page("app_pages/playback.py")
with right:
    if st.toggle("Saliency and neighbours", value=True, key="latent_details"):
        with st.spinner("Saliency and neighbours…"):
            try:
                display, _, panel = cache.saliency_panel(run_path, stamp, data_path, mtime, ((e, t),), None, ("saliency", "pca"))
                res = cache.neighbours(run_path, stamp, data_path, mtime, stride, emb.chunk_kind, emb.chunks.shape[1],
                                       int(chosen), 6, None, "sqeuclidean", True)  # fmt: skip
            except Exception as err:
                st.error(f"Cannot compute saliency or neighbours for this frame: {err}")
                st.stop()
        s1, s2 = st.columns(2)
        s1.image(panel.overlays["saliency"][0], caption=f"gradient saliency (target: {panel.target})", width="stretch")
        if "pca" in panel.overlays:
            s2.image(panel.overlays["pca"][0], caption="PCA of patch features", width="stretch")
        for label, refs, scores in (("Embedding neighbours (cosine)", res.embedding_refs[0], res.embedding_similarity[0]),
                                    ("Action neighbours (DTW)", res.dtw_refs[0], res.dtw_distances[0])):  # fmt: skip
            st.caption(label + " · other episodes")
            ncols = st.columns(len(refs))
            for col, (ne, nt), s in zip(ncols, refs, scores):
                col.image(cache.frame(data_path, mtime, int(ne), int(nt), emb.camera), caption=f"ep {ne} t {nt} · {s:.2f}", width="stretch")
        st.caption(f"overlap@{res.k}: {res.overlap.mean:.2f}")
