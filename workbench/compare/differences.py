"""Paired differences between two rows of a comparison, with intervals and a verdict.

The runner evaluates every policy on the same episodes: evaluation seed ``s`` fixes the placement
and the rollout camera, and the seeds are the same for every method. So two methods' cells pair up
episode by episode, matched by (task, training seed, evaluation seed), and the difference of their
success rates is measured on the same episodes, free of the placement-to-placement spread that the
two Wilson intervals each carry. The state k-NN trains nothing and is evaluated once (under the
first training seed): its episodes pair with each training seed of the other method.

* ``difference`` — A − B in success rate over the paired episodes, with a percentile bootstrap
  over placements: a (task, evaluation seed) with its episodes under every training seed is drawn
  as one, within its task (:func:`workbench.stats.bootstrap_interval` with ``strata``), so the
  pooled weighting of tasks and seeds is kept and the episodes that share a placement (the same
  placement under both seeds; the state k-NN's one episode paired with both) are not counted as
  independent;
* ``per_seed`` — A − B per training seed: the episode interval says nothing about a new training
  seed, so a verdict also needs the seeds to agree;
* ``verdict`` — "A > B" / "A < B" only when the interval excludes 0 AND every training seed's
  difference has that sign, with at least two training seeds paired (one seed cannot show that the
  difference carries to another); else "inconclusive" (the README's rule: never call a difference
  inside the intervals agreement);
* ``ratio`` — A / B (summed successes) with the same bootstrap, and ``ratio_verdict`` against a
  target (CLASS Table 1's claim as issue 14 holds it: the CLASS visual k-NN reaches ≥ 80 % of the
  state k-NN): "meets" when the interval lies above it, "misses" when below, else "inconclusive".

:func:`paired_difference` reads the cells of a compare.json (a comparison folder or a collected
table) and the per-episode ``outcomes`` of their evaluation units (``evals/`` or
``stages/<source>/evals/``). ``workbench compare diff`` prints one; :func:`differences_markdown`
writes the pairs issue 14's claims need into compare.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.compare.config import RANDOM_ENCODER, STATE_KNN
from workbench.compare.units import CompareError, read_unit, unit_name
from workbench.compare.table import cell_value, varying
from workbench.stats import Interval, bootstrap_interval

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CLAIMS", "DIFFERENCES_NOTE", "Claim", "PairedDifference", "claim_differences", "differences_frame",
           "differences_markdown", "episode_outcomes", "paired_difference"]



@dataclass(frozen=True)
class Claim:
    """A pair compare.md's "Differences" section reports: A − B at every policy both have, or at
    ``policy_a`` vs ``policy_b``; ``target`` for the ratio A / B; ``variants``: each training variant
    of A (a stage-(3) folder) against A's default, instead of B."""

    a: str
    b: str
    policy_a: str | None = None
    policy_b: str | None = None
    target: float | None = None
    variants: bool = False


#: The pairs issue 14's claims rest on. CLASS Table 1: CLASS vs BC per policy, and CLASS's
#: non-parametric (k-NN) rollouts against BC's parametric ones — the pair Table 1's cells and Fig. 11
#: compare (§4.4, App. F: "CLASS with non-parametric rollouts … outperforms BC with parametric
#: rollouts"); the CLASS visual k-NN against ≥ 80 % of the state k-NN; CLASS Fig. 4 closed loop: each
#: CLASS design variant against the default. And the controls a verdict on them needs: CLASS against
#: the untrained encoder per policy (does the training add anything?), and the random encoder's k-NN
#: against BC's MLP head (how much of the non-parametric vs parametric gap is the k-NN policy's own).
CLAIMS: tuple[Claim, ...] = (Claim("class", "bc"), Claim("class", "bc", "knn", "mlp"),
                             Claim("class", STATE_KNN, "knn", "knn", 0.8), Claim("class", "class", variants=True),
                             Claim("class", RANDOM_ENCODER), Claim(RANDOM_ENCODER, "bc", "knn", "mlp"))


