"""Cross-modal retrieval Recall@k (CLAMP App. B, Fig. 7) and SigLIP matching probabilities (Fig. 8).

Query ``i`` of one modality and key ``i`` of another come from the same sample. Recall@k is the
share of queries with a correct key among their k most cosine-similar keys. "Correct" is the
paired key by default; with text, many samples share one string (every frame of an episode has
the same instruction), so any key whose text equals the query's pair counts as correct — the
retrieval cannot tell them apart and should not be penalised for picking one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from workbench.eval.features import Features
from workbench.eval.results import RetrievalResult

__all__ = ["matching_probabilities", "modality_pairs", "recall_at_k", "run_retrieval", "same_text_positives"]

DEFAULT_KS = (1, 5, 10)


def recall_at_k(query: npt.NDArray, keys: npt.NDArray, ks: Sequence[int] = DEFAULT_KS,
                positives: npt.NDArray[np.bool_] | None = None) -> dict[int, float]:
    """Recall@k of ``query`` (Nq, C) against ``keys`` (Nk, C) by cosine similarity.

    ``positives`` (Nq, Nk) marks correct keys; by default key i is the one correct key of query i.
    Ties are broken towards the lower key index (a stable sort), so equal scores never inflate recall.
    """
    q = np.asarray(query, dtype=np.float64)
    k_ = np.asarray(keys, dtype=np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    k_ = k_ / np.maximum(np.linalg.norm(k_, axis=1, keepdims=True), 1e-12)
    if positives is None:
        if len(q) != len(k_):
            raise ValueError(f"paired retrieval needs as many queries as keys, got {len(q)} and {len(k_)}")
        positives = np.eye(len(q), dtype=bool)
    positives = np.asarray(positives, dtype=bool)
    if positives.shape != (len(q), len(k_)):
        raise ValueError(f"positives must be {(len(q), len(k_))}, got {positives.shape}")
    order = np.argsort(-(q @ k_.T), axis=1, kind="stable")  # (Nq, Nk) best first
    hit = np.take_along_axis(positives, order, axis=1)  # (Nq, Nk)
    first = np.where(hit.any(1), hit.argmax(1), len(k_))  # rank of the first correct key
    return {int(k): float(np.mean(first < k)) for k in ks}


def same_text_positives(texts_query: Sequence[str], texts_key: Sequence[str]) -> npt.NDArray[np.bool_]:
    """(Nq, Nk): True where two samples carry the same text."""
    uniq = {t: i for i, t in enumerate(dict.fromkeys([*texts_query, *texts_key]))}
    a = np.array([uniq[t] for t in texts_query])
    b = np.array([uniq[t] for t in texts_key])
    return a[:, None] == b[None, :]


def matching_probabilities(x: npt.NDArray, y: npt.NDArray, temperature: float, bias: float) -> npt.NDArray[np.float64]:
    """SigLIP pairwise matching probabilities sigmoid(t · x yᵀ + b) (CLAMP Fig. 8), (n, n)."""
    logits = float(temperature) * (np.asarray(x, dtype=np.float64) @ np.asarray(y, dtype=np.float64).T) + float(bias)
    return 1.0 / (1.0 + np.exp(-logits))


def modality_pairs(features: Features) -> list[tuple[str, str]]:
    """Every ordered pair of the modalities the method embeds in one space."""
    mods = ["image"] + [m for m in ("action", "text") if getattr(features, m) is not None]
    return [(a, b) for a in mods for b in mods if a != b]


def _siglip_params(method: object) -> tuple[float | None, float | None]:
    loss = getattr(method, "loss_fn", None)
    t, b = getattr(loss, "temperature", None), getattr(loss, "bias", None)
    if t is None or b is None:
        return None, None
    return float(t.detach().cpu()), float(b.detach().cpu())


def run_retrieval(method_name: str, method: object, features: Features, *, ks: Sequence[int] = DEFAULT_KS,
                  matching_size: int = 16, seed: int = 0) -> RetrievalResult:
    """Recall@k for every modality pair on held-out ``features`` and Fig. 8's matrix per pair."""
    pairs = modality_pairs(features)
    n = len(features.image)
    recall: dict[str, dict[str, float]] = {}
    for a, b in pairs:
        pos = same_text_positives(features.texts, features.texts) if "text" in (a, b) else None
        r = recall_at_k(getattr(features, a), getattr(features, b), ks, pos)
        recall[f"{a}->{b}"] = {str(k): v for k, v in r.items()}
    t, bias = _siglip_params(method)
    matching: dict[str, list[list[float]]] = {}
    if t is not None and pairs:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=min(matching_size, n), replace=False))
        for a, b in pairs:
            if a < b:  # the matrix of (b, a) is the transpose
                m = matching_probabilities(getattr(features, a)[idx], getattr(features, b)[idx], t, bias)
                matching[f"{a}-{b}"] = m.tolist()
    notes = "" if pairs else f"{method_name} embeds images only: no cross-modal retrieval"
    if features.action_source == "history":
        notes = "action = the action-history embedding (CLAMP §III-B)"
    return RetrievalResult(method=method_name, num_samples=n, ks=tuple(int(k) for k in ks), recall=recall,
                           matching=matching, temperature=t, bias=bias, notes=notes)  # fmt: skip
