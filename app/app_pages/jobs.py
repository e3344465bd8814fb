"""Jobs: launch a run from a preset and an editable config, watch it, stop and resume it, compare runs."""

from __future__ import annotations

from pathlib import Path

import cache
import numpy as np
import sidebar
import state
import streamlit as st

from workbench.data.catalog import check_dataset_path
from workbench.methods import method_names
from workbench.train import (
    ConfigError,
    JobError,
    TrainConfig,
    create_run,
    diff_runs,
    launch,
    list_runs,
    make_config,
    resolve_run,
    resume_run,
    stop_run,
)
from workbench.train.config import TRAIN_PRESETS
from workbench.train.rundir import RunDir
from workbench.types import DataError
from workbench.viz.training import metric_keys, plot_training_curves

st.title("Jobs")
runs_root = sidebar.runs_root()



def launch_section() -> None:
    """Method, preset and dataset make a config (editable as YAML); Launch starts it in the
    background, plots it and makes it the Control target; its failure shows here."""
    with st.expander("Launch a run", expanded=not list_runs(runs_root)):
        c1, c2, c3 = st.columns(3)
        methods = method_names()
        method = c1.selectbox("Method", methods, index=methods.index("caip") if "caip" in methods else 0, key="jobs_method")
        presets = sorted(TRAIN_PRESETS)
        preset = c2.selectbox("Preset", presets, index=presets.index("smoke") if "smoke" in presets else 0, key="jobs_preset",
                              help="smoke: a few steps in seconds, to try the pipeline; sample: the shipped runs' recipe (minutes)")  # fmt: skip
        data_path = c3.text_input("Dataset", value=str(st.session_state.get(state.DATASET) or "data_samples/metaworld"), key="jobs_data")
        try:
            base = make_config(method, preset, [f"data.path={data_path}"])
        except (ConfigError, JobError) as e:
            st.error(f"Cannot make a config: {e}")
            return
        # the YAML box belongs to this method, preset and dataset: changing any of them starts a fresh one
        text = st.text_area("Config (YAML, editable)", base.to_yaml(), height=300,
                            key=f"jobs_yaml_{method}_{preset}_{abs(hash(data_path))}")  # fmt: skip
        if st.button("Launch", type="primary", key="jobs_launch"):
            try:
                cfg = TrainConfig.from_yaml_text(text, where="the edited config")
                check_dataset_path(cfg.data.path)  # refuse a bad dataset here, not in the background
                rd = create_run(cfg, runs_root=runs_root)
                launch(rd)
            except (ConfigError, JobError, DataError) as e:
                st.error(f"Cannot launch: {e}")
                return
            launched = st.session_state.setdefault(state.JOBS_LAUNCHED, [])
            launched.append(rd.id)
            plotted = [r for r in st.session_state.get("jobs_plot_runs", []) if r != rd.id]
            st.session_state["jobs_plot_runs"] = plotted[-2:] + [rd.id]  # plotted and picked, before the widgets exist
            st.session_state["jobs_target"] = rd.id
            st.rerun()  # the page starts its live refresh now that a job runs
        launched = st.session_state.get(state.JOBS_LAUNCHED, [])
        if launched:
            last = RunDir(Path(runs_root) / launched[-1])
            status = last.read_status() if last.exists() else None
            if status is not None and status.state in ("failed", "dead"):
                tail = last.log_path.read_text()[-600:] if last.log_path.is_file() else ""
                out = last.path / "stdout.txt"
                tail = tail or (out.read_text(errors="replace")[-600:] if out.is_file() else "")
                st.error(f"Run `{last.id}` {status.state}: {status.error or 'see its log'}\n\n```\n{tail}\n```")
            elif status is not None:
                st.caption(f"Last launched: `{last.id}` · {status.state} · step {status.step}/{status.total_steps}")