@dataclass(frozen=True)
class PairedDifference:
    """A − B over the same evaluation episodes (rates as fractions; see the module docstring)."""

    a: str
    b: str
    policy_a: str
    policy_b: str
    checkpoint: str
    camera_setup: str
    demos: int | None
    episodes: int  # paired episodes
    unpaired: int  # episodes of either side without a partner (left out)
    tasks: tuple[str, ...]
    successes_a: int
    successes_b: int
    difference: Interval  # A − B, bootstrap over placements (task, evaluation seed) within task
    per_seed: dict[int, float]  # A − B per training seed
    verdict: str  # "A > B", "A < B" or "inconclusive"
    ratio: Interval  # A / B (inf where a resample of B has no success)
    target: float | None = None  # the ratio's target, if the claim has one
    ratio_verdict: str = ""  # "meets", "misses", "inconclusive" ("" without a target)
    why: str = field(default="", compare=False)  # why the verdict is inconclusive
    variant_a: str = ""  # A's training variant ("" = the default)
    variant_b: str = ""

    @property
    def label_a(self) -> str:
        """A's method, with its training variant in brackets when it has one."""
        return _label(self.a, self.variant_a)

    @property
    def label_b(self) -> str:
        return _label(self.b, self.variant_b)

    @property
    def policies(self) -> str:
        """``knn``, or ``knn − mlp`` when the two sides roll out different policies."""
        return self.policy_a if self.policy_a == self.policy_b else f"{self.policy_a} − {self.policy_b}"

    def describe(self) -> str:
        """The numbers as ``workbench compare diff`` prints them."""
        a, b = self.label_a, self.label_b
        demos = "" if self.demos is None else f", {self.demos} demos"
        d, r = self.difference, self.ratio
        lines = [
            f"{a} ({self.policy_a}, {self.checkpoint}) vs {b} ({self.policy_b}, {self.checkpoint}), {self.camera_setup} camera"
            f"{demos}: {self.episodes} paired episodes ({', '.join(self.tasks)}; training seeds "
            f"{', '.join(f's{s}' for s in self.per_seed)})" + (f", {self.unpaired} unpaired left out" if self.unpaired else ""),
            f"  success        {a} {100 * self.successes_a / self.episodes:.1f} % ({self.successes_a}/{self.episodes})   "
            f"{b} {100 * self.successes_b / self.episodes:.1f} % ({self.successes_b}/{self.episodes})",
            f"  {a} − {b}   {_points(d.estimate)} points, 95 % bootstrap [{_points(d.low)}, {_points(d.high)}] "
            "(placements resampled within task)",
            "  per seed       " + ", ".join(f"s{s} {_points(v)}" for s, v in self.per_seed.items()),
            f"  verdict        {self.verdict}" + (f" ({self.why})" if self.why else ""),
            f"  {a} / {b}   {_ratio(r.estimate)}, 95 % bootstrap [{_ratio(r.low)}, {_ratio(r.high)}]"
            + ("" if self.target is None else f"; target ≥ {self.target:g}: {self.ratio_verdict}"),
        ]  # fmt: skip
        once = [m for m in (a, b) if m == STATE_KNN]
        if once and len(self.per_seed) > 1:
            lines.insert(1, f"  ({once[0]} is evaluated once: each of its episodes pairs with every training seed)")
        return "\n".join(lines)


def _label(method: str, variant: str) -> str:
    return f"{method} [{variant}]" if variant else method


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def _ratio(x: float) -> str:
    return "undefined" if np.isnan(x) else "∞" if np.isinf(x) else f"{x:.2f}"


def _unit_path(results: Path, cell: dict[str, Any]) -> Path:
    base = results / "stages" / cell["source"] if cell.get("source") else results
    name = unit_name(cell["method"], cell["policy"], cell["task"], cell["camera_setup"], int(cell["seed"]), int(cell["step"]))
    return base / "evals" / f"{name}.json"


