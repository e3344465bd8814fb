"""Simulation: metaworld recording (cameras, depth, segmentation, poses) and the Shadow hand."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.data.generate import generate_hand_episodes, generate_metaworld_episodes
from workbench.sim.metaworld import MetaworldRecorder, expert_policy, record_expert_episode
from workbench.sim.render import project_points


@pytest.fixture(scope="module")
def push_dynamic():
    return record_expert_episode("push", 3, setup="dynamic", action_noise=0.1, image_size=64, max_steps=40)


def test_shapes_and_dtypes(push_dynamic):
    ep = push_dynamic
    T = len(ep)
    assert ep.actions.shape == (T, 4) and ep.actions.dtype == np.float32
    assert ep.state.shape == (T, 39) and ep.ee_pos.shape == (T, 3) and ep.ee_quat.shape == (T, 4)
    np.testing.assert_allclose(np.linalg.norm(ep.ee_quat, axis=1), 1, atol=1e-9)
    for name, cam in ep.cameras.items():
        assert cam.rgb.load().shape == (T, 64, 64, 3) and cam.rgb.load().dtype == np.uint8
        assert cam.depth.load().dtype == np.uint16 and cam.segmentation.load().dtype == np.uint8
        assert cam.intrinsics.shape == (T, 3, 3) and cam.extrinsics.shape == (T, 4, 4)
    assert ep.cameras["scene"].setup.value == "dynamic" and ep.cameras["wrist"].setup.value == "wrist"
    assert ep.fps == pytest.approx(80.0)


def test_extrinsics_project_the_gripper_onto_its_pixels(push_dynamic):
    """K·E⁻¹ maps the end-effector onto pixels labelled 'gripper': intrinsics and extrinsics are right."""
    cam = push_dynamic.cameras["scene"]
    seg = cam.segmentation.load()
    hits = 0
    for t in range(len(push_dynamic)):
        u, v = project_points(push_dynamic.ee_pos[t][None], cam.intrinsics[t], cam.extrinsics[t])[0][:2]
        u, v = int(round(u)), int(round(v))
        hits += bool((seg[t, max(0, v - 2) : v + 3, max(0, u - 2) : u + 3] == 1).any())
    assert hits >= 0.9 * len(push_dynamic)


def test_segmentation_and_depth(push_dynamic):
    seg = push_dynamic.cameras["scene"].segmentation.load()
    assert set(np.unique(seg)) == {0, 1, 2}  # rest, gripper, puck
    d = push_dynamic.cameras["scene"].depth.load()
    valid = d[d > 0] / 1000.0
    assert valid.size > 0.2 * d.size and 0.1 < valid.min() and valid.max() < 10.0


def test_camera_setups_move_as_documented(push_dynamic):
    E = push_dynamic.cameras["scene"].extrinsics
    assert np.linalg.norm(E[-1, :3, 3] - E[0, :3, 3]) > 0.02  # dynamic moves
    with MetaworldRecorder("reach", 48) as rec:
        fixed = rec.record(expert_policy("reach"), 1, setup="fixed", max_steps=12)
        fixed2 = rec.record(expert_policy("reach"), 2, setup="fixed", max_steps=12)
        rand = rec.record(expert_policy("reach"), 1, setup="random", max_steps=12)
    Ef = fixed.cameras["scene"].extrinsics
    np.testing.assert_allclose(Ef, Ef[:1].repeat(len(Ef), 0))  # fixed within an episode
    np.testing.assert_allclose(Ef[0], fixed2.cameras["scene"].extrinsics[0])  # and across episodes
    Er = rand.cameras["scene"].extrinsics
    np.testing.assert_allclose(Er, Er[:1].repeat(len(Er), 0))
    assert not np.allclose(Er[0], Ef[0])


def test_expert_reaches_success_and_generation_is_deterministic():
    a = list(generate_metaworld_episodes(("reach",), 2, image_size=48, progress=False))
    b = list(generate_metaworld_episodes(("reach",), 2, image_size=48, progress=False))
    assert all(e.success for e in a) and all(len(e) < 100 for e in a)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.actions, y.actions)
        np.testing.assert_array_equal(x.cameras["scene"].rgb.load(), y.cameras["scene"].rgb.load())
    assert a[0].instruction and a[0].task == "reach" and a[0].camera_setup.value == "fixed"
    assert a[1].camera_setup.value == "random"


def test_hand_keypoints_in_mano_order():
    ep = next(generate_hand_episodes(1, steps=12, image_size=48, progress=False))
    kp = ep.hand_keypoints
    assert kp.shape == (12, 42, 4, 4) and ep.skeleton.num_joints == 42
    R = kp[..., :3, :3]
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1, atol=1e-9)  # the mirrored left hand stays proper
    for h in (0, 21):  # fingertips are farther from the wrist than the proximal joints
        d = np.linalg.norm(kp[:, h : h + 21, :3, 3] - kp[:, h : h + 1, :3, 3], axis=-1)
        assert (d[:, [4, 8, 12, 16, 20]] > d[:, [1, 5, 9, 13, 17]]).all()
    # the left hand mirrors a hand: its thumb is on the other side of its wrist along x
    right_thumb = kp[:, 21 + 4, 0, 3] - kp[:, 21, 0, 3]
    left_thumb = kp[:, 4, 0, 3] - kp[:, 0, 0, 3]
    assert np.sign(right_thumb.mean()) == -np.sign(left_thumb.mean())
    assert ep.cameras["ego"].rgb.load().shape == (12, 48, 48, 3)
    # the two hands stand side by side (not metres apart), the left one on the right thumb's side
    from workbench.sim.shadow_hand import HAND_SEPARATION, SUBSTEPS

    gap = kp[0, 21, :3, 3] - kp[0, 0, :3, 3]
    assert abs(np.linalg.norm(gap) - HAND_SEPARATION) < 0.01 and np.sign(gap[0]) == -np.sign(right_thumb.mean())
    # frames are 1/fps of simulated time apart
    from workbench.sim.shadow_hand import HandRecorder

    with HandRecorder(16) as rec:
        assert rec.model.opt.timestep * SUBSTEPS == pytest.approx(1.0 / ep.fps)


def test_both_wrists_travel_in_every_motion():
    """The model welds the hand to a fixed mount; the recorder's arm carries it, so each wrist
    path has a person's extent (it used to be a single point: Playback showed a dot)."""
    from workbench.sim.shadow_hand import MOTIONS

    eps = list(generate_hand_episodes(len(MOTIONS), steps=20, image_size=16, progress=False))
    assert {e.task for e in eps} == set(MOTIONS)
    for ep in eps:
        for wrist in (0, 21):
            path = ep.hand_keypoints[:, wrist, :3, 3]
            extent = np.linalg.norm(path.max(axis=0) - path.min(axis=0))
            assert 0.02 < extent < 0.3, f"{ep.task}: wrist {wrist} moves {extent:.3f} m"