def evaluation_section() -> None:
    """Evaluation results of a run (either run root), its rollout videos, and a quick evaluation."""
    st.subheader("Evaluation")
    ev_run = sidebar.run_or_none()
    if ev_run is None:
        st.caption("Pick a run in the sidebar (runs that read the chosen dataset are offered) to see or make its evaluation.")
    else:
        st.caption(f"Run `{ev_run.id}` (the sidebar's run).")
        from workbench.eval.jobs import EvalJobState, launch_eval, read_eval_job
        from workbench.eval.results import KNNResult, ProbeResult, RetrievalResult, RolloutResult
        from workbench.viz.curves import plot_probe_curves, plot_recall_at_k

        ev_path = str(ev_run.path)
        job = read_eval_job(ev_path)
        running = job is not None and job.active
        e1, e2 = st.columns([1, 3])
        if e1.button("Quick evaluation", disabled=running, key="jobs_eval_launch",
                     help="probe, retrieval and k-NN offline error on the held-out episodes, in a background process"):  # fmt: skip
            job = launch_eval(ev_path)
            running = True
        if running:
            e2.info("Evaluation running in the background; results appear below when it finishes (press Refresh).")
        elif job is not None and job.state is EvalJobState.FAILED:
            e2.error(f"The evaluation failed ({job.error}):\n\n```\n{job.log_tail()}\n```")

        results = cache.eval_results(ev_path)
        if not results:
            st.caption(f"No evaluation results under `{ev_path}/eval/` yet.")
        for name, r in results.items():
            if isinstance(r, ProbeResult):
                if max(r.accuracy, default=0.0) < r.chance:  # below the majority class at every budget: not a probe to read
                    st.warning(f"{name}: the linear probe's accuracy ({min(r.accuracy):.2f}–{max(r.accuracy):.2f}) is below "
                               f"chance ({r.chance:.2f}, the majority class) at every label budget, so it is not shown. Its "
                               f"split was '{r.split}': an unstratified split can leave whole tasks out of training; "
                               "re-run the evaluation (Quick evaluation, or `workbench eval RUN`), which now "
                               "stratifies by task.")  # fmt: skip
                    continue
                st.plotly_chart(plot_probe_curves({r.method: (r.shots, r.accuracy, r.accuracy_std)},
                                                  zero_shot={r.method: r.zero_shot} if r.zero_shot is not None else None,
                                                  title=f"{name}: linear probe (chance {r.chance:.2f})"),
                                width="stretch", key=f"jobs_eval_{name}")  # fmt: skip
            elif isinstance(r, RetrievalResult):
                recalls = {pair: {int(k): v for k, v in vals.items()} for pair, vals in r.recall.items() if vals}
                if not recalls:
                    st.caption(f"{name}: no Recall@k — {r.notes or 'no cross-modal pairs for this method'}.")
                    continue
                st.plotly_chart(plot_recall_at_k(recalls, title=f"{name}: Recall@k ({r.num_samples} held-out samples)"),
                                width="stretch", key=f"jobs_eval_{name}")  # fmt: skip
            elif isinstance(r, KNNResult):
                rows = [{"predictor": f"k-NN policy (k={r.k})", "MSE": r.policy.mse, "L1": r.policy.l1}]
                rows += [{"predictor": b, "MSE": o.mse, "L1": o.l1} for b, o in r.baselines.items()]
                st.markdown(f"**{name}: k-NN offline error** on {r.policy.num_samples} held-out samples (corpus {r.corpus_size})")
                st.dataframe(rows, hide_index=True, key=f"jobs_eval_{name}")
            elif isinstance(r, RolloutResult):
                st.metric(f"{name}: rollout success ({r.policy})", f"{r.success_rate:.0%}")
                st.dataframe([{"task": t.task, "success": f"{t.success_rate:.0%}", "episodes": len(t.successes),
                               "mean steps": float(np.mean(t.steps)) if t.steps else None} for t in r.tasks],
                             hide_index=True, key=f"jobs_eval_{name}")  # fmt: skip
        videos = sorted((Path(ev_path) / "eval" / "rollouts").glob("*.mp4"))
        if videos and st.toggle(f"Rollout videos ({len(videos)})", value=False, key="jobs_eval_videos"):
            vcols = st.columns(3)
            for i, v in enumerate(videos[:12]):
                vcols[i % 3].video(str(v))
                vcols[i % 3].caption(v.stem)