def episode_outcomes(results: str | Path, cell: dict[str, Any]) -> dict[int, bool]:
    """The success of every episode of ``cell``, by evaluation seed, read from its evaluation unit
    in the comparison folder or collected table ``results``; a missing or inconsistent unit is a
    :class:`CompareError` naming the file."""
    path = _unit_path(Path(results), cell)
    if not path.is_file():
        raise CompareError(f"{path}: the evaluation of this cell is not here; its per-episode outcomes are needed")
    unit = read_unit(path)
    outcomes, seeds = unit.get("outcomes"), unit.get("eval_seeds")
    if outcomes is None or seeds is None:
        raise CompareError(f"{path}: records no per-episode outcomes / eval_seeds (written before they were kept)")
    if len(outcomes) != cell["episodes"] or int(sum(outcomes)) != cell["successes"] or seeds[1] - seeds[0] + 1 != len(outcomes):
        raise CompareError(f"{path}: {sum(outcomes)}/{len(outcomes)} episodes over seeds {seeds} do not match the cell's "
                           f"{cell['successes']}/{cell['episodes']}; collect the results again")  # fmt: skip
    return {int(seeds[0]) + i: bool(o) for i, o in enumerate(outcomes)}


def _only(values: Sequence[Any], what: str, flag: str) -> Any:
    if len(values) > 1:
        shown = ", ".join("?" if v is None else str(v) for v in values)
        raise CompareError(f"the cells hold several {what} ({shown}); choose one with {flag}")
    return values[0]


def _side(cells: Sequence[dict[str, Any]], method: str, policy: str, checkpoint: str, camera: str, demos: int | None,
          variant: str) -> list[dict[str, Any]]:  # fmt: skip
    sel = [c for c in cells if c["method"] == method and c["policy"] == policy and c["checkpoint"] == checkpoint
           and c["camera_setup"] == camera and cell_value(c, "demos") == demos and cell_value(c, "variant") == variant]  # fmt: skip
    if not sel:
        raise CompareError(f"no {checkpoint} cells of {method} ({policy}) under the {camera} camera"
                           + ("" if demos is None else f" with {demos} demos") + (f", variant {variant!r}" if variant else ""))
    return sel


