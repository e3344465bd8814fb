"""workbench compare: cells, table with Wilson intervals, settings refused, a killed comparison resumes."""

from __future__ import annotations

import json

import pytest

from workbench.compare import (
    METHOD_SETTINGS,
    CompareConfig,
    CompareError,
    assemble_cells,
    compare_table,
    compare_table_markdown,
    load_compare,
    run_compare,
    smoke_config,
    split_overrides,
)
from workbench.stats import wilson_interval


def _unit(method, policy, task, seed, step, s, n=10):
    return {"method": method, "policy": policy, "task": task, "camera_setup": "dynamic", "seed": seed, "step": step,
            "episodes": n, "successes": s, "videos": []}


def test_assemble_final_and_max_cells_and_the_table():
    units = [_unit("class", "knn", "reach", 0, 6, 7), _unit("class", "knn", "reach", 0, 12, 4),
             _unit("class", "knn", "reach", 1, 6, 2), _unit("class", "knn", "reach", 1, 12, 5),
             _unit("class", "knn", "push", 0, 6, 1), _unit("class", "knn", "push", 0, 12, 1)]
    cells = assemble_cells(units, {("class", 0): [6, 12], ("class", 1): [6, 12]})
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


def test_max_exists_only_once_every_saved_checkpoint_is_evaluated():
    """A run that saved checkpoints 500, 1,000 and 1,500 with only the final evaluated (the first
    pass) has no "max" cell: the best of one evaluation is not the max over training."""
    saved = {("clamp", 0): [500, 1000, 1500], ("clamp", 1): [500, 1000, 1500]}
    units = [_unit("clamp", "knn", "reach", s, 1500, 3) for s in (0, 1)]
    cells = assemble_cells(units, saved)
    assert [c["checkpoint"] for c in cells] == ["final", "final"]
    assert all(c["steps_saved"] == [500, 1000, 1500] and c["steps_evaluated"] == [1500] for c in cells)
    md = compare_table_markdown(cells)
    assert "| max |" not in md and "clamp · knn (dynamic): s0, s1 1 of 3 checkpoints evaluated" in md
    # seed 0's earlier checkpoints evaluated: its max cell exists, but the row would pool seed 0
    # alone against "final"'s two seeds, so the table leaves it out until seed 1's are done too
    units += [_unit("clamp", "knn", "reach", 0, 500, 6), _unit("clamp", "knn", "reach", 0, 1000, 4)]
    cells = assemble_cells(units, saved)
    assert [(c["seed"], c["step"], c["successes"]) for c in cells if c["checkpoint"] == "max"] == [(0, 500, 6)]
    assert list(compare_table(cells)["checkpoint"]) == ["final"]
    assert "s0" not in compare_table_markdown(cells).split("not shown")[1] and "s1 1 of 3" in compare_table_markdown(cells)
    units += [_unit("clamp", "knn", "reach", 1, 500, 1), _unit("clamp", "knn", "reach", 1, 1000, 5)]
    cells = assemble_cells(units, saved)
    t = compare_table(cells)
    best = t[t["checkpoint"] == "max"].iloc[0]["pooled"]
    assert (best.low, best.high) == (wilson_interval(6 + 5, 20).low, wilson_interval(6 + 5, 20).high)
    assert "not shown" not in compare_table_markdown(cells)
    # a run whose saved checkpoints are unknown (not named) gets no "max" either
    assert {c["checkpoint"] for c in assemble_cells(units)} == {"final"}
    # the state k-NN (one evaluation) and an untrained encoder (same weights at every checkpoint) are complete
    ref = assemble_cells([_unit("state_knn", "knn", "reach", 0, 0, 5), _unit("random_encoder", "knn", "reach", 0, 12, 2)])
    assert sorted((c["method"], c["checkpoint"]) for c in ref) == [("random_encoder", "final"), ("random_encoder", "max"),
                                                                   ("state_knn", "final"), ("state_knn", "max")]  # fmt: skip


def test_config_refuses_bad_names_and_overlapping_seeds():
    with pytest.raises(ValueError, match="unknown camera setup 'orbit'"):
        CompareConfig(camera_setup="orbit")
    with pytest.raises(ValueError, match="unknown metaworld task 'fly'"):
        CompareConfig(tasks=("fly",))
    with pytest.raises(ValueError, match="unknown method 'dino'"):
        CompareConfig(methods=("dino",))
    with pytest.raises(ValueError, match="overlap the training placements"):
        CompareConfig(seed_start=10)
    with pytest.raises(ValueError, match="method_overrides names 'state_knn'"):
        CompareConfig(method_overrides={"state_knn": ("seed=1",)})
    with pytest.raises(ValueError, match="must look like key=value"):
        split_overrides(["clamp:method_config.view_size"])


