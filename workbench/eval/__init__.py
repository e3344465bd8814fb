"""Evaluation of trained runs: probes and zero-shot classification, cross-modal retrieval, the
k-NN retrieval policy, policy heads, and closed-loop metaworld rollouts.

``evaluate_run(run_dir, EvalConfig(...))`` runs any of them and saves each result as ``RUN/eval/<name>.json``;
``load_eval_results(run_dir)`` reads them back for the app.
"""

from __future__ import annotations

from workbench.eval.evaluate import EvalConfig, evaluate_run
from workbench.eval.head_training import HeadConfig, HeadKind, TrainedHead, load_head, train_head
from workbench.eval.knn import KNNConfig, KNNPolicy, KNNPrediction, mean_chunk_prediction, offline_error
from workbench.eval.probe import ProbeConfig, cluster_chunks, linear_probe_sweep, run_probe, zero_shot_accuracy
from workbench.eval.results import (
    EvalError,
    EvalReport,
    HeadResult,
    KNNResult,
    OfflineError,
    ProbeResult,
    RetrievalResult,
    RolloutResult,
    TaskRollout,
    load_eval_results,
    load_result,
    save_result,
)
from workbench.eval.retrieval import matching_probabilities, recall_at_k, run_retrieval

__all__ = [
    "EvalConfig",
    "EvalError",
    "EvalReport",
    "HeadConfig",
    "HeadKind",
    "HeadResult",
    "KNNConfig",
    "KNNPolicy",
    "KNNPrediction",
    "KNNResult",
    "OfflineError",
    "ProbeConfig",
    "ProbeResult",
    "RetrievalResult",
    "RolloutResult",
    "TaskRollout",
    "TrainedHead",
    "cluster_chunks",
    "evaluate_run",
    "linear_probe_sweep",
    "load_eval_results",
    "load_head",
    "load_result",
    "matching_probabilities",
    "mean_chunk_prediction",
    "offline_error",
    "recall_at_k",
    "run_probe",
    "run_retrieval",
    "save_result",
    "train_head",
    "zero_shot_accuracy",
]