def paired_difference(results: str | Path, a: str, b: str, *, policy: str = "knn", policy_b: str | None = None,
                      checkpoint: str = "final", camera: str | None = None, demos: int | None = None,
                      variant_a: str = "", variant_b: str = "", target: float | None = None,
                      cells: Sequence[dict[str, Any]] | None = None, resamples: int = 2000,
                      seed: int = 0) -> PairedDifference:  # fmt: skip
    """A − B (and A / B) over the episodes both were evaluated on, in the comparison folder or
    collected table ``results`` (its compare.json unless ``cells`` are given). ``camera`` and
    ``demos`` may be left out when the cells hold one; B's policy is A's unless ``policy_b`` (the
    state k-NN has only "knn")."""
    from workbench.compare.table import load_compare

    results = Path(results)
    cells = load_compare(results)["cells"] if cells is None else list(cells)
    policy_b = policy_b or (policy if b != STATE_KNN else "knn")
    both = [c for c in cells if c["method"] in (a, b)]
    if not both:
        raise CompareError(f"{results}: no cells of {a} or {b}; the methods here are "
                           f"{', '.join(sorted({c['method'] for c in cells})) or 'none'}")  # fmt: skip
    camera = camera or _only(varying(both, "camera_setup"), "camera setups", "--camera")
    if demos is None:
        demos = _only(varying([c for c in both if c["camera_setup"] == camera], "demos"), "numbers of demos", "--demos")
    ca = _side(cells, a, policy, checkpoint, camera, demos, variant_a)
    cb = _side(cells, b, policy_b, checkpoint, camera, demos, variant_b)
    ea = {(c["task"], int(c["seed"]), s): o for c in ca for s, o in episode_outcomes(results, c).items()}
    eb = {(c["task"], int(c["seed"]), s): o for c in cb for s, o in episode_outcomes(results, c).items()}
    # a side that trains nothing (the state k-NN, evaluated once) pairs with every training seed of the other
    seeds = sorted({k[1] for k in ea} | {k[1] for k in eb})
    once_a = a == STATE_KNN and len({k[1] for k in ea}) == 1
    once_b = b == STATE_KNN and len({k[1] for k in eb}) == 1
    ea0, eb0 = set(ea), set(eb)
    if once_b:
        eb = {(t, s, e): o for (t, _, e), o in eb.items() for s in {k[1] for k in ea}}
    if once_a:
        ea = {(t, s, e): o for (t, _, e), o in ea.items() for s in {k[1] for k in eb}}
    keys = sorted(set(ea) & set(eb))
    if not keys:
        raise CompareError(f"{a} and {b} share no evaluation episode (task, training seed, evaluation seed) "
                           f"under the {camera} camera; seeds {seeds}")  # fmt: skip
    # episodes evaluated on either side without a partner, each counted once (the state k-NN's
    # episode is paired if any training seed of the other side has its placement)
    paired, placed = set(keys), {(k[0], k[2]) for k in keys}
    unpaired = sum(1 for k in ea0 if ((k[0], k[2]) not in placed if once_a else k not in paired))
    unpaired += sum(1 for k in eb0 if ((k[0], k[2]) not in placed if once_b else k not in paired))
    # bootstrap unit: one placement (task, evaluation seed) with its episodes under every training
    # seed, resampled within its task. The same placement under seed 0 and seed 1 is not two
    # independent draws (its difficulty is shared, and the state k-NN's one episode serves both),
    # so the placement is what is drawn; with every placement holding every seed this keeps the
    # pooled weighting of tasks and seeds.
    seeds_here = sorted({k[1] for k in keys})
    places = sorted({(k[0], k[2]) for k in keys})
    x = np.full((len(places), len(seeds_here), 2), np.nan)  # (placement, training seed, A/B)
    pi, si = {p: i for i, p in enumerate(places)}, {s: i for i, s in enumerate(seeds_here)}
    for k in keys:
        x[pi[(k[0], k[2])], si[k[1]]] = (ea[k], eb[k])
    tasks = sorted({p[0] for p in places})
    strata = np.array([tasks.index(p[0]) for p in places])
    diff = bootstrap_interval(x, _difference_of, resamples=resamples, seed=seed, strata=strata)
    # a resample where B has no success has an infinite ratio: the ends are order statistics (no
    # interpolation next to ∞); where neither side succeeds the ratio is undefined (NaN)
    ratio = bootstrap_interval(x, _ratio_of, resamples=resamples, seed=seed, strata=strata, method="inverted_cdf")
    per_seed = {int(s): float(np.nanmean(x[:, j, 0]) - np.nanmean(x[:, j, 1])) for s, j in si.items()}
    verdict, why = _verdict(_label(a, variant_a), _label(b, variant_b), diff, per_seed)
    ratio_verdict = "" if target is None else ("meets" if ratio.low > target else "misses" if ratio.high < target
                                               else "inconclusive")  # fmt: skip
    return PairedDifference(a, b, policy, policy_b, checkpoint, camera, demos, len(keys), unpaired, tuple(tasks),
                            int(np.nansum(x[..., 0])), int(np.nansum(x[..., 1])), diff, per_seed, verdict, ratio, target,
                            ratio_verdict, why, variant_a, variant_b)  # fmt: skip


def _difference_of(v: np.ndarray) -> float:  # v: (placements, seeds, 2), NaN where a seed lacks the placement
    return float(np.nanmean(v[..., 0]) - np.nanmean(v[..., 1]))


def _ratio_of(v: np.ndarray) -> float:
    a, b = np.nansum(v[..., 0]), np.nansum(v[..., 1])
    return float(a / b) if b > 0 else float("inf") if a > 0 else float("nan")


def _verdict(a: str, b: str, diff: Interval, per_seed: dict[int, float]) -> tuple[str, str]:
    signs = {int(np.sign(v)) for v in per_seed.values()}
    if len(per_seed) < 2:
        return "inconclusive", "one training seed: whether the difference carries to another is not measured"
    if diff.low > 0 or diff.high < 0:
        sign = 1 if diff.low > 0 else -1
        if signs == {sign}:
            return (f"{a} > {b}" if sign > 0 else f"{a} < {b}"), ""
        return "inconclusive", "the episode interval excludes 0 but the training seeds differ in sign"
    return "inconclusive", "the episode interval holds 0"


