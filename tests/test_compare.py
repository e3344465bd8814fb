"""workbench compare: cells, table with Wilson intervals, settings refused, a killed comparison resumes."""

from __future__ import annotations

import json

import pytest

from workbench.compare import CompareConfig, CompareError, assemble_cells, compare_table, load_compare, run_compare, smoke_config
from workbench.stats import wilson_interval


def _unit(method, policy, task, seed, step, s, n=10):
    return {"method": method, "policy": policy, "task": task, "camera_setup": "dynamic", "seed": seed, "step": step,
            "episodes": n, "successes": s, "videos": []}


def test_assemble_final_and_max_cells_and_the_table():
    units = [_unit("class", "knn", "reach", 0, 6, 7), _unit("class", "knn", "reach", 0, 12, 4),
             _unit("class", "knn", "reach", 1, 6, 2), _unit("class", "knn", "reach", 1, 12, 5),
             _unit("class", "knn", "push", 0, 6, 1), _unit("class", "knn", "push", 0, 12, 1)]
    cells = assemble_cells(units)
    by = {(c["task"], c["seed"], c["checkpoint"]): c for c in cells}
    assert by[("reach", 0, "final")]["successes"] == 4 and by[("reach", 0, "final")]["step"] == 12
    assert by[("reach", 0, "max")]["successes"] == 7 and by[("reach", 0, "max")]["step"] == 6
    assert by[("push", 0, "max")]["step"] == 6  # ties: the earliest checkpoint
    t = compare_table(cells)
    final = t[t["checkpoint"] == "final"].iloc[0]
    ref = wilson_interval(4 + 5, 20)  # reach pools the two seeds' counts
    assert (final["reach"].low, final["reach"].high) == (ref.low, ref.high)
    pooled = wilson_interval(4 + 5 + 1, 30)
    assert final["pooled"].estimate == pytest.approx(pooled.estimate) and final["pooled"].low == pytest.approx(pooled.low)
    assert final["seeds"] == {0: pytest.approx(5 / 20), 1: pytest.approx(5 / 10)}
    from workbench.viz.compare import plot_compare

    fig = plot_compare(t)
    bars = {tr.xaxis: tr for tr in fig.data}  # one method/policy: one bar trace per checkpoint panel
    assert len(fig.data) == 2 and list(bars["x"].x) == ["push", "reach", "pooled"]
    assert bars["x"].error_y.array[1] == pytest.approx(ref.high - ref.estimate)
    assert bars["x"].error_y.arrayminus[1] == pytest.approx(ref.estimate - ref.low)


def test_config_refuses_bad_names_and_overlapping_seeds():
    with pytest.raises(ValueError, match="unknown camera setup 'orbit'"):
        CompareConfig(camera_setup="orbit")
    with pytest.raises(ValueError, match="unknown metaworld task 'fly'"):
        CompareConfig(tasks=("fly",))
    with pytest.raises(ValueError, match="unknown method 'dino'"):
        CompareConfig(methods=("dino",))
    with pytest.raises(ValueError, match="overlap the training placements"):
        CompareConfig(seed_start=10)


def _tiny(**kw):
    base = dict(tasks=("reach",), demos=2, methods=("state_knn", "bc"), policies=("knn", "mlp"), seeds=(0,),
                episodes=2, max_steps=20, demo_max_steps=30, head_steps=5, save_videos=1)
    return smoke_config(**{**base, **kw})


def test_killed_comparison_resumes_without_redoing_cells(tmp_path):
    out = tmp_path / "cmp"
    cfg = _tiny()
    seen: list[str] = []

    class Killed(Exception):
        pass

    def kill_after_second(name: str) -> None:
        seen.append(name)
        if len(seen) == 2:
            raise Killed

    with pytest.raises(Killed):
        run_compare(out, cfg, quiet=True, on_unit=kill_after_second)
    first = {p.name: p.stat().st_mtime_ns for p in (out / "evals").glob("*.json")}
    # final checkpoints come first (state k-NN, then BC's last step), and the table so far is written
    assert seen == ["state_knn__knn__reach__dynamic__s0__step0", "bc__knn__reach__dynamic__s0__step12"]
    assert len(first) == 2
    partial = load_compare(out)["cells"]
    assert {(c["method"], c["policy"], c["step"]) for c in partial} == {("state_knn", "knn", 0), ("bc", "knn", 12)}
    # BC saved two checkpoints (steps 6 and 12) x 2 policies, + the state k-NN
    r = run_compare(out, cfg, quiet=True)
    assert r.skipped == 2 and r.evaluated == 3
    for name, mtime in first.items():  # finished units were not redone
        assert (out / "evals" / name).stat().st_mtime_ns == mtime
    doc = load_compare(out)
    cells = doc["cells"]
    assert {(c["method"], c["policy"]) for c in cells} == {("state_knn", "knn"), ("bc", "knn"), ("bc", "mlp")}
    assert {c["checkpoint"] for c in cells} == {"final", "max"}
    for c in cells:
        assert c["episodes"] == 2 and 0 <= c["successes"] <= 2 and c["camera_setup"] == "dynamic" and c["seed"] == 0
    final = [c for c in cells if c["checkpoint"] == "final" and c["method"] == "bc"]
    assert all(c["step"] == 12 and c["videos"] and (out / c["videos"][0]).exists() for c in final)
    assert "Wilson" in (out / "compare.md").read_text() and (out / "compare_figure.html").exists()
    # a third call finds everything done
    again = run_compare(out, cfg, quiet=True)
    assert again.evaluated == 0 and again.skipped == 5
    # continuing with other evaluation settings is refused, not mixed in
    with pytest.raises(CompareError, match="max_steps=20"):
        run_compare(out, _tiny(max_steps=30), quiet=True)
    json.loads((out / "compare_config.json").read_text())


def test_sigkilled_command_resumes(tmp_path):
    """The real thing: `workbench compare` SIGKILLed as soon as its first evaluation is saved."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "cmp"
    cmd = [sys.executable, "-W", "ignore", "-m", "workbench.cli", "compare", "--smoke", "--out", str(out), "--quiet",
           "--demos", "2", "--episodes", "2", "--max-steps", "20", "--seeds", "0", "--methods", "state_knn,random_encoder",
           "--policies", "knn"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not list((out / "evals").glob("*.json")) and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, "the comparison ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the command and its rollout workers
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    first = {p.name: p.stat().st_mtime_ns for p in (out / "evals").glob("*.json")}
    assert len(first) == 1 and len(load_compare(out)["cells"]) == 2  # its final and max cells, written as it landed
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{len(first)} found done" in r.stdout
    for name, mtime in first.items():
        assert (out / "evals" / name).stat().st_mtime_ns == mtime
    # state k-NN + the random encoder once (its checkpoints all hold the initial weights)
    assert sorted(p.stem.split("__")[-1] for p in (out / "evals").glob("*.json")) == ["step0", "step12"]
    cells = load_compare(out)["cells"]
    assert len(cells) == 4  # two (method, policy, task, seed) groups x final / max