def test_renderers_coexist_and_close_in_any_order():
    """Freeing one renderer must not touch another's GL buffers (contexts reuse object names)."""
    from workbench.sim.metaworld import SCENE_CAMERA, make_env, reset_env
    from workbench.sim.render import SceneRenderer

    env = make_env("reach")
    reset_env(env, 0)
    with SceneRenderer(env.model, 32, 32) as r:
        alone = r.render(env.data, SCENE_CAMERA)
    first = SceneRenderer(env.model, 32, 32)
    second = SceneRenderer(env.model, 32, 32)  # the current GL context is now the second one's
    first.close()  # used to free the second renderer's framebuffers instead of its own
    v = second.render(env.data, SCENE_CAMERA)
    second.close()
    np.testing.assert_array_equal(v.rgb, alone.rgb)
    np.testing.assert_array_equal(v.depth, alone.depth)
    np.testing.assert_array_equal(v.geom_ids, alone.geom_ids)


def test_rollout_state_only_expert_and_chunk_replanning():
    from workbench.sim.metaworld import rollout

    ep = rollout(expert_policy("reach"), "reach", 1000)  # reference protocol: 200-step cap
    assert ep.success and len(ep) < 200 and ep.cameras == {}  # stops at the first success
    calls = []

    def chunk_policy(obs):  # a chunk of 5 "go up" actions
        calls.append(obs)
        return np.tile([0.0, 0.0, 1.0, 0.0], (5, 1))

    ep = rollout(chunk_policy, "reach", 1000, max_steps=10, replan_every=3)
    assert len(ep) == 10 and len(calls) == 4  # re-plans at steps 0, 3, 6, 9
    assert not ep.success and ep.ee_pos[-1, 2] > ep.ee_pos[0, 2]