def _pairs(cells: Sequence[dict[str, Any]], claim: Claim) -> list[tuple[str, str, str, str]]:
    """(variant A, variant B, policy A, policy B) of ``claim`` that ``cells`` hold."""

    def policies(method: str, variant: str) -> set[str]:
        return {c["policy"] for c in cells if c["method"] == method and cell_value(c, "variant") == variant}

    if claim.variants:
        variants = sorted({cell_value(c, "variant") for c in cells if c["method"] == claim.a} - {""})
        return [(v, "", p, p) for v in variants for p in sorted(policies(claim.a, v) & policies(claim.b, ""))]
    pa, pb = policies(claim.a, ""), policies(claim.b, "")
    if claim.policy_a is not None:
        return [("", "", claim.policy_a, claim.policy_b or claim.policy_a)] if claim.policy_a in pa and (
            claim.policy_b or claim.policy_a) in pb else []  # fmt: skip
    return [("", "", p, p) for p in sorted(pa & pb)]


def claim_differences(results: str | Path, cells: Sequence[dict[str, Any]],
                      claims: Sequence[Claim] = CLAIMS) -> list[PairedDifference]:  # fmt: skip
    """Each :class:`Claim` of ``claims`` at the final checkpoint, per camera setup and number of
    demos the cells hold and per policy both sides have (or the claim's policies; each training
    variant against the default); a pair whose per-episode outcomes are not at hand is left out."""
    out = []
    for camera in varying(cells, "camera_setup"):
        at = [c for c in cells if c["camera_setup"] == camera and c["checkpoint"] == "final"]
        for demos in varying(at, "demos"):
            here = [c for c in at if cell_value(c, "demos") == demos]
            for claim in claims:
                for va, vb, pol_a, pol_b in _pairs(here, claim):
                    try:
                        out.append(paired_difference(results, claim.a, claim.b, policy=pol_a, policy_b=pol_b,
                                                     camera=camera, demos=demos, variant_a=va, variant_b=vb,
                                                     target=claim.target, cells=here))  # fmt: skip
                    except CompareError:
                        continue
    return out


def differences_frame(diffs: Sequence[PairedDifference]) -> pd.DataFrame:
    """One row a pair, as compare.md and the Compare page show them (points and ratios as text)."""
    import pandas as pd

    rows = []
    for d in diffs:
        dd, r = d.difference, d.ratio
        rows.append({
            "camera": d.camera_setup, "demos": "?" if d.demos is None else d.demos, "A − B": f"{d.label_a} − {d.label_b}",
            "policy": d.policies, "paired episodes": d.episodes,
            "A − B, points [95 % bootstrap]": f"{_points(dd.estimate)} [{_points(dd.low)}, {_points(dd.high)}]",
            "per training seed": ", ".join(f"s{s} {_points(v)}" for s, v in d.per_seed.items()), "verdict": d.verdict,
            "A / B [95 %]": f"{_ratio(r.estimate)} [{_ratio(r.low)}, {_ratio(r.high)}]",
            "target": "–" if d.target is None else f"{d.ratio_verdict} (≥ {d.target:g})",
        })  # fmt: skip
    return pd.DataFrame(rows)


#: How to read the Differences table (compare.md and the Compare page).
DIFFERENCES_NOTE = (
    "Episodes are matched by task, training seed and evaluation seed (the state k-NN, evaluated once, pairs with "
    "every training seed); the bootstrap resamples placements (a task's evaluation seed, with its episodes under "
    "every training seed) within task. 'A > B' / 'A < B' only when the interval excludes 0 and every training "
    "seed's difference (two or more) has the same sign; a ratio 'meets' its target when its interval lies above "
    "it, 'misses' when below. `workbench compare diff` prints any pair.")  # fmt: skip


def differences_markdown(results: str | Path, cells: Sequence[dict[str, Any]], claims: Sequence[Claim] = CLAIMS) -> str:
    """The "Differences" section of compare.md: :func:`claim_differences` as a table, verdicts in
    bold; empty when no pair is present."""
    diffs = claim_differences(results, cells, claims)
    t = differences_frame(diffs)
    if t.empty:
        return ""
    t["verdict"] = [f"**{d.verdict}**" for d in diffs]
    t["target"] = ["–" if d.target is None else f"**{d.ratio_verdict}** (≥ {d.target:g})" for d in diffs]
    head = ["## Differences (final checkpoint, paired over the same episodes)", "",
            "| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]  # fmt: skip
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return "\n".join([*head, *rows, "", DIFFERENCES_NOTE, ""])
