"""Paired differences and verdicts between two rows of a comparison (workbench.compare.differences).

The folders are written by hand as `workbench compare` leaves them (evaluation units with their
per-episode outcomes, compare.json), with outcomes chosen so that every answer is known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench.compare import CompareConfig, CompareError, assemble_cells, describe_cells
from workbench.compare.differences import paired_difference
from workbench.compare.runner import write_results
from workbench.compare.units import unit_name
from workbench.stats import bootstrap_interval

RESULTS = Path(__file__).resolve().parents[1] / "notebooks" / "paper" / "results"


def _hits(n: int, k: int) -> list[bool]:
    return [i < k for i in range(n)]


def _folder(path: Path, outcomes: dict[tuple[str, str, str, int], list[bool]], camera: str = "dynamic") -> Path:
    """A comparison folder from (method, policy, task, seed) -> per-episode outcomes (evaluation
    seeds 2000…): units on disk, compare.json, compare.md."""
    units = []
    for (m, pol, task, seed), o in outcomes.items():
        step = 0 if m == "state_knn" else 12
        u = {"method": m, "policy": pol, "task": task, "camera_setup": camera, "seed": seed, "step": step,
             "episodes": len(o), "successes": int(sum(o)), "eval_seeds": [2000, 2000 + len(o) - 1], "outcomes": o,
             "videos": []}  # fmt: skip
        (path / "evals").mkdir(parents=True, exist_ok=True)
        (path / "evals" / f"{unit_name(m, pol, task, camera, seed, step)}.json").write_text(json.dumps(u))
        units.append(u)
    methods = tuple(sorted({k[0] for k in outcomes}))
    cfg = CompareConfig(tasks=tuple(sorted({k[2] for k in outcomes})), methods=methods, camera_setup=camera, episodes=50)
    cells = describe_cells(assemble_cells(units, {(m, s): [12] for (m, _, _, s) in outcomes}), cfg)
    write_results(path, {"config": cfg.to_dict(), "cells": cells})
    return path


def test_a_clear_difference_is_called_with_its_interval(tmp_path):
    # every (task, seed): class succeeds on the first 30 of 50 placements, BC on the first 10
    out = {(m, "knn", t, s): _hits(50, k) for m, k in (("class", 30), ("bc", 10)) for t in ("reach", "push") for s in (0, 1)}
    d = paired_difference(_folder(tmp_path, out), "class", "bc")
    assert d.episodes == 200 and d.unpaired == 0 and d.successes_a == 120 and d.successes_b == 40
    assert d.difference.estimate == pytest.approx(0.4) and d.per_seed == {0: pytest.approx(0.4), 1: pytest.approx(0.4)}
    assert 0 < d.difference.low < 0.4 < d.difference.high
    assert d.verdict == "class > bc" and d.ratio.estimate == pytest.approx(3.0)
    # the same episodes from one training seed: whether it carries to another seed is not measured
    one = paired_difference(_folder(tmp_path / "one", {k: v for k, v in out.items() if k[3] == 0}), "class", "bc")
    assert one.difference.low > 0 and one.verdict == "inconclusive" and "one training seed" in one.why
    # the other way round
    r = paired_difference(tmp_path, "bc", "class")
    assert r.verdict == "bc < class" and r.difference.estimate == pytest.approx(-0.4)
    assert (r.difference.low, r.difference.high) == pytest.approx((-d.difference.high, -d.difference.low))


def test_training_seeds_that_differ_in_sign_make_it_inconclusive(tmp_path):
    """The README's CLASS-vs-BC case: the episode interval excludes 0, one seed does not agree."""
    out = {}
    for t in ("reach", "push"):
        out |= {("class", "knn", t, 0): _hits(50, 30), ("bc", "knn", t, 0): _hits(50, 10),  # +40 points
                ("class", "knn", t, 1): _hits(50, 10), ("bc", "knn", t, 1): _hits(50, 12)}  # -4 points  # fmt: skip
    d = paired_difference(_folder(tmp_path, out), "class", "bc")
    assert d.difference.estimate == pytest.approx(0.18) and d.difference.low > 0
    assert d.per_seed == {0: pytest.approx(0.4), 1: pytest.approx(-0.04)}
    assert d.verdict == "inconclusive" and "differ in sign" in d.why


