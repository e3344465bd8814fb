"""CLAMP's depth + XYZ virtual views in closed loop (issue 16): a rollout computes, at every
decision, the views its encoder was trained on — the same recorded cameras, the same millimetre
depth, the same code (:func:`workbench.data.views.views_from_depth`) — and refuses a views policy
when the environment gives no depth.

The check is by construction: an episode is recorded with the generator's recorder from a known
placement seed and a fixed action sequence, written and read back as training reads it; a rollout
from the same seed replays the same actions, so at every decision step its views must equal the
views of the recorded frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.data.views import DEFAULT_VIEWS, ViewImages, episode_view_images
from workbench.eval.parallel import EpisodeSpec, ParallelRolloutConfig, make_depth_rig, run_parallel_rollouts
from workbench.eval.results import EvalError
from workbench.sim.vector_env import DepthRig, RolloutWorkers
from workbench.types import CameraStream, Episode

SEED, STEPS, EXECUTE, SIZE, SIZE2, VIEW = 2000, 24, 8, 32, 24, 16


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONLENS_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def recorded_data(tmp_path_factory) -> tuple[Episode, np.ndarray, Path]:
    """Episodes of reach from placements ``SEED`` and ``SEED + 1`` under a fixed, seeded action
    sequence (float32, so the recorded and the replayed actions are the same numbers), through
    LeRobot and back; the first is the one compared."""
    from workbench.data import load_dataset
    from workbench.data.lerobot import write_lerobot
    from workbench.sim.metaworld import MetaworldRecorder

    actions = np.random.default_rng(0).uniform(-1, 1, (STEPS, 4)).astype(np.float32)
    eps = []
    with MetaworldRecorder("reach", SIZE, second_scene_size=SIZE2) as rec:
        for j, seed in enumerate((SEED, SEED + 1)):
            step = iter(range(STEPS))
            eps.append(rec.record(lambda obs: actions[next(step)], seed, index=j, setup="fixed", max_steps=STEPS,
                                  steps_after_success=None))  # fmt: skip
    path = write_lerobot(eps, tmp_path_factory.mktemp("rec") / "ds", robot_type="sawyer")
    return load_dataset(path).episode(0), actions, Path(path)


@pytest.fixture
def recorded(recorded_data) -> tuple[Episode, np.ndarray]:
    return recorded_data[:2]


class ReplayViews:
    """A views policy that replays the recorded actions and keeps the views it is given."""

    def __init__(self, views: ViewImages, actions: np.ndarray) -> None:
        self.views, self.actions, self.seen = views, actions, []

    def __call__(self, images: np.ndarray, obs: np.ndarray, tasks) -> np.ndarray:
        t = EXECUTE * len(self.seen)
        self.seen.append(images[0])
        chunk = np.zeros((1, EXECUTE, 4), np.float32)
        part = self.actions[t : t + EXECUTE]
        chunk[0, : len(part)] = part
        return chunk


@pytest.mark.parametrize("wrist", [True, False])
def test_rollout_views_equal_the_recorded_episodes_views(recorded, wrist):
    ep, actions = recorded
    views = ViewImages(size=VIEW, wrist=wrist)
    rig = make_depth_rig(ViewImages(size=VIEW, wrist=wrist), ep)  # equal views, another object
    # every recorded depth camera, in the data's order, at the size it was recorded
    sizes = {"scene": SIZE, "wrist": SIZE, "scene2": SIZE2}
    assert rig.cameras == tuple((n, sizes[n], sizes[n]) for n in ep.cameras) and len(rig.cameras) == 3
    policy = ReplayViews(views, actions)
    out = run_parallel_rollouts(policy, [EpisodeSpec("reach", SEED, "fixed")],
                                ParallelRolloutConfig(max_steps=STEPS, execute=EXECUTE, image_size=SIZE, workers=0), rig=rig)  # fmt: skip
    assert not out[0].success and out[0].steps == STEPS  # random actions: all 24 steps, 3 decisions
    expected = episode_view_images(ep, size=VIEW, wrist=wrist, cache=False)  # (T, 4, S, V·S): what training reads
    n_views = len(DEFAULT_VIEWS.names(wrist))
    assert len(policy.seen) == STEPS // EXECUTE
    for k, got in enumerate(policy.seen):
        t = EXECUTE * k
        assert got.shape == (4, VIEW, n_views * VIEW) and got.dtype == np.float16
        np.testing.assert_array_equal(got, expected[t], err_msg=f"step {t}")
        assert (got[0] > 0).mean() > 0.2  # the views see the scene, not an empty canvas
    # the check can fail: another step's views differ (the arm moved)
    assert not np.array_equal(policy.seen[1], expected[0])


def test_rollout_refuses_a_views_policy_without_depth(recorded, tmp_path):
    from workbench.data.training_samples import FrameChunkDataset
    from workbench.eval.batch_policies import HeadPolicy
    from workbench.eval.head_training import TrainedHead
    from workbench.methods import CLAMPConfig, build_method

    ep, actions = recorded
    cfg = CLAMPConfig.preset("smoke", image_input="dxyz", view_size=VIEW, patch_size=8)
    from workbench.methods import CLAMP

    ds = FrameChunkDataset([ep], chunk_kind="raw", horizon=8, history=8, **CLAMP.loader_kwargs(cfg))
    method = build_method("clamp", cfg, ds.meta())
    policy = HeadPolicy(TrainedHead(None, method, torch.nn.Linear(1, 1), None), {})  # type: ignore[arg-type]
    assert policy.views == ViewImages(size=VIEW, wrist=True)
    spec = [EpisodeSpec("reach", SEED, "fixed")]
    rcfg = ParallelRolloutConfig(max_steps=8, execute=8, image_size=SIZE, workers=0)
    with pytest.raises(EvalError, match="reads depth \\+ XYZ virtual views.*provides no depth"):
        run_parallel_rollouts(policy, spec, rcfg)
    with RolloutWorkers(0, SIZE) as pool, pytest.raises(EvalError, match="provides no depth"):
        run_parallel_rollouts(policy, spec, rcfg, pool=pool)
    # a rig for other views (no wrist views) is refused too
    other = make_depth_rig(ViewImages(size=VIEW, wrist=False), ep)
    with pytest.raises(EvalError, match="other views than the policy's"):
        run_parallel_rollouts(policy, spec, rcfg, rig=other)
    # data without depth cannot give a rig; nor a camera the simulator cannot render with depth
    rgb_only = Episode(index=3, actions=ep.actions, source="rgb.parquet",
                       cameras={"scene": CameraStream("scene", rgb=ep.cameras["scene"].rgb.load())})  # fmt: skip
    with pytest.raises(EvalError, match="episode 3 .*no camera with depth.*cannot provide"):
        make_depth_rig(policy.views, rgb_only)
    cam = ep.cameras["scene"]
    odd = Episode(index=4, actions=ep.actions, cameras={"front": CameraStream("front", rgb=cam.rgb.load(), depth=cam.depth.load(),
                  intrinsics=cam.intrinsics, extrinsics=cam.extrinsics)})  # fmt: skip
    with pytest.raises(EvalError, match="cannot render depth for camera 'front'"):
        make_depth_rig(policy.views, odd)
    with pytest.raises(ValueError, match="cannot render depth for camera 'front'"):
        DepthRig((("front", 32, 32),), policy.views.step_image)


def test_frozen_head_rolls_out_on_the_views(recorded_data, tmp_path):
    from workbench.cli import main
    from workbench.eval.evaluate import EvalConfig, evaluate_run
    from workbench.eval.head_rollouts import rollout_frozen_head
    from workbench.eval.head_training import HeadConfig
    from workbench.train.run import load_run

    ep, _, data = recorded_data
    rc = main(["train", "clamp", "--preset", "smoke", "--run-dir", str(tmp_path / "run"), "--set", f"data.path={data}",
               "--set", "steps=2", "--set", "batch_size=4", "--set", "data.val_fraction=0.5",
               "--set", "method_config.image_input=dxyz", "--set", f"method_config.view_size={VIEW}",
               "--set", "data.horizon=8", "--set", "data.history=8"])  # fmt: skip
    assert rc == 0
    trained = load_run(tmp_path / "run")
    (train_ep,) = trained.episodes("train")
    rcfg = ParallelRolloutConfig(max_steps=16, execute=8, image_size=SIZE, workers=0)
    head = HeadConfig(steps=3)
    with pytest.raises(EvalError, match="training placements"):  # the training episode's placement
        rollout_frozen_head(trained, ["reach"], 1, head=head, rollout=rcfg, seed_start=SEED + train_ep)
    r = rollout_frozen_head(trained, ["reach"], 2, head=head, rollout=rcfg, seed_start=SEED + 2)
    assert r.reads == "views" and r.tasks == ("reach",) and r.episodes == (2,) and len(r.outcomes) == 2
    assert r.rate().n == 2 and set(r.seconds) == {"head", "rollouts"}
    # `workbench eval --head mlp --rollouts N` gives the same views to the same kind of policy
    rep = evaluate_run(tmp_path / "run", EvalConfig(probe=False, retrieval=False, knn=False, head="mlp", head_steps=3,
                                                    rollouts=1, tasks=("reach",), max_steps=16, workers=0, save_episodes=0,
                                                    seed_start=SEED + 2))  # fmt: skip
    (ro,) = rep.rollouts
    assert ro.policy == "head-mlp" and len(ro.tasks[0].successes) == 1