def test_method_overrides_split_and_round_trip():
    common, per = split_overrides(["optim.lr=1e-3", "clamp:method_config.view_size=16", "bc:data.path=/a:b"])
    assert common == ("optim.lr=1e-3",)
    # added after the method's defaults, so they win; other methods keep theirs
    assert per["clamp"] == (*METHOD_SETTINGS["clamp"], "method_config.view_size=16")
    assert per["clap_actvae"] == METHOD_SETTINGS["clap_actvae"] and per["bc"] == ("data.path=/a:b",)
    cfg = CompareConfig(train_overrides=common, method_overrides=per)
    assert cfg.overrides("clamp") == ("optim.lr=1e-3", *per["clamp"]) and cfg.overrides("caip") == ("optim.lr=1e-3",)
    d = json.loads(json.dumps(cfg.to_dict(), default=list))
    assert CompareConfig.from_dict(d) == cfg
    # a folder written before the field existed loads with today's per-method defaults
    d.pop("method_overrides")
    assert CompareConfig.from_dict(d).method_overrides == METHOD_SETTINGS


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
    # BC's checkpoint 6 is not evaluated yet: no "max" for it
    assert sorted((c["method"], c["checkpoint"]) for c in partial) == [("bc", "final"), ("state_knn", "final"),
                                                                       ("state_knn", "max")]  # fmt: skip
    assert next(c for c in partial if c["method"] == "bc")["steps_saved"] == [6, 12]
    # the table is rewritten after every unit, the figure at the end of each (seed, method, checkpoint)
    # group: it was drawn once the state k-NN's group ended, and BC's group was cut before its end
    assert "| bc | knn |" in (out / "compare.md").read_text()
    fig = json.loads((out / "compare_figure.json").read_text())
    assert {" · ".join(tr["name"].split(" · ")[:2]) for tr in fig["data"]} == {"state_knn · knn"}  # (· its variant)
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
        # what tells them apart in a collected table: demos, and the smoke preset as BC's training variant
        assert c["demos"] == 2 and c["variant"] == ("" if c["method"] == "state_knn" else "preset=smoke")
    final = [c for c in cells if c["checkpoint"] == "final" and c["method"] == "bc"]
    assert all(c["step"] == 12 and c["videos"] and (out / c["videos"][0]).exists() for c in final)
    assert "Wilson" in (out / "compare.md").read_text() and (out / "compare_figure.html").exists()
    fig = json.loads((out / "compare_figure.json").read_text())
    assert {" · ".join(tr["name"].split(" · ")[:2]) for tr in fig["data"]} == {"state_knn · knn", "bc · knn", "bc · mlp"}
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


def test_clamp_views_and_clap_image_tower_end_to_end(tmp_path):
    """`workbench compare --smoke` with CLAMP and CLAP's image tower: CLAMP is trained on depth + XYZ
    views and its rollouts read them (through the rig), clap_actvae trains its image tower; a run
    trained otherwise, or other per-method settings in the same folder, are refused by name."""
    from dataclasses import replace

    import yaml

    from workbench.cli import main

    out = tmp_path / "cmp"
    rc = main(["compare", "--smoke", "--out", str(out), "--quiet", "--demos", "2", "--episodes", "2", "--max-steps", "20",
               "--seeds", "0", "--methods", "state_knn,clamp,clap_actvae", "--ckpt-every", "12",
               "--set", "clamp:method_config.view_size=16"])  # fmt: skip
    assert rc == 0
    clamp = yaml.safe_load((out / "runs" / "clamp-s0" / "config.yaml").read_text())["method_config"]
    assert clamp["image_input"] == "dxyz" and clamp["view_size"] == 16  # the default and the --set, both applied
    clap = yaml.safe_load((out / "runs" / "clap_actvae-s0" / "config.yaml").read_text())["method_config"]
    assert clap["contrastive_weight"] == 1
    metrics = [json.loads(x) for x in (out / "runs" / "clap_actvae-s0" / "metrics.jsonl").read_text().splitlines()]
    assert all("contrastive" in m for m in metrics if "loss" in m)  # the image tower's SigLIP term was trained
    units = {p.stem: json.loads(p.read_text()) for p in (out / "evals").glob("*.json")}
    reads = {(u["method"], u["policy"]): u["reads"] for u in units.values()}
    assert reads == {("state_knn", "knn"): "state", ("clamp", "knn"): "views", ("clamp", "mlp"): "views",
                     ("clap_actvae", "knn"): "rgb", ("clap_actvae", "mlp"): "rgb"}  # fmt: skip
    assert all(u["episodes"] == 2 and u["step"] in (0, 12) for u in units.values())
    cells = load_compare(out)["cells"]
    assert {(c["method"], c["policy"], c["checkpoint"]) for c in cells} >= {
        (m, p, k) for m in ("clamp", "clap_actvae") for p in ("knn", "mlp") for k in ("final", "max")}
    cfg = CompareConfig.from_dict(json.loads((out / "compare_config.json").read_text())["config"])
    assert cfg.method_overrides["clamp"] == (*METHOD_SETTINGS["clamp"], "method_config.view_size=16")
    # other settings for a method the folder holds: refused, not mixed in
    other = replace(cfg, method_overrides={**cfg.method_overrides, "clap_actvae": ("method_config.contrastive_weight=0",)})
    with pytest.raises(CompareError, match=r"method_overrides\['clap_actvae'\]"):
        run_compare(out, other, quiet=True)
    # a folder from before method_overrides (its runs trained with the old defaults: clap_actvae's
    # tower left random) loads, and the run that does not match today's settings is refused by name
    doc = json.loads((out / "compare_config.json").read_text())
    doc["config"].pop("method_overrides")
    (out / "compare_config.json").write_text(json.dumps(doc))
    run_cfg = out / "runs" / "clap_actvae-s0" / "config.yaml"
    old = yaml.safe_load(run_cfg.read_text())
    old["method_config"]["contrastive_weight"] = 0.0
    run_cfg.write_text(yaml.safe_dump(old))
    with pytest.raises(CompareError, match=r"clap_actvae-s0 was trained with method_config.contrastive_weight=0.0"):
        run_compare(out, replace(cfg, method_overrides=dict(METHOD_SETTINGS)), quiet=True)
    assert len(list((out / "evals").glob("*.json"))) == len(units)  # nothing redone or lost
