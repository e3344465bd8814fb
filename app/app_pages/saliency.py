"""Saliency: maps of chosen frames side by side per run and per method — captum attributions and
the native maps (CAIP text pooling, MAP probe, PCA of patch features) — with an editable
instruction and the model-parameter randomisation sanity check."""

from __future__ import annotations

from concurrent.futures import TimeoutError

import cache
import numpy as np
import sidebar
import streamlit as st

from workbench.analysis.run_saliency import NATIVE_MAPS
from workbench.analysis.saliency import SALIENCY_METHODS
from workbench.viz.saliency import plot_saliency_overlays

LABELS = {"saliency": "Saliency", "integrated_gradients": "IntegratedGradients", "occlusion": "Occlusion",
          "grad_cam": "LayerGradCam", "text_pooling": "CAIP pooling attention", "map_probe": "MAP probe", "pca": "PCA"}  # fmt: skip

st.title("Saliency")
run, run_path0, _, data_path, mtime = sidebar.analysis_inputs("saliency")
entry = sidebar.dataset_or_stop()[0]
others = [r for r in sidebar.fitting_runs(data_path) if str(r.path) != run_path0]  # only runs that read this dataset
labels = {str(r.path): sidebar.run_label(r) for r in [run, *others]}
also = st.multiselect("Compare with", [str(r.path) for r in others], format_func=labels.get, key="saliency_compare",
                      help="Other runs that read this dataset, beside the sidebar's run")  # fmt: skip
chosen_runs = [run_path0, *also]
table = cache.episode_table(data_path, mtime)
f1, f2 = st.columns([2, 3])
episodes = f1.multiselect("Episodes", table["episode"].tolist(), default=table["episode"].tolist()[:2], key="saliency_episodes",
                          max_selections=4)  # fmt: skip
progress = f2.slider("Time (% of each episode)", 0, 100, 40, key="saliency_progress")
methods = st.multiselect("Maps", list(SALIENCY_METHODS) + list(NATIVE_MAPS), default=["saliency", "grad_cam", "text_pooling", "pca"],
                         format_func=LABELS.get, key="saliency_methods")  # fmt: skip
if not episodes or not methods:
    st.info("Pick at least one episode and one map.")
    st.stop()
lengths = dict(zip(table["episode"], table["length"]))
refs = tuple((int(e), int(round(progress / 100 * (int(lengths[e]) - 1)))) for e in episodes)
first = table[table["episode"] == episodes[0]]["instruction"].iloc[0] or ""
instruction = st.text_input("Instruction (text-conditioned encoders see it; empty = each episode's own)", value=first,
                            key="saliency_instruction")  # fmt: skip
text = instruction.strip() or None

check = st.toggle("Randomisation sanity check", value=False, key="saliency_check",
                  help="Adebayo et al. 2018: Spearman correlation between the maps of the trained and of a randomised "
                  "model (cascading, top blocks first). Near 1 = the map ignores the weights.")  # fmt: skip
check_map = None
if check:
    scalar = [m for m in methods if m != "pca"]
    if scalar:
        check_map = st.selectbox("Map to check", scalar, format_func=LABELS.get, key="saliency_check_map")
    else:
        st.caption("The check needs a scalar map (not PCA).")

row_labels = [f"ep {e} · t {t}" for e, t in refs]
pending = []
for run_path in chosen_runs:
    stamp = cache.checkpoint_stamp(run_path)
    st.subheader(labels[run_path])
    job = cache.saliency_job(run_path, stamp, data_path, mtime, refs, text, tuple(methods))
    try:
        display, texts, panel = job.result(timeout=1.0)
    except TimeoutError:  # the page now, the maps when they are ready
        st.progress(0.5, text=f"Computing the maps of {labels[run_path]} in the background…")
        pending.append(job)
        continue
    except Exception as e:
        st.error(f"Cannot compute maps for this run on `{entry.name}`: {e}")
        continue
    missing = [LABELS[m] for m in methods if m not in panel.overlays]
    columns = {"input": display, **{LABELS[m]: panel.overlays[m] for m in methods if m in panel.overlays}}
    st.plotly_chart(plot_saliency_overlays(columns, row_labels=row_labels), width="stretch", key=f"saliency_fig_{run_path}")
    st.caption(f"Gradient maps explain the cosine similarity to the {panel.target} target"
               + (f" · not offered by this architecture: {', '.join(missing)}" if missing else "")
               + f" · conditioned on: “{texts[0]}”")  # fmt: skip
    if check_map is not None:
        with st.spinner("Randomising the weights and recomputing the maps…"):
            try:
                res = cache.randomisation(run_path, stamp, data_path, mtime, refs, text, check_map)
                c1, c2 = st.columns([1, 3])
                c1.metric(f"Sanity: Spearman, {LABELS[check_map]}", f"{res.mean:.2f}" if np.isfinite(res.mean) else "n/a",
                          help="trained vs fully randomised model; lower = the map depends on what the model learned")  # fmt: skip
                c2.caption("cascade: " + " → ".join(f"{name.split('.')[-1] or name}: {rho:.2f}" for name, rho in res.steps))
            except Exception as e:
                st.error(f"Randomisation check failed: {e}")

if pending:

    @st.fragment(run_every=1.0)
    def _wait_for_maps() -> None:
        if all(job.done() for job in pending):
            st.rerun(scope="app")

    _wait_for_maps()
