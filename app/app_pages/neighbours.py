"""Neighbours: a frame's top-k by embedding beside its top-k by action DTW (CLASS App. J.2), the
DTW alignment to one neighbour, overlap@k and CLASS's positive threshold."""

from __future__ import annotations

import cache
import numpy as np
import sidebar
import streamlit as st

from workbench.data.chunks import available_chunk_kinds
from workbench.dtw import dtw_path
from workbench.viz.actions import plot_action_chunks
from workbench.viz.alignment import plot_dtw_alignment, step_costs
from workbench.viz.matrices import plot_dtw_matrix
from workbench.viz.neighbours import plot_neighbour_grid

st.title("Neighbours")
run, run_path, stamp, data_path, mtime = sidebar.analysis_inputs("neighbours")
stride = int(st.sidebar.number_input("Every n-th frame", 1, 16, 2, key="neighbours_stride"))
base = sidebar.embeddings_or_stop(run, run_path, stamp, data_path, mtime, stride)

c1, c2, c3, c4 = st.columns(4)
kinds = available_chunk_kinds(cache.episode(data_path, mtime, int(base.episode[0])))  # only kinds this dataset can make
kind = c1.selectbox("Chunk", kinds, index=kinds.index(base.chunk_kind) if base.chunk_kind in kinds else 0, key="neighbours_kind")
horizon = int(c2.number_input("Horizon", 2, 64, int(base.chunks.shape[1]), key="neighbours_horizon"))
window_steps = int(c3.number_input("DTW window (0 = none)", 0, 64, 0, key="neighbours_window"))
window = window_steps or None
cost = c4.selectbox("Cost", ["sqeuclidean", "euclidean"], key="neighbours_cost")
d1, d2, d3 = st.columns(3)
k = int(d1.slider("k", 1, 16, 8, key="neighbours_k"))
quantile = float(d2.slider("Positive quantile K (%)", 0.5, 25.0, 5.0, 0.5, key="neighbours_quantile"))
other = d3.toggle("Only other episodes", value=True, key="neighbours_other",
                  help="A frame's own episode holds trivially similar neighbours in both spaces")  # fmt: skip

with st.spinner(f"{kind} chunks of horizon {horizon}…"):
    try:
        emb = cache.rechunked(run_path, stamp, data_path, mtime, stride, kind, horizon)
    except ValueError as e:
        st.error(f"Cannot make {kind} chunks from this dataset: {e}")
        st.stop()

episodes = sorted(int(e) for e in np.unique(emb.episode))
q1, q2 = st.columns([1, 3])
ep = int(q1.selectbox("Episode", episodes, key="neighbours_episode"))
own = np.flatnonzero(emb.episode == ep)
times = emb.time[own]
t = int(q2.select_slider("Time", options=[int(x) for x in times], key=f"neighbours_time_{ep}"))
row = int(own[np.flatnonzero(times == t)[0]])


@st.fragment(run_every=1.0)
def _wait_for_dtw() -> None:
    if cache.dtw_ready():
        st.rerun(scope="app")


def _dtw_note(what: str) -> None:
    """A progress note while the DTW kernels compile in the background (once per clone)."""
    st.caption(f"{what}: the DTW kernels are compiling in the background (once per clone, about half a minute)…")
    _wait_for_dtw()


# the shipped table (data_samples/neighbours/, keyed by the chunks' content) answers the DTW side at once
table = cache.neighbour_table(run_path, stamp, data_path, mtime, stride, kind, horizon, window, cost) if other else None
ready = cache.dtw_ready()
rel = None
if table is not None and k <= table.k:
    res = cache.table_neighbours(run_path, stamp, data_path, mtime, stride, kind, horizon, row, k, window, cost)
    thr, n_pos = table.threshold(quantile), table.positives_of(row, quantile)
    if ready:
        rel = cache.neighbours(run_path, stamp, data_path, mtime, stride, kind, horizon, row, k, window, cost, other).relative_dtw
elif not ready:
    _dtw_note("Computing the DTW neighbours of these settings")
    st.stop()
else:
    with st.spinner("DTW neighbours…"):
        res = cache.neighbours(run_path, stamp, data_path, mtime, stride, kind, horizon, row, k, window, cost, other)
    rel, thr, n_pos = res.relative_dtw, None, None
