"""CLAMP in 3-D: the depth + XYZ virtual-view variant and its Table III ablations train (the loss
falls on data with structure to learn), save/load, and the CLI runs it; the text carries each
object's name and normalised position (CLAMP §III-B).

The data: a table top with a 20 cm box whose place differs per episode (on a circle); the gripper
moves towards the box. So the views (where the box is), the action history (which way the gripper
goes) and the text (the box's position) all identify the episode.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_methods import BATCH, _train

from workbench.data.training_samples import FrameChunkDataset, collate
from workbench.data.normalize import compute_norm_stats
from workbench.geometry import intrinsics_from_fovy, look_at
from workbench.methods import CLAMP, CLAMPConfig, build_method, load_method, make_clamp_text
from workbench.pointcloud import render_points
from workbench.types import CameraStream, Episode

HORIZON, STEPS, VIEW = 8, 500, 16  # BATCH (16) and _train: test_methods'


@pytest.fixture(autouse=True)
def _setup(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONLENS_CACHE", str(tmp_path / "cache"))  # the view cache, per test
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _surface(lo, hi, n) -> np.ndarray:
    g = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
    pts = []
    for ax in range(3):
        for v in (lo[ax], hi[ax]):
            o = [i for i in range(3) if i != ax]
            a, b = np.meshgrid(g[o[0]], g[o[1]], indexing="ij")
            p = np.zeros((a.size, 3))
            p[:, ax], p[:, o[0]], p[:, o[1]] = v, a.ravel(), b.ravel()
            pts.append(p)
    return np.concatenate(pts)


def box_episodes(n: int = 8, T: int = 20, size: int = 32) -> list[Episode]:
    K = intrinsics_from_fovy(60.0, size, size)
    g = np.linspace(-0.5, 0.5, 120)
    a, b = np.meshgrid(g, 0.6 * g + 0.65, indexing="ij")
    table = np.stack([a.ravel(), b.ravel(), np.zeros(a.size)], 1)
    eps = []
    for i in range(n):
        theta = 2 * math.pi * i / n
        box = np.array([0.3 * math.cos(theta), 0.65 + 0.2 * math.sin(theta), 0.1])
        scene = np.concatenate([table, _surface(box - 0.1, box + 0.1, 30)])
        cams = {}
        for name, eye in (("scene", (0.0, -0.1, 0.9)), ("scene2", (0.3, 1.3, 0.8))):
            E = look_at(np.array(eye), np.array([0.0, 0.65, 0.0]))
            d = np.rint(render_points(scene, K, E, size).depth * 1000).astype(np.uint16)
            cams[name] = CameraStream(name=name, rgb=np.zeros((T, size, size, 3), np.uint8), depth=np.repeat(d[None], T, 0),
                                      intrinsics=np.repeat(K[None], T, 0), extrinsics=np.repeat(E[None], T, 0))  # fmt: skip
        t = np.arange(T)
        direction = (box[:2] - [0.0, 0.65]) / np.linalg.norm(box[:2] - [0.0, 0.65])
        actions = np.stack([np.full(T, direction[0]), np.full(T, direction[1]), np.sin(2 * math.pi * t / T),
                            (t > T // 2).astype(float)], 1).astype(np.float32)  # fmt: skip
        # the gripper starts 25 cm short of the box and closes in on it
        ee = np.r_[box[:2] - 0.25 * direction, 0.3] + np.cumsum(0.01 * np.c_[actions[:, :2], np.zeros(T)], axis=0)
        eps.append(Episode(index=i, actions=actions, cameras=cams, ee_pos=ee,
                           ee_quat=np.tile([0.0, 0.7071, 0.0, 0.7071], (T, 1)), instruction="push the box",
                           task=("push", "reach")[i % 2], source="synthetic boxes",
                           objects=("box", "goal"), extras={"object.0": np.repeat(box[None], T, 0),
                                                            "object.1": np.repeat([[0.0, 0.9, 0.0]], T, 0)}))  # fmt: skip
    return eps


def _dataset(config: CLAMPConfig, eps: list[Episode] | None = None) -> FrameChunkDataset:
    eps = eps or box_episodes()
    base = FrameChunkDataset(eps, chunk_kind="raw", horizon=HORIZON)
    return FrameChunkDataset(eps, chunk_kind="raw", horizon=HORIZON, history=HORIZON,
                             norm_stats=compute_norm_stats(base.chunks.values, base.chunks.mask), **CLAMP.loader_kwargs(config))  # fmt: skip


VARIANTS = {
    "string": {},
    "without_string": {"positions": "learned"},
    "without_wrist": {"wrist_views": False},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_dxyz_variants_learn(variant):
    cfg = CLAMPConfig.preset("smoke", image_input="dxyz", view_size=VIEW, patch_size=4, **VARIANTS[variant])
    ds = _dataset(cfg)
    views = 3 if variant == "without_wrist" else 5
    item = ds[3]
    assert item["image"].shape == (4, VIEW, views * VIEW) and item["image"].dtype == torch.float16
    assert ds.meta().image_size == VIEW and ds.meta().image_channels == 4
    torch.manual_seed(0)
    m = build_method("clamp", cfg, ds.meta())
    assert (m.vision.pos is None) == (variant != "without_string")
    # Only a few patches differ between episodes (the box, the wrist views' viewpoint), so the
    # embeddings start nearly equal and SigLIP first sits at the bias-only loss for ~250 steps
    # (measured: it leaves it between steps 240 and 320 for all three variants, then falls to
    # 0.59–0.74 of it by step 500). Steps are cheap (~40 ms); 500 leave a wide margin.
    losses = _train(m, ds, steps=STEPS, lr=3e-3)
    last = np.mean(losses[-20:])
    assert np.isfinite(losses).all()
    # below what SigLIP's bias alone reaches (every logit equal): embeddings pick out their pairs
    p = 1.0 / BATCH
    bias_only = -BATCH * (p * math.log(p) + (1 - p) * math.log(1 - p))
    assert last < 0.85 * bias_only, f"loss {last:.3f} vs bias-only {bias_only:.3f}"


def test_dxyz_save_load_and_wrong_images(tmp_path):
    cfg = CLAMPConfig.preset("smoke", image_input="dxyz", view_size=VIEW, patch_size=4)
    ds = _dataset(cfg, box_episodes(n=2, T=6))
    torch.manual_seed(0)
    m = build_method("clamp", cfg, ds.meta()).eval()
    m2 = load_method(m.save(tmp_path / "clamp3d.safetensors"))
    batch = collate([ds[i] for i in range(4)])
    with torch.no_grad():
        assert torch.equal(m.encode_images(batch["image"]), m2.encode_images(batch["image"]))
    rgb = FrameChunkDataset(box_episodes(n=2, T=6), chunk_kind="raw", horizon=HORIZON, history=HORIZON)
    with pytest.raises(ValueError, match="depth \\+ XYZ views"):
        build_method("clamp", cfg, rgb.meta())


def test_text_names_each_object_with_its_normalised_position():
    ep = box_episodes(n=1, T=4)[0]  # box at (0.3, 0.65, 0.1); goal at (0, 0.9, 0)
    # workspace x ∈ [-0.6, 0.6], y ∈ [0.2, 1.1], z ∈ [-0.02, 0.6] → whole percentages
    assert make_clamp_text(ep, 2) == "push the box. box at x 75 y 50 z 19. goal at x 50 y 78 z 3. progress 50"


def test_cli_smoke_trains_the_3d_variant(tmp_path):
    from workbench.cli import main
    from workbench.data.lerobot import write_lerobot

    data = tmp_path / "boxes"
    write_lerobot(box_episodes(n=4, T=12), data, robot_type="synthetic")
    rc = main(["train", "clamp", "--preset", "smoke", "--run-dir", str(tmp_path / "run"), "--set", f"data.path={data}",
               "--set", "data.chunk_kind=raw", "--set", "steps=3", "--set", "batch_size=4",
               "--set", "method_config.image_input=dxyz", "--set", "method_config.view_size=16",
               "--set", "method_config.patch_size=4", "--set", "data.horizon=4", "--set", "data.history=4"])  # fmt: skip
    assert rc == 0
    assert list((tmp_path / "cache" / "views").glob("*.npz"))  # the views were cached by content


# --- App. B example selection and intervals ------------------------------------------------------


def test_app_b_selection_keeps_one_example_per_task_step_and_cell():
    from workbench.eval.appb import select_app_b

    lo, hi = (0.0, 0.0, 0.0), (0.9, 0.9, 1.0)
    tasks = ["a", "a", "a", "a", "b", "a", "a"]
    times = [0, 10, 0, 0, 0, 5, 20]
    pos = np.array([[0.1, 0.1], [0.1, 0.1], [0.2, 0.2], [0.5, 0.1], [0.1, 0.1], [0.5, 0.5], [np.nan, 0.1]])
    # 0: kept; 1: other step, kept; 2: same task, step and cell as 0; 3: new cell; 4: other task;
    # 5: step not a multiple of 10; 6: no position
    np.testing.assert_array_equal(select_app_b(tasks, times, pos, lo=lo, hi=hi), [0, 1, 3, 4])
    # positions outside the box fall in the border cells
    assert len(select_app_b(["a", "a"], [0, 0], np.array([[-5.0, 0.1], [0.05, 0.1]]), lo=lo, hi=hi)) == 1


def test_recall_interval_is_wilson():
    from workbench.eval.appb import recall_with_intervals
    from workbench.stats import wilson_interval

    x = np.eye(8)
    y = x.copy()
    y[[0, 1]] = y[[1, 0]]  # queries 0 and 1 now find each other's key first: 6 of 8 hit at k = 1
    r = recall_with_intervals(x, y, k=1)
    assert r.estimate == 6 / 8 and r.n == 8
    assert (r.low, r.high) == (wilson_interval(6, 8).low, wilson_interval(6, 8).high)


# --- the generator records what CLAMP needs -------------------------------------------------------


def test_generator_records_second_scene_camera_and_objects(tmp_path):
    from workbench.data import load_dataset
    from workbench.data.lerobot import write_lerobot
    from workbench.data.views import scene_point_cloud
    from workbench.sim.metaworld import MetaworldRecorder, expert_policy

    with MetaworldRecorder("push", 32, second_scene_size=24) as rec:
        ep = rec.record(expert_policy("push"), 10_000, max_steps=4)
    assert list(ep.cameras) == ["scene", "wrist", "scene2"]
    s2 = ep.cameras["scene2"]
    assert s2.depth.load().shape == (4, 24, 24) and s2.segmentation is None and s2.extrinsics.shape == (4, 4, 4)
    assert ep.objects == ("puck", "goal")
    np.testing.assert_allclose(ep.extras["object.0"], ep.state[:, 4:7], atol=1e-6)
    np.testing.assert_allclose(ep.extras["object.1"], ep.state[:, 36:39], atol=1e-6)
    # the two scene cameras look from opposite corners: together they cover more of the table
    from workbench.data.views import ViewConfig

    one = scene_point_cloud(ep, 0, ViewConfig(source_cameras=("scene",)))
    both = scene_point_cloud(ep, 0, ViewConfig(source_cameras=("scene", "scene2")))
    assert len(both) > 1.2 * len(one)
    write_lerobot([ep], tmp_path / "ds", robot_type="sawyer")
    back = load_dataset(tmp_path / "ds").episode(0)
    assert back.objects == ("puck", "goal") and back.cameras["scene2"].depth.load().shape == (4, 24, 24)
    assert make_clamp_text(back, 2).startswith("push the puck to the goal. puck at x ")
