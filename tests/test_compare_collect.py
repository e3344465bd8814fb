"""workbench compare collect: one table from several comparison folders (issue 14's stages).

The folders are written by hand as ``workbench compare`` leaves them (compare_config.json,
compare.json, evals/, videos/): no training here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from workbench.compare import (
    METHOD_SETTINGS,
    CompareConfig,
    CompareError,
    assemble_cells,
    collect_compare,
    compare_table_markdown,
    compare_table,
    describe_cells,
    load_compare,
)
from workbench.stats import wilson_interval


def _units(camera: str, counts: dict[tuple[str, str, int], tuple[int, int]], step: int = 12) -> list[dict]:
    """Evaluation units as the runner saves them: (method, task, seed) -> (successes, episodes)."""
    return [{"method": m, "policy": "knn", "task": t, "camera_setup": camera, "seed": s, "step": step, "episodes": n,
             "successes": k, "videos": [f"videos/{m}__knn__{t}__{camera}__s{s}__step{step}__ep2000.mp4"]}
            for (m, t, s), (k, n) in counts.items()]  # fmt: skip


def _runs(path: Path, steps: dict[tuple[str, int], list[int]]) -> None:
    """``runs/<method>-s<seed>/`` as a finished training run leaves them: config, status and the
    checkpoint files (empty here: only their steps are read)."""
    from workbench.train import RunDir
    from workbench.train.rundir import RunState, RunStatus

    for (m, s), saved in steps.items():
        rd = RunDir(path / "runs" / f"{m}-s{s}")
        rd.ckpt_dir.mkdir(parents=True)
        rd.config_path.write_text("{}\n")
        rd.write_status(RunStatus(state=RunState.FINISHED.value))
        for step in saved:
            rd.checkpoint_path(step).write_bytes(b"")


def _folder(path: Path, cfg: CompareConfig, counts: dict, *, old: bool = False) -> Path:
    """A comparison folder whose runs saved one checkpoint (step 12); ``old``: cells without demos,
    variant or steps_saved, as folders written before them (their runs on disk)."""
    from workbench.data.video import write_video

    units = _units(cfg.camera_setup, counts)
    saved = {(m, s): [12] for (m, _, s) in counts if m != "state_knn"}
    if old:
        cells = [{k: v for k, v in c.items() if k != "steps_saved"} for c in assemble_cells(units, saved)]
        _runs(path, saved)
    else:
        cells = describe_cells(assemble_cells(units, saved), cfg)
    (path / "evals").mkdir(parents=True)
    for i, u in enumerate(units):
        name = Path(u["videos"][0]).stem.rsplit("__ep", 1)[0]
        (path / "evals" / f"{name}.json").write_text(json.dumps(u))
        frames = np.full((3, 16, 16, 3), 40 * i, np.uint8)  # tells the videos apart
        write_video(path / u["videos"][0], frames, 10.0)
    (path / "compare_config.json").write_text(json.dumps({"config": cfg.to_dict()}, default=list))
    (path / "compare.json").write_text(json.dumps({"config": cfg.to_dict(), "cells": cells}, default=list))
    (path / "compare.md").write_text("the stage's own table\n")
    return path


def _cfg(**kw) -> CompareConfig:
    return CompareConfig(**{"tasks": ("reach", "push"), "methods": ("state_knn", "bc"), "episodes": 10, **kw})


COUNTS = {("bc", "reach", 0): (3, 10), ("bc", "push", 0): (1, 10), ("bc", "reach", 1): (5, 10),
          ("state_knn", "reach", 0): (6, 10)}  # fmt: skip


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_cells_say_demos_and_variant():
    assert _cfg().variant("bc") == "" and _cfg(demos=8).variant("class") == ""
    assert _cfg(train_overrides=("method_config.soft=false",)).variant("bc") == "method_config.soft=false"
    assert _cfg(preset="class-appb").variant("bc") == "preset=class-appb"
    assert _cfg(preset="class-appb", label="App. B").variant("bc") == "App. B"  # a label names it
    assert _cfg(label="hard").variant("state_knn") == ""  # nothing trained, nothing varies
    # a method's default settings (METHOD_SETTINGS) are no variant; what is added or dropped is
    assert CompareConfig(methods=("clamp",)).variant("clamp") == ""
    more = {**METHOD_SETTINGS, "clamp": (*METHOD_SETTINGS["clamp"], "method_config.view_size=16")}
    assert CompareConfig(method_overrides=more).variant("clamp") == "clamp:method_config.view_size=16"
    assert CompareConfig(method_overrides=more).variant("bc") == ""
    fewer = {**METHOD_SETTINGS, "clamp": ()}
    assert CompareConfig(method_overrides=fewer).variant("clamp") == "clamp:without method_config.image_input=dxyz"
    # a folder written before the label existed loads without one
    d = json.loads(json.dumps(_cfg().to_dict(), default=list))
    d.pop("label")
    assert CompareConfig.from_dict(d).label == ""
    with pytest.raises(ValueError, match="must be one line without"):
        _cfg(label="a|b")
    cells = describe_cells(assemble_cells(_units("dynamic", COUNTS)), _cfg(demos=16, label="hard"))
    assert {(c["method"], c["demos"], c["variant"]) for c in cells} == {("bc", 16, "hard"), ("state_knn", 16, "")}


def test_collect_two_stages_union_videos_and_idempotence(tmp_path):
    dyn = _folder(tmp_path / "compare-stage1", _cfg(), COUNTS, old=True)  # today's stage (1) folder
    fixed = _folder(tmp_path / "compare-stage2-fixed", _cfg(camera_setup="fixed", ckpt_every=1500), COUNTS)
    before = {f: _tree(f) for f in (dyn, fixed)}
    out = tmp_path / "results"
    r = collect_compare(out, [dyn, fixed])
    doc = load_compare(out)
    assert [s["name"] for s in doc["sources"]] == ["compare-stage1", "compare-stage2-fixed"]
    # the union: every cell of both folders, each saying its demos, variant and source
    assert len(doc["cells"]) == len(r.cells) == 2 * len(load_compare(dyn)["cells"])
    assert {(c["camera_setup"], c["source"]) for c in doc["cells"]} == {("dynamic", "compare-stage1"),
                                                                       ("fixed", "compare-stage2-fixed")}  # fmt: skip
    assert all(c["demos"] == 32 and c["variant"] == "" for c in doc["cells"])
    # videos and per-episode evaluations copied per stage, the cells' paths valid from compare.json
    for c in doc["cells"]:
        assert c["videos"] and all(v.startswith(f"stages/{c['source']}/videos/") for v in c["videos"])
        for v in c["videos"]:
            src = (dyn if c["source"] == "compare-stage1" else fixed) / v.split("/", 2)[2]
            assert (out / v).read_bytes() == src.read_bytes()
    assert len(list((out / "stages" / "compare-stage2-fixed" / "evals").glob("*.json"))) == len(COUNTS)
    assert (out / "stages" / "compare-stage1" / "compare_config.json").exists()
    # the table: one row per camera; a task's column pools the seeds' counts
    t = compare_table(doc["cells"])
    bc = t[(t["method"] == "bc") & (t["checkpoint"] == "final")]
    assert sorted(bc["camera_setup"]) == ["dynamic", "fixed"]
    ref = wilson_interval(3 + 5, 20)
    assert all((iv.low, iv.high) == (ref.low, ref.high) for iv in bc["reach"])
    md = (out / "compare.md").read_text()
    assert md.index("## dynamic camera (32 demos per task)") < md.index("## fixed camera (32 demos per task)")
    assert "| variant |" not in md and "| demos |" not in md  # nothing varies: no such columns
    spec = json.loads((out / "compare_figure.json").read_text())
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles[0].startswith("dynamic camera · final") and titles[-1].startswith("fixed camera · max")
    assert len(spec["data"]) == 2 * 2 * 2  # (bc, state k-NN) x 2 cameras x 2 checkpoints
    # collecting again gives the same files and copies nothing; the sources were only read
    first = _tree(out)
    again = collect_compare(out, [fixed, dyn])  # in any order
    assert again.copied == 0 and _tree(out) == first
    assert {f: _tree(f) for f in (dyn, fixed)} == before


def test_collect_refuses_collisions_and_incomparable_folders_by_name(tmp_path):
    a = _folder(tmp_path / "stage1", _cfg(), COUNTS)
    b = _folder(tmp_path / "stage1-again", _cfg(), {("bc", "reach", 1): (2, 10)})
    out = tmp_path / "results"
    with pytest.raises(CompareError, match=r"stage1 and .*stage1-again both hold the cell method='bc', policy='knn', "
                                           r"task='reach', camera_setup='dynamic', seed=1, checkpoint='final'"):  # fmt: skip
        collect_compare(out, [a, b])
    assert not out.exists()  # refused before anything was written
    c = _folder(tmp_path / "more-episodes", _cfg(episodes=20), COUNTS)
    with pytest.raises(CompareError, match=r"stage1 and .*more-episodes are not comparable: episodes=10 in one, 20"):
        collect_compare(out, [a, c])
    with pytest.raises(CompareError, match="is both a source and the output"):
        collect_compare(a, [a])
    with pytest.raises(CompareError, match="same name 'stage1'"):
        collect_compare(out, [a, _folder(tmp_path / "x" / "stage1", _cfg(demos=8), COUNTS)])
    # a label (or other training settings) makes the same measurements a variant; other demos too
    hard = _folder(tmp_path / "class-hard", _cfg(label="hard"), {("bc", "reach", 0): (9, 10)})
    d8 = _folder(tmp_path / "demos8", _cfg(demos=8), {("bc", "reach", 0): (0, 10)})
    r = collect_compare(out, [a, hard, d8])
    keys = {(c["demos"], c["variant"], c["successes"]) for c in r.cells if c["method"] == "bc" and c["seed"] == 0
            and c["task"] == "reach" and c["checkpoint"] == "final"}  # fmt: skip
    assert keys == {(32, "", 3), (32, "hard", 9), (8, "", 0)}
    md = (out / "compare.md").read_text()
    assert "## dynamic camera (8, 32 demos per task)" in md and "| demos | variant |" in md and "| hard |" in md
    # a collected table is not a comparison folder
    with pytest.raises(CompareError, match="a collected table, not a comparison folder"):
        collect_compare(tmp_path / "again", [out])


def test_collect_command(tmp_path, capsys):
    from workbench.cli import main

    a = _folder(tmp_path / "dyn", _cfg(), COUNTS)
    b = _folder(tmp_path / "fix", _cfg(camera_setup="fixed"), COUNTS)
    out = tmp_path / "results"
    assert main(["compare", "collect", "--out", str(out), str(a), str(b), "--quiet"]) == 0
    assert "16 cells from 2 folder(s) (dyn, fix)" in capsys.readouterr().out
    assert main(["compare", "collect", "--out", str(tmp_path / "x"), str(a), str(a)]) == 2
    assert "same name 'dyn'" in capsys.readouterr().err
    assert main(["compare", "--tasks", "reach"]) == 2
    assert "needs --out" in capsys.readouterr().err


def test_old_cells_keep_a_max_only_where_it_is_provably_complete(tmp_path):
    """compare.json written before steps_saved: the state k-NN's and an untrained encoder's "max"
    stand; a trained run's stands only when its checkpoints on disk were all evaluated (a run
    SIGTERMed and resumed saved one off the ckpt_every grid); read alone (no runs/), it is dropped."""
    units = [{"method": m, "policy": "knn", "task": "reach", "camera_setup": "dynamic", "seed": 0, "step": st,
              "episodes": 10, "successes": k, "videos": []}
             for m, st, k in (("state_knn", 0, 6), ("random_encoder", 12, 2), ("bc", 6, 5), ("bc", 12, 3),
                              ("class", 6, 1), ("class", 12, 4))]  # fmt: skip
    old = [{k: v for k, v in c.items() if k != "steps_saved"}
           for c in assemble_cells(units, {("bc", 0): [6, 12], ("class", 0): [6, 12]})]  # fmt: skip
    assert sum(c["checkpoint"] == "max" for c in old) == 4
    folder = tmp_path / "cmp"
    folder.mkdir()
    (folder / "compare.json").write_text(json.dumps({"config": _cfg().to_dict(), "cells": old}, default=list))

    def maxes() -> set[str]:
        return {c["method"] for c in load_compare(folder)["cells"] if c["checkpoint"] == "max"}

    assert maxes() == {"state_knn", "random_encoder"}  # nothing proves the trained runs' checkpoints
    _runs(folder, {("bc", 0): [6, 12], ("class", 0): [6, 9, 12]})  # class: an off-grid checkpoint at 9
    assert maxes() == {"state_knn", "random_encoder", "bc"}
    md = compare_table_markdown(load_compare(folder)["cells"])
    assert "class · knn (dynamic): s0 2 of 3 checkpoints evaluated" in md
    # collected, the cells carry what the folder proved: the table alone decides the same
    out = tmp_path / "results"
    collect_compare(out, [folder])
    cells = load_compare(out)["cells"]
    assert {c["method"] for c in cells if c["checkpoint"] == "max"} == {"state_knn", "random_encoder", "bc"}
    assert next(c for c in cells if c["method"] == "class")["steps_saved"] == [6, 9, 12]


def test_demo_sweep_figure_where_a_camera_holds_several_demos(tmp_path):
    """CLASS Fig. 11: success vs demos per task, written by collect beside compare_figure only when a
    camera setup holds several numbers of demos; one line per method · policy, Wilson bars."""
    from workbench.viz.compare import demo_sweep_cameras, plot_demo_sweep

    d32 = {("bc", "reach", 0): (3, 10), ("bc", "reach", 1): (5, 10), ("state_knn", "reach", 0): (6, 10)}
    d8 = {("bc", "reach", 0): (1, 10), ("bc", "reach", 1): (0, 10), ("state_knn", "reach", 0): (4, 10)}
    folders = [_folder(tmp_path / "fixed-d32", _cfg(camera_setup="fixed"), d32),
               _folder(tmp_path / "fixed-d8", _cfg(camera_setup="fixed", demos=8), d8),
               _folder(tmp_path / "dynamic-d32", _cfg(), d32)]  # fmt: skip
    out = tmp_path / "results"
    collect_compare(out, folders)
    t = compare_table(load_compare(out)["cells"])
    assert demo_sweep_cameras(t) == ["fixed"]  # the dynamic camera has one number of demos: no sweep
    spec = json.loads((out / "compare_demos.json").read_text())
    assert [a["text"] for a in spec["layout"]["annotations"]] == ["fixed camera"]
    assert spec["layout"]["xaxis"]["type"] == "log" and spec["layout"]["xaxis"]["tickvals"] == [8, 32]
    lines = {tr["name"]: tr for tr in spec["data"]}
    assert set(lines) == {"bc · knn", "state_knn · knn"}
    bc = lines["bc · knn"]
    assert [c[3] for c in bc["customdata"]] == [8, 32]  # the true demos (x is dodged a few % on the log axis)
    assert bc["x"][0] == pytest.approx(8, rel=0.05) and bc["x"][1] == pytest.approx(32, rel=0.05)
    for y, up, (k, n) in zip(bc["y"], bc["error_y"]["array"], [(1, 20), (8, 20)]):
        ref = wilson_interval(k, n)  # both training seeds pooled
        assert y == pytest.approx(ref.estimate) and up == pytest.approx(ref.high - ref.estimate)
    fig = plot_demo_sweep(t)
    assert len(fig.data) == 2 and all(tr.mode == "lines+markers" for tr in fig.data)
    # collected again without the sweep: the figure goes, not left stale
    collect_compare(out, folders[:1] + folders[2:])
    assert not (out / "compare_demos.html").exists() and (out / "compare_figure.html").exists()


def test_no_demo_sweep_where_no_line_holds_two_numbers_of_demos():
    """A camera with two numbers of demos, each held by another method (bc at 8, class at 32), has
    no line to draw: no sweep there (plot_demo_sweep used to fail on it with an empty max)."""
    from workbench.viz.compare import demo_sweep_cameras, plot_demo_sweep

    def cell(method: str, camera: str, demos: int, successes: int) -> dict:
        return {"method": method, "policy": "knn", "task": "reach", "camera_setup": camera, "seed": 0, "episodes": 10,
                "successes": successes, "step": 12, "checkpoint": "final", "demos": demos, "variant": ""}  # fmt: skip

    apart = [cell("bc", "fixed", 8, 2), cell("class", "fixed", 32, 5)]
    assert demo_sweep_cameras(compare_table(apart)) == []
    swept = [cell("bc", "dynamic", 8, 1), cell("bc", "dynamic", 32, 4)]
    t = compare_table(apart + swept)
    assert demo_sweep_cameras(t) == ["dynamic"]
    fig = plot_demo_sweep(t)
    assert [tr.name for tr in fig.data] == ["bc · knn"] and [c[3] for c in fig.data[0].customdata] == [8, 32]