if thr is None or n_pos is None:
    if not ready:
        _dtw_note(f"The threshold at K = {quantile:g} %")
        st.stop()
    thr = cache.dtw_threshold(run_path, stamp, data_path, mtime, stride, kind, horizon, window, cost, quantile)
    d_row = cache.dtw_row(run_path, stamp, data_path, mtime, stride, kind, horizon, row, window, cost)
    n_pos = int(((d_row <= thr) & (np.arange(len(d_row)) != row)).sum())
m = st.columns(4)
m[0].metric(f"overlap@{k}", f"{res.overlap.mean:.2f}", help="shared frames between the two top-k lists / k")
m[1].metric("Relative DTW", f"{rel.ratio:.2f}" if rel is not None else "…",
            help="mean DTW of the embedding neighbours / that of random pairs (< 1: better than chance)")  # fmt: skip
m[2].metric(f"Threshold (K = {quantile:g} %)", f"{thr:.3g}", help="DTW distance below which two chunks are CLASS positives "
            "(the K % quantile of 20,000 random pairs)")  # fmt: skip
m[3].metric("Positives of this frame", n_pos, help=f"frames (of {len(emb)}) whose chunk is within the threshold")

left, right = st.columns([1, 2])
with left:
    st.image(cache.frame(data_path, mtime, ep, t, emb.camera), caption=f"episode {ep}, step {t} · {emb.task[row]}", width="stretch")
with right:
    names = [f"{kind}{i}" for i in range(emb.chunks.shape[2])]
    st.plotly_chart(plot_action_chunks(emb.chunks[row], dim_names=names, title="its action chunk"), width="stretch", key="neighbours_chunk")

query_img = cache.frame(data_path, mtime, ep, t, emb.camera)
e_imgs = np.stack([cache.frame(data_path, mtime, int(a), int(b), emb.camera) for a, b in res.embedding_refs[0]])
d_imgs = np.stack([cache.frame(data_path, mtime, int(a), int(b), emb.camera) for a, b in res.dtw_refs[0]])
e_caps = [f"ep {a} t {b} · cos {s:.2f}" for (a, b), s in zip(res.embedding_refs[0], res.embedding_similarity[0])]
d_caps = [f"ep {a} t {b} · dtw {s:.3g}" for (a, b), s in zip(res.dtw_refs[0], res.dtw_distances[0])]
st.plotly_chart(plot_neighbour_grid(query_img, e_imgs, d_imgs, embedding_captions=e_caps, dtw_captions=d_caps,
                                    title="row 1: embedding neighbours · row 2: action (DTW) neighbours"),
                width="stretch", key="neighbours_grid")  # fmt: skip

st.subheader("DTW alignment")
if not cache.dtw_ready():
    _dtw_note("The alignment")
    st.stop()
a1, a2 = st.columns([3, 1])
options = [("dtw", i) for i in range(k)] + [("embedding", i) for i in range(k)]
pick = a1.selectbox("Against", options, key=f"neighbours_against_{row}_{k}_{kind}_{horizon}",  # a new query: new captions
                    format_func=lambda o: (f"DTW neighbour #{o[1] + 1}: " + d_caps[o[1]]) if o[0] == "dtw"
                    else (f"embedding neighbour #{o[1] + 1}: " + e_caps[o[1]]))  # fmt: skip
dim = int(a2.number_input("Dimension", 0, emb.chunks.shape[2] - 1, 0, key="neighbours_dim"))
other_row = int((res.dtw_indices if pick[0] == "dtw" else res.embedding_indices)[0, pick[1]])
qa = emb.chunks[row][emb.chunk_mask[row]]
qb = emb.chunks[other_row][emb.chunk_mask[other_row]]
dist, path = dtw_path(qa, qb, window=window, cost=cost)
h1, h2 = st.columns(2)
h1.plotly_chart(plot_dtw_matrix(step_costs(qa, qb, cost), path, x_label="neighbour step", y_label="query step",
                                title=f"step costs and the path · DTW {dist:.3g}"), width="stretch", key="neighbours_matrix")  # fmt: skip
h2.plotly_chart(plot_dtw_alignment(qa, qb, path, dim=dim, title="matched steps"), width="stretch", key="neighbours_alignment")
