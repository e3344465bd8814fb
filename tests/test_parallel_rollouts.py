"""k-NN policy by hand, CLASS §4.4's query, and parallel rollouts equal to the serial loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.eval.batch_policies import EncoderKNN, ProprioNorm, StateKNN, class_query
from workbench.eval.knn import KNNConfig, KNNPolicy, offline_error
from workbench.eval.parallel import (
    EpisodeOutcome,
    ParallelRolloutConfig,
    check_disjoint_seeds,
    make_specs,
    outcomes_by_task,
    run_parallel_rollouts,
)
from workbench.eval.results import EvalError


def test_knn_offline_error_by_hand():
    # corpus: three 2-D embeddings with 2-step, 1-D chunks; the third chunk's second step is padding
    emb = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    chunks = np.array([[[1.0], [5.0]], [[3.0], [3.0]], [[2.0], [9.0]]])
    mask = np.array([[True, True], [True, True], [True, False]])
    pol = KNNPolicy(KNNConfig(k=2, temperature=0.5)).fit(emb, chunks, mask)
    pred = pol.predict([[2.0, 0.0]])  # cosine 1 with #0, 1/√2 with #2, 0 with #1
    # weights softmax(cos / τ): e^2 / (e^2 + e^√2) and e^√2 / (e^2 + e^√2)
    np.testing.assert_array_equal(pred.neighbours, [[0, 2]])
    np.testing.assert_allclose(pred.weights, [[0.6423977759, 0.3576022241]], atol=1e-9)
    # step 0: 1·0.642398 + 2·0.357602; step 1: only #0 is valid there, so 5
    np.testing.assert_allclose(pred.chunks, [[[1.3576022241], [5.0]]], atol=1e-6)
    err = offline_error(pred.chunks, np.array([[[2.0], [4.0]]]), np.array([[True, True]]))
    # errors -0.642398 and +1: MSE (0.412675 + 1) / 2, L1 (0.642398 + 1) / 2
    assert err.mse == pytest.approx(0.7063374512, abs=1e-6)
    assert err.l1 == pytest.approx(0.8211988879, abs=1e-6)
    assert err.num_samples == 1


def test_class_query_by_hand():
    norm = ProprioNorm(np.array([1.0]), np.array([2.0]))
    z = class_query([[3.0, 4.0]], [[2.0]], norm)  # feature -> (0.6, 0.8); proprio -> (2 - 1) / 2 = 0.5
    np.testing.assert_allclose(z, [[0.5, 0.6, 0.8]] / np.sqrt(1.25), atol=1e-12)
    np.testing.assert_allclose(class_query([[3.0, 4.0]]), [[0.6, 0.8]])  # the image-only ablation
    # two proprio dims are divided by √2 before the concatenation
    z2 = class_query([[1.0, 0.0]], [[1.0, 1.0]], ProprioNorm(np.zeros(2), np.ones(2)))
    np.testing.assert_allclose(z2, [[1 / 2, 1 / 2, 1 / np.sqrt(2), 0.0]], atol=1e-12)


def test_per_task_corpus_retrieves_only_the_tasks_samples():
    from workbench.eval.batch_policies import TaskCorpus

    z = [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]
    chunks = np.array([[[1.0]], [[2.0]], [[3.0]]])
    mask = np.ones((3, 1), bool)
    labels = ["push", "pick-place", "pick-place"]
    knn = KNNPolicy(KNNConfig(k=1, temperature=0.01))
    query = np.array([[1.0, 0.0], [1.0, 0.0]])
    pooled = TaskCorpus(knn, z, chunks, mask).predict(query, ["pick-place", "push"])
    per_task = TaskCorpus(knn, z, chunks, mask, labels).predict(query, ["pick-place", "push"])
    np.testing.assert_allclose(pooled[:, 0, 0], [1.0, 1.0])  # pooled: push's sample for both
    np.testing.assert_allclose(per_task[:, 0, 0], [2.0, 1.0])  # per task: pick-place's nearest for pick-place
    with pytest.raises(ValueError, match="no corpus samples of task 'reach'"):
        TaskCorpus(knn, z, chunks, mask, labels).predict(query[:1], ["reach"])


def test_specs_refuse_unknown_names_and_training_seeds():
    with pytest.raises(EvalError, match="unknown camera setup 'orbit'"):
        make_specs(["reach"], 2, "orbit")
    with pytest.raises(EvalError, match="unknown metaworld task 'fly'"):
        make_specs(["fly"], 2, "fixed")
    specs = make_specs(["reach"], 3, "dynamic", seed_start=2000)
    assert [s.seed for s in specs] == [2000, 2001, 2002]
    with pytest.raises(EvalError, match="training placements"):
        check_disjoint_seeds(specs, [0, 1, 2001])
    check_disjoint_seeds(specs, range(1000))


def test_outcomes_group_by_task_in_spec_order():
    specs = make_specs(["push-v3", "reach", "push"], 2, "fixed", seed_start=10)
    outcomes = [EpisodeOutcome(s, success=bool(i % 3 == 0), steps=i) for i, s in enumerate(specs)]
    groups = outcomes_by_task(outcomes)
    assert list(groups) == ["push", "reach"]  # "-v3" dropped by make_specs; first-seen order
    assert [o.steps for o in groups["push"]] == [0, 1, 4, 5] and [o.steps for o in groups["reach"]] == [2, 3]
    assert [o.success for o in groups["push"]] == [True, False, False, False]
    assert outcomes_by_task([]) == {}


class _TinyEncoder(torch.nn.Module):
    """A random (seeded) conv encoder with the methods' encode_images signature."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, stride=4), torch.nn.ReLU(), torch.nn.Flatten())

    def encode_images(self, images: torch.Tensor, texts: list[str] | None = None) -> torch.Tensor:
        return self.net(images.float() / 255.0)