launch_section()
runs = list_runs(runs_root)
if not runs:
    st.info(f"No runs under `{runs_root}` yet. Launch one above or with `workbench train <method> --preset smoke`.")
    evaluation_section()
    st.stop()


@st.fragment(run_every=2.0 if any(r.status.active for r in runs) else None)
def runs_panel() -> None:
    """The run table, the curves and the job controls; refreshes itself every 2 s while a job
    runs, and reruns the page when the last job stops (so the refresh stops too)."""
    runs = list_runs(runs_root)
    live = any(r.status.active for r in runs)
    if st.session_state.get("jobs_live") and not live:
        st.session_state["jobs_live"] = False
        st.rerun(scope="app")
    st.session_state["jobs_live"] = live
    rows = [{"run": r.id, "method": r.method, "preset": r.preset, "state": r.status.state,
             "step": f"{r.status.step}/{r.status.total_steps}", "loss": r.last_loss} for r in runs]  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch")
    ids = [r.id for r in runs]
    if "jobs_plot_runs" in st.session_state:  # runs deleted meanwhile drop out of the pick
        st.session_state["jobs_plot_runs"] = [r for r in st.session_state["jobs_plot_runs"] if r in ids]
    else:
        st.session_state["jobs_plot_runs"] = ids[-3:]
    chosen = st.multiselect("Runs to plot", ids, key="jobs_plot_runs")
    records = {rid: resolve_run(rid, runs_root=runs_root).read_metrics() for rid in chosen}
    keys = metric_keys([rec for recs in records.values() for rec in recs]) or ["loss"]
    key = st.selectbox("Metric", keys, index=keys.index("loss") if "loss" in keys else 0, key="jobs_metric")
    st.plotly_chart(plot_training_curves(records, key), width="stretch", key="jobs_curves")

    st.subheader("Control")
    if st.session_state.get("jobs_target") not in ids:
        st.session_state["jobs_target"] = ids[-1]
    target = st.selectbox("Run", ids, key="jobs_target")
    rd = resolve_run(target, runs_root=runs_root)
    status = rd.read_status()
    st.caption(f"state **{status.state}** · step {status.step}/{status.total_steps} · pid {status.pid}"
               + (f" · error: {status.error}" if status.error else ""))  # fmt: skip
    b1, b2, b3 = st.columns(3)
    if b1.button("Stop", disabled=not status.active, key="jobs_stop"):
        with st.spinner("Stopping (the job writes a checkpoint first)…"):
            try:
                st.session_state["jobs_note"] = ("success", f"Stopped `{target}` at step {stop_run(rd, timeout=60).step}.")
            except JobError as e:
                st.session_state["jobs_note"] = ("error", str(e))
        st.rerun(scope="app")
    if b2.button("Resume", disabled=status.active or status.state == "finished", key="jobs_resume"):
        try:
            st.session_state["jobs_note"] = ("success", f"Resumed `{target}` (pid {resume_run(rd).pid}).")
        except JobError as e:
            st.session_state["jobs_note"] = ("error", str(e))
        st.rerun(scope="app")  # the live refresh starts again
    if b3.button("Refresh", key="jobs_refresh"):
        st.rerun(scope="app")
    note = st.session_state.pop("jobs_note", None)
    if note is not None:
        getattr(st, note[0])(note[1])


runs_panel()

if len(runs) >= 2:
    st.subheader("Config diff")
    d1, d2 = st.columns(2)
    a = d1.selectbox("A", [r.id for r in runs], index=len(runs) - 2, key="jobs_diff_a")
    b = d2.selectbox("B", [r.id for r in runs], index=len(runs) - 1, key="jobs_diff_b")
    diff = diff_runs(resolve_run(a, runs_root=runs_root), resolve_run(b, runs_root=runs_root))
    if diff:
        st.table([{"key": k, "A": str(va), "B": str(vb)} for k, va, vb in diff])
    else:
        st.caption("Identical configs.")

evaluation_section()
