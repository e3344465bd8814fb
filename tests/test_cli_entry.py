"""The ``workbench`` command through its real entry point (the console script, in a subprocess):
every subcommand given bad input exits non-zero with ONE line naming the problem, no traceback,
and leaves nothing behind. Run through the script so the tests survive the CLI's reorganisation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "workbench"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    assert SCRIPT.is_file(), f"{SCRIPT}: the console script is missing (pip install -e .)"
    env = {**os.environ, "PYTHONPATH": str(REPO), "MUJOCO_GL": "egl"}  # the checkout under test
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli-bad")
    (d / "broken.yaml").write_text("not: [valid\n")
    (d / "wrong.yaml").write_text("method: caip\nsteps: many\n")
    (d / "garbage" / "meta").mkdir(parents=True)
    (d / "garbage" / "meta" / "info.json").write_text("")
    (d / "a-file").write_text("x")
    return d


CASES = {
    "train: unknown method": (["train", "nosuch", "--preset", "smoke"], "nosuch"),
    "train: unknown preset": (["train", "caip", "--preset", "nosuch"], "nosuch"),
    "train: missing dataset": (["train", "caip", "--preset", "smoke", "--set", "data.path={d}/missing"], "missing"),
    "train: garbage dataset": (["train", "caip", "--preset", "smoke", "--set", "data.path={d}/garbage"], "info.json"),
    "train: bad override": (["train", "caip", "--preset", "smoke", "--set", "nosuchkey=1"], "nosuchkey"),
    "train: YAML that does not parse": (["train", "{d}/broken.yaml"], "broken.yaml"),
    "train: config with a bad value": (["train", "{d}/wrong.yaml"], "steps"),
    "train: missing config": (["train", "{d}/missing.yaml"], "missing.yaml"),
    "runs show": (["runs", "show", "{d}/norun"], "norun"),
    "runs stop": (["runs", "stop", "{d}/norun"], "norun"),
    "runs resume": (["runs", "resume", "{d}/norun"], "norun"),
    "runs diff": (["runs", "diff", "{d}/norun", "{d}/norun2"], "norun"),
    "runs strip": (["runs", "strip", "{d}/norun"], "norun"),
    "figures: output is a file": (["figures", "--out", "{d}/a-file/figs"], "a-file"),
    "data make-samples: output is a file": (["data", "make-samples", "--out", "{d}/a-file/samples"], "a-file"),
    "data info: missing": (["data", "info", "{d}/missing"], "missing"),
    "data info: garbage": (["data", "info", "{d}/garbage"], "info.json"),
    "eval: not a run": (["eval", "{d}/norun"], "norun"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_naming_the_problem(case: str, bad: Path) -> None:
    args, named = CASES[case]
    before = sorted(p.relative_to(bad) for p in bad.rglob("*"))
    r = _run([a.format(d=bad) for a in args], cwd=bad)
    assert r.returncode != 0, f"{case}: exit 0\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"{case}: {len(lines)} lines on stderr:\n{r.stderr}"
    assert named in lines[0], f"{case}: the message does not name {named!r}: {lines[0]}"
    after = sorted(p.relative_to(bad) for p in bad.rglob("*"))
    assert after == before, f"{case}: left behind {set(after) - set(before)}"
