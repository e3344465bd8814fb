"""Compare: the closed-loop table of representations, its figure and the rollout videos of a cell."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from workbench.compare import (
    DIFFERENCES_NOTE,
    CompareError,
    cell_value,
    claim_differences,
    compare_table,
    compare_table_display,
    differences_frame,
    load_compare,
    paired_difference,
    pending_max,
    varying,
)
from workbench.viz.compare import demo_sweep_cameras, plot_compare, plot_demo_sweep

st.title("Compare")
default = next((p for p in ("notebooks/paper/results", "runs/compare") if (Path(p) / "compare.json").exists()), "runs/compare")
folder = Path(st.text_input("Comparison folder (holds compare.json)", value=default, key="compare_folder"))
try:
    doc = load_compare(folder)
except FileNotFoundError:
    st.info(f"No comparison in `{folder}` yet: run `workbench compare --smoke --out {folder}` (toy size) or "
            f"`workbench compare --out {folder}` (the full table, resumable).")  # fmt: skip
    st.stop()
except ValueError as e:
    st.error(f"Cannot read this comparison: {e}")
    st.stop()

cells = doc["cells"]
# a collected table holds several camera setups, numbers of demos or training variants: one selector
# each, shown only when there is a choice (a single comparison folder looks as it always did)
selectors = {k: v for k, v in {"camera_setup": ("Camera setups", "compare_cameras"), "demos": ("Demos per task", "compare_demos"),
                               "variant": ("Training variants", "compare_variants")}.items()
             if len(varying(cells, k)) > 1}  # fmt: skip
cols = st.columns(1 + len(selectors))
checkpoints = cols[0].multiselect("Checkpoints", ["final", "max"], default=["final", "max"], key="compare_checkpoints",
                                  help="'max' is the best of the evaluations during training: optimistic")  # fmt: skip
picked = {k: col.multiselect(label, varying(cells, k), default=varying(cells, k), key=key,
                             format_func=lambda v: "?" if v is None else str(v) or "default")
          for col, (k, (label, key)) in zip(cols[1:], selectors.items())}  # fmt: skip
shown = [c for c in cells if c["checkpoint"] in checkpoints and all(cell_value(c, k) in v for k, v in picked.items())]


def _cell_label(c: dict) -> str:
    extra = "".join(f" · {cell_value(c, k)} demos" if k == "demos" else f" · {cell_value(c, k) or 'default'}"
                    for k in selectors)  # fmt: skip
    return f"{c['method']} · {c['policy']} · {c['task']}{extra} · seed {c['seed']} · {c['checkpoint']} (step {c.get('step', '?')})"


if not shown:
    st.info("No cell matches the filter.")
    st.stop()
st.dataframe(compare_table_display(shown), hide_index=True, width="stretch")
st.caption("successes/episodes and rate with its 95 % Wilson interval; a task's column pools the training seeds. "
           + doc.get("notes", ""))  # fmt: skip
if "max" in checkpoints and (pending := pending_max(shown)):
    st.caption("'max' not shown for (checkpoints of its runs not all evaluated, or not recorded): " + " · ".join(pending))
table = compare_table(shown)
st.plotly_chart(plot_compare(table), width="stretch")
if demo_sweep_cameras(table):  # several numbers of demos for a camera setup: CLASS Fig. 11
    st.plotly_chart(plot_demo_sweep(table), width="stretch")



@st.cache_data(show_spinner="Pairing the episodes of each claim…", max_entries=8)
def _claims(folder: str, stamp: float, picked: str) -> pd.DataFrame:  # stamp: compare.json's mtime
    want = json.loads(picked)
    cells = [c for c in load_compare(folder)["cells"] if all(cell_value(c, k) in v for k, v in want.items())]
    return differences_frame(claim_differences(folder, cells))


st.subheader("Differences, paired over the same episodes")
claims = _claims(str(folder), (folder / "compare.json").stat().st_mtime, json.dumps(picked, sort_keys=True, default=str))
if claims.empty:
    st.caption("No pair of the papers' claims (CLASS vs BC, CLASS vs the state k-NN, CLASS's training variants) "
               "is here with its per-episode outcomes.")  # fmt: skip
else:
    st.dataframe(claims, hide_index=True, width="stretch")
    st.caption("Final checkpoint. " + DIFFERENCES_NOTE)

finals = [c for c in shown if c["checkpoint"] == "final"]
rows = sorted({(c["method"], c["policy"], cell_value(c, "variant") or "") for c in finals})
if len(rows) > 1:
    with st.expander("Any two rows, paired"):
        name = lambda r: f"{r[0]} · {r[1]}" + (f" · {r[2]}" if r[2] else "")  # noqa: E731
        cols = st.columns(2 + ("camera_setup" in selectors) + ("demos" in selectors))
        ra = cols[0].selectbox("A", rows, format_func=name, key="compare_diff_a")
        rb = cols[1].selectbox("B", rows, index=1, format_func=name, key="compare_diff_b")
        where: dict = {}
        for col, key in zip(cols[2:], [k for k in ("camera_setup", "demos") if k in selectors]):
            held = [c for c in finals if all(cell_value(c, k) == v for k, v in where.items())]  # demos under that camera
            where[key] = col.selectbox(selectors[key][0], varying(held, key), key=f"compare_diff_{key}")
        try:
            d = paired_difference(folder, ra[0], rb[0], policy=ra[1], policy_b=rb[1], variant_a=ra[2], variant_b=rb[2],
                                  camera=where.get("camera_setup"), demos=where.get("demos"), cells=finals)  # fmt: skip
        except CompareError as e:
            st.warning(str(e))
        else:
            st.code(d.describe(), language=None)

with_videos = [c for c in shown if c.get("videos")]
if with_videos:
    labels = [_cell_label(c) for c in with_videos]
    pick = st.selectbox("Rollout videos of a cell", range(len(labels)), format_func=labels.__getitem__, key="compare_cell")
    root = folder if folder.is_dir() else folder.parent
    for v in with_videos[pick]["videos"]:
        path = root / v
        if path.exists():
            st.video(str(path))
        else:
            st.caption(f"`{v}` is not here (videos stay in the comparison's output folder).")