@pytest.fixture(scope="module")
def reach_corpus():
    from workbench.data.chunks import action_chunks
    from workbench.data.generate import generate_metaworld_episodes

    eps = list(generate_metaworld_episodes(("reach",), 4, image_size=32, max_steps=60, camera_setups=("dynamic",), progress=False))
    images = np.concatenate([ep.cameras["scene"].rgb.load() for ep in eps])
    state = np.concatenate([ep.state for ep in eps])
    ch = [action_chunks(ep.actions, 16) for ep in eps]
    return images, state, np.concatenate([c[0] for c in ch]), np.concatenate([c[1] for c in ch]), eps


@pytest.mark.parametrize("kind", ["state", "class"])
def test_parallel_rollouts_match_serial(reach_corpus, kind):
    images, state, chunks, mask, eps = reach_corpus
    knn = KNNPolicy(KNNConfig(k=8, temperature=0.01))
    if kind == "state":
        policy = StateKNN.fit(state, chunks, mask, knn)
    else:
        enc = _TinyEncoder()
        with torch.no_grad():
            feats = enc.encode_images(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
        policy = EncoderKNN.fit(enc, feats, chunks, mask, knn, {}, proprio=state[:, :4])
    specs = make_specs(["reach"], 4, "dynamic", save_episodes=1)
    check_disjoint_seeds(specs, [int(ep.extras["seed"][0]) for ep in eps])
    cfg = dict(max_steps=80, execute=16, image_size=32)
    serial = run_parallel_rollouts(policy, specs, ParallelRolloutConfig(workers=0, **cfg))
    parallel = run_parallel_rollouts(policy, specs, ParallelRolloutConfig(workers=2, **cfg))
    assert [(o.success, o.steps) for o in serial] == [(o.success, o.steps) for o in parallel]
    assert serial[0].frames is not None and serial[0].frames.shape == (serial[0].steps + 1, 32, 32, 3)
    assert serial[1].frames is None
    if kind == "state":  # 4 demos of reach: the state k-NN solves some episodes, not all (a real signal)
        assert any(o.success for o in serial)