def test_no_difference_and_the_ratio_target(tmp_path):
    rng = np.random.default_rng(0)
    same = {t: list(rng.random(50) < 0.4) for t in ("reach", "push")}
    out = {("class", "knn", t, s): [bool(x) for x in same[t]] for t in same for s in (0, 1)}
    out |= {("bc", "knn", t, s): [bool(x) for x in same[t]] for t in same for s in (0, 1)}
    out |= {("state_knn", "knn", t, 0): [bool(x) for x in same[t]] for t in same}
    out |= {("caip", "knn", t, s): [False] * 50 for t in same for s in (0, 1)}
    folder = _folder(tmp_path, out)
    d = paired_difference(folder, "class", "bc")
    assert (d.difference.estimate, d.difference.low, d.difference.high) == (0.0, 0.0, 0.0)
    assert d.verdict == "inconclusive" and "holds 0" in d.why
    # the state k-NN, evaluated once, pairs with each training seed of the other on the same placements
    k = paired_difference(folder, "class", "state_knn", target=0.8)
    assert k.episodes == 200 and set(k.per_seed) == {0, 1} and k.successes_b == 2 * sum(sum(v) for v in same.values())
    assert (k.ratio.low, k.ratio.high) == (1.0, 1.0) and k.ratio_verdict == "meets"
    z = paired_difference(folder, "caip", "state_knn", target=0.8)
    assert z.ratio.high == 0.0 and z.ratio_verdict == "misses" and z.verdict == "caip < state_knn"
    # near the target either way: inconclusive
    out = {("class", "knn", "reach", 0): _hits(50, 16), ("state_knn", "knn", "reach", 0): _hits(50, 20)}
    n = paired_difference(_folder(tmp_path / "near", out), "class", "state_knn", target=0.8)
    assert n.ratio.low < 0.8 < n.ratio.high and n.ratio_verdict == "inconclusive"
    # compare.md holds the pairs the claims need
    md = (folder / "compare.md").read_text()
    section = md[md.index("## Differences"):]
    assert "| dynamic | 32 | class − bc | knn | 200 | +0.0 [+0.0, +0.0] | s0 +0.0, s1 +0.0 | **inconclusive** |" in section
    assert "| class − state_knn | knn | 200 |" in section and "**meets** (≥ 0.8)" in section


def test_compare_md_pairs_cross_policies_and_training_variants(tmp_path):
    """The Differences section also holds CLASS's k-NN against BC's MLP head (CLASS Table 1 / Fig. 11:
    non-parametric vs parametric rollouts), its controls (CLASS vs the random encoder, the random
    encoder's k-NN vs BC's MLP head) and each CLASS training variant (a stage-(3) folder, collected
    beside the default) against the default, on the same episodes."""
    default = {("class", "knn", "reach", s): _hits(40, 20) for s in (0, 1)}
    default |= {("bc", p, "reach", s): _hits(40, k) for s in (0, 1) for p, k in (("knn", 18), ("mlp", 8))}
    default |= {("random_encoder", "knn", "reach", s): _hits(40, 12) for s in (0, 1)}
    hard = {("class", "knn", "reach", s): _hits(40, 30) for s in (0, 1)}
    res = tmp_path / "results"
    cells = []
    for source, outcomes, variant in (("stage2", default, ""), ("stage3-hard", hard, "hard")):
        folder = _folder(res / "stages" / source, outcomes)
        cells += [c | {"source": source, "variant": variant, "demos": 32}
                  for c in json.loads((folder / "compare.json").read_text())["cells"]]  # fmt: skip
    write_results(res, {"cells": cells})
    md = (res / "compare.md").read_text()
    section = md[md.index("## Differences"):]
    assert "| dynamic | 32 | class − bc | knn − mlp | 80 | +30.0 [" in section  # 20 vs 8 of 40 a seed
    assert "| dynamic | 32 | class − bc | knn | 80 | +5.0 [" in section
    # the controls: CLASS against the untrained encoder, and the k-NN policy's own share of the gap
    assert "| dynamic | 32 | class − random_encoder | knn | 80 | +20.0 [" in section  # 20 vs 12 of 40 a seed
    assert "| dynamic | 32 | random_encoder − bc | knn − mlp | 80 | +10.0 [" in section  # 12 vs 8
    assert "class − random_encoder | mlp" not in section  # no MLP head of the random encoder here
    assert "| dynamic | 32 | class [hard] − class | knn | 80 | +25.0 [" in section and "**class [hard] > class**" in section
    d = paired_difference(res, "class", "class", variant_a="hard", cells=cells)
    assert d.episodes == 80 and (d.successes_a, d.successes_b) == (60, 40) and d.verdict == "class [hard] > class"


def test_a_ratio_whose_denominator_can_vanish(tmp_path):
    """B with one success in 40 episodes: resamples without it make the ratio infinite; its interval
    ends are order statistics, never NaN. Neither side succeeding: the ratio is undefined."""
    out = {("class", "knn", "reach", s): _hits(20, 10) for s in (0, 1)}
    out |= {("bc", "knn", "reach", 0): _hits(20, 1), ("bc", "knn", "reach", 1): [False] * 20}
    d = paired_difference(_folder(tmp_path / "one", out), "class", "bc", target=0.8)
    assert d.ratio.estimate == 20.0 and d.ratio.high == float("inf") and 1.0 < d.ratio.low < 20.0
    assert d.ratio_verdict == "meets"
    out = {(m, "knn", "reach", s): [False] * 20 for m in ("class", "bc") for s in (0, 1)}
    z = paired_difference(_folder(tmp_path / "none", out), "class", "bc", target=0.8)
    assert np.isnan(z.ratio.estimate) and z.ratio_verdict == "inconclusive" and "undefined" in z.describe()