def test_rendering_does_not_change_the_noise_of_a_seed():
    from workbench.sim.metaworld import rollout

    kw = dict(max_steps=6, action_noise=0.1, setup="random", image_size=32, stop_on_success=False)
    a = rollout(expert_policy("push"), "push", 5, render=True, **kw)
    b = rollout(expert_policy("push"), "push", 5, render=False, **kw)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert set(a.cameras) == {"scene", "wrist"} and len(a.cameras["scene"]) == 6


def test_generator_placements_avoid_the_evaluation_seeds():
    ep = next(generate_metaworld_episodes(("reach",), 1, seed=1, image_size=16, max_steps=2, progress=False))
    placement = int(ep.extras["seed"][0])
    assert not (1000 <= placement < 1100 or 2000 <= placement < 2100)
    with pytest.raises(ValueError, match="episodes_per_task"):
        next(generate_metaworld_episodes(("reach",), 0, progress=False))


def test_hand_motion_families_parameters_and_camera_setups(tmp_path):
    """Five families with their parameters in the instruction; fixed cameras agree across
    episodes, random ones differ, dynamic ones move within an episode; `rotate` turns the wrist."""
    from workbench.data.generate import generate_hand_episodes
    from workbench.sim.shadow_hand import MOTIONS, MotionParams, motion_instruction

    assert set(MOTIONS) == {"grasp", "pinch", "point", "wave", "rotate"}
    assert motion_instruction(MotionParams("pinch", period=0.55, finger="middle")) == "pinch the block between thumb and middle finger quickly"
    assert motion_instruction(MotionParams("point", period=0.75)) == "point with the index finger"
    eps = list(generate_hand_episodes(15, steps=10, image_size=16, progress=False, camera_setups=("fixed", "random", "dynamic")))
    assert [e.task for e in eps[:5]] == sorted(MOTIONS)
    assert [e.camera_setup.value for e in eps] == ["fixed"] * 5 + ["random"] * 5 + ["dynamic"] * 5
    ext = [e.cameras["ego"].extrinsics for e in eps]
    np.testing.assert_allclose(ext[0][0], ext[1][0], atol=0.03)  # fixed: the same view (the palm moves a little)
    assert np.abs(ext[5][0] - ext[6][0]).max() > 0.05  # random: a new view per episode
    np.testing.assert_array_equal(ext[5][0], ext[5][-1])  # … fixed within it
    assert np.abs(ext[10][0][:3, :3] - ext[10][-1][:3, :3]).max() > 0.1  # dynamic: the view turns during it
    assert len({e.instruction for e in eps}) > 5
    # rotate turns the right wrist about the forearm far more than grasp does
    from workbench.geometry import relative_pose

    def turn(ep):
        w = ep.hand_keypoints[:, 21]  # the right wrist
        R = relative_pose(w[0], w)[:, :3, :3]
        return np.degrees(np.arccos(np.clip((np.trace(R, axis1=1, axis2=2) - 1) / 2, -1, 1))).max()

    rot = next(e for e in eps if e.task == "rotate")
    grasp = next(e for e in eps if e.task == "grasp")
    assert turn(rot) > 20 and turn(rot) > 2 * turn(grasp)
    with pytest.raises(ValueError, match="camera setup"):
        next(generate_hand_episodes(1, camera_setups=("wrist",), progress=False))
    with pytest.raises(ValueError, match="motion"):
        next(generate_hand_episodes(1, motions=("juggle",), progress=False))


def test_make_hand_dataset_writes_a_loadable_set(tmp_path):
    from workbench.data import load_dataset
    from workbench.data.shipped import make_hand_dataset

    out = make_hand_dataset(tmp_path / "hands", 3, steps=8, image_size=16, progress=False)
    ds = load_dataset(out)
    assert len(ds) == 3 and ds[0].hand_keypoints.shape == (8, 42, 4, 4)
    with pytest.raises(FileExistsError, match="exists"):
        make_hand_dataset(tmp_path / "hands", 3, steps=8, image_size=16, progress=False)


def test_make_hands_command_refuses_an_unknown_camera_setup(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "workbench.cli", "data", "make-hands", "--out", str(tmp_path / "h"),
                        "--episodes", "2", "--camera", "orbit"], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "orbit" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "h").exists()