def test_unpaired_episodes_are_counted_once(tmp_path):
    """The state k-NN's episode, paired with every training seed, is one episode: 10 of its 30
    placements that the other side lacks are 10 unpaired episodes, not 20."""
    out = {("class", "knn", "reach", s): _hits(20, 5) for s in (0, 1)}
    out |= {("state_knn", "knn", "reach", 0): _hits(30, 10)}
    d = paired_difference(_folder(tmp_path, out), "class", "state_knn")
    assert d.episodes == 40 and d.unpaired == 10


def test_refusals_name_the_problem(tmp_path):
    out = {(m, "knn", "reach", 0): _hits(10, 3) for m in ("class", "bc")}
    folder = _folder(tmp_path, out)
    with pytest.raises(CompareError, match="no final cells of caip"):
        paired_difference(folder, "class", "caip")
    with pytest.raises(CompareError, match="no cells of dino or caip; the methods here are bc, class"):
        paired_difference(folder, "dino", "caip")
    unit = folder / "evals" / f"{unit_name('bc', 'knn', 'reach', 'dynamic', 0, 12)}.json"
    u = json.loads(unit.read_text())
    unit.write_text(json.dumps(u | {"outcomes": _hits(10, 4)}))
    with pytest.raises(CompareError, match=r"bc__knn__reach__dynamic__s0__step12.json: 4/10 episodes .* do not match"):
        paired_difference(folder, "class", "bc")
    unit.unlink()
    with pytest.raises(CompareError, match="the evaluation of this cell is not here"):
        paired_difference(folder, "class", "bc")


def test_stratified_bootstrap_keeps_each_stratum_count():
    # resampled within its stratum, the share of stratum 1 never changes: a zero-width interval
    labels = np.array([0] * 30 + [1] * 70)
    iv = bootstrap_interval(labels.astype(float), strata=labels)
    assert (iv.estimate, iv.low, iv.high) == (0.7, 0.7, 0.7)
    assert bootstrap_interval(labels.astype(float)).high > 0.7  # unstratified, it varies


def test_the_committed_stage2_numbers(capsys):
    """CLASS vs BC, k-NN, fixed camera (notebooks/paper/results): +4.3 points over the same 600
    episodes, its interval above 0, but the two training seeds differ in sign: inconclusive."""
    d = paired_difference(RESULTS, "class", "bc", camera="fixed", demos=32)
    assert d.episodes == 600 and (d.successes_a, d.successes_b) == (126, 100)
    assert d.difference.estimate == pytest.approx(26 / 600)
    assert d.per_seed[0] == pytest.approx(0.103, abs=0.001) and d.per_seed[1] == pytest.approx(-0.017, abs=0.001)
    assert 0 < d.difference.low < 0.02 and 0.07 < d.difference.high < 0.09
    assert d.verdict == "inconclusive"
    from workbench.cli import main

    assert main(["compare", "diff", str(RESULTS), "--a", "class", "--b", "state_knn", "--camera", "dynamic", "--demos", "32", "--target", "0.8"]) == 0
    printed = capsys.readouterr().out
    assert "class / state_knn   0.30" in printed and "target ≥ 0.8: misses" in printed
    assert main(["compare", "diff", str(RESULTS), "--a", "class", "--b", "bc"]) == 2
    err = capsys.readouterr().err  # the committed table holds several camera setups (dynamic, fixed, ...)
    assert "several camera setups (dynamic, fixed" in err and "); choose one with --camera" in err


def test_a_seed_short_of_placements_pairs_what_it_has(tmp_path):
    """A training seed evaluated on fewer placements (class s1: the first 25 of 50) pairs only those:
    its per-seed difference is over its 25 paired episodes, BC's other 25 are left out as unpaired,
    and the pooled difference weighs the 75 paired episodes."""
    out = {("class", "knn", "reach", 0): _hits(50, 30), ("class", "knn", "reach", 1): _hits(25, 20),
           ("bc", "knn", "reach", 0): _hits(50, 10), ("bc", "knn", "reach", 1): _hits(50, 10)}  # fmt: skip
    d = paired_difference(_folder(tmp_path, out), "class", "bc")
    assert d.episodes == 75 and d.unpaired == 25 and (d.successes_a, d.successes_b) == (50, 20)
    assert d.per_seed == {0: pytest.approx(0.4), 1: pytest.approx(10 / 25)}
    assert d.difference.estimate == pytest.approx(30 / 75) and 0 < d.difference.low < 0.4 < d.difference.high
    assert d.verdict == "class > bc"
