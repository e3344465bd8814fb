"""Scene point clouds and CLAMP's virtual depth + XYZ views (CLAMP §III-B, App. C): synthetic scenes
with known answers (a plane at a known distance, a cube), then the shipped metaworld samples."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from workbench.geometry import intrinsics_from_fovy, look_at, project_points
from workbench.pointcloud import crop_to_box, merge_depth_clouds, render_points, voxel_downsample
from workbench.types import CameraStream, DataError, Episode

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples" / "metaworld"


def _plane_depth(h: float, size: int) -> np.ndarray:
    """Depth of the plane z = 0 seen straight down from height h: every pixel reads h."""
    return np.full((size, size), h)


def test_plane_at_known_distance_backprojects_onto_the_plane():
    size, h = 48, 0.8
    K = intrinsics_from_fovy(60.0, size, size)
    E = look_at(np.array([0.1, 0.2, h]), np.array([0.1, 0.2, 0.0]), np.array([0.0, 1.0, 0.0]))
    pts = merge_depth_clouds([_plane_depth(h, size)], [K], [E])
    assert pts.shape == (size * size, 3)
    np.testing.assert_allclose(pts[:, 2], 0.0, atol=1e-12)
    # the footprint of a 60° square frustum at 0.8 m: half-width h·tan(30°) (pixel centres inside)
    half = h * np.tan(np.deg2rad(30.0))
    assert np.abs(pts[:, 0] - 0.1).max() == pytest.approx(half * (size - 1) / size, rel=1e-9)
    # two cameras see the same plane: the merged cloud is the union, still on the plane
    E2 = look_at(np.array([0.5, 0.2, 1.0]), np.array([0.5, 0.2, 0.0]), np.array([0.0, 1.0, 0.0]))
    both = merge_depth_clouds([_plane_depth(h, size), _plane_depth(1.0, size)], [K, K], [E, E2])
    assert len(both) == 2 * size * size and np.abs(both[:, 2]).max() < 1e-12
    # readings beyond max_depth are dropped
    assert len(merge_depth_clouds([_plane_depth(h, size), _plane_depth(1.0, size)], [K, K], [E, E2], max_depth=0.9)) == size * size


def test_crop_and_voxel_downsample_known_answers():
    pts = np.array([[0.01, 0.01, 0.01], [0.03, 0.01, 0.01], [0.11, 0.0, 0.0], [0.5, 0.5, 0.5]])
    inside = crop_to_box(pts, (0, 0, 0), (0.2, 0.2, 0.2))
    assert len(inside) == 3
    vox = voxel_downsample(inside, 0.1)
    np.testing.assert_allclose(vox, [[0.02, 0.01, 0.01], [0.11, 0.0, 0.0]])
    # a dense cube of 1 mm points collapses to exactly one point per occupied 1 cm voxel
    g = (np.arange(20) + 0.5) / 1000.0  # 2 cm of 1 mm samples per axis
    cube = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    v = voxel_downsample(cube, 0.01)
    assert len(v) == 8
    np.testing.assert_allclose(np.sort(np.unique(v[:, 0])), [0.005, 0.015], atol=1e-12)
    with pytest.raises(ValueError, match="lo < hi"):
        crop_to_box(pts, (0, 0, 0), (0, 1, 1))


def _cube_surface(centre: np.ndarray, side: float, n: int = 80) -> np.ndarray:
    g = np.linspace(-side / 2, side / 2, n)
    a, b = np.meshgrid(g, g, indexing="ij")
    a, b = a.ravel(), b.ravel()
    faces = []
    for ax in range(3):
        for s in (-side / 2, side / 2):
            f = np.zeros((len(a), 3))
            f[:, ax] = s
            f[:, (ax + 1) % 3], f[:, (ax + 2) % 3] = a, b
            faces.append(f)
    return np.concatenate(faces) + centre


def test_render_cube_depth_is_the_front_face_and_every_pixel_projects_back():
    size, side = 64, 0.2
    centre = np.array([0.0, 0.0, 0.1])
    cube = _cube_surface(centre, side)
    K = intrinsics_from_fovy(40.0, size, size)
    E = look_at(np.array([0.0, 0.0, 1.0]), centre, np.array([0.0, 1.0, 0.0]))  # straight down
    r = render_points(cube, K, E, size)
    c = (size - 1) // 2
    # the z-buffer keeps the top face (z = 0.2), 0.8 m from the camera, not the bottom at 1.0 m
    assert r.valid[c, c] and r.depth[c, c] == pytest.approx(0.8, abs=1e-6)
    assert r.xyz[c, c, 2] == pytest.approx(0.2, abs=1e-6)
    # the cube's top face spans ±0.1 m at 0.8 m: tan⁻¹(0.125) vs the 20° half field of view
    f = K[0, 0]
    half_px = 0.1 / 0.8 * f
    row = np.flatnonzero(r.valid[c])
    assert row.min() == pytest.approx(c - half_px, abs=1.0) and row.max() == pytest.approx(c + half_px, abs=1.5)
    assert not r.valid[0, 0]  # nothing outside the cube
    v, u = np.nonzero(r.valid)
    proj = project_points(r.xyz[v, u], K, E)
    assert np.abs(proj[:, 0] - u).max() <= 0.5 + 1e-4 and np.abs(proj[:, 1] - v).max() <= 0.5 + 1e-4
    np.testing.assert_allclose(proj[:, 2], r.depth[v, u], atol=1e-6)


def test_zbuffer_keeps_the_nearest_point_and_drops_points_behind():
    K = intrinsics_from_fovy(60.0, 9, 9)
    E = np.eye(4)
    pts = np.array([[0, 0, 2.0], [0, 0, 1.0], [0, 0, 3.0], [0, 0, -1.0]])
    r = render_points(pts, K, E, 9)
    assert r.valid.sum() == 1 and r.depth[4, 4] == pytest.approx(1.0)
    # the order of the points does not matter
    r2 = render_points(pts[::-1], K, E, 9)
    np.testing.assert_array_equal(r.depth, r2.depth)


# --- virtual views --------------------------------------------------------------------------------


def _table_episode(T: int = 3, size: int = 48) -> Episode:
    """Two scene cameras over a table top (z = 0) with a 10 cm box on it, rendered analytically."""
    g = np.linspace(-0.5, 0.5, 200)
    a, b = np.meshgrid(g, g * 0.6 + 0.65, indexing="ij")
    table = np.stack([a.ravel(), b.ravel(), np.zeros(a.size)], 1)
    scene = np.concatenate([table, _cube_surface(np.array([0.0, 0.65, 0.05]), 0.1, 40)])
    K = intrinsics_from_fovy(60.0, size, size)
    cams = {}
    for name, eye in (("scene", (0.0, -0.1, 0.9)), ("scene2", (0.3, 1.3, 0.8))):
        E = look_at(np.array(eye), np.array([0.0, 0.65, 0.0]))
        d = render_points(scene, K, E, size).depth
        cams[name] = CameraStream(name=name, rgb=np.zeros((T, size, size, 3), np.uint8),
                                  depth=np.repeat(np.rint(d * 1000).astype(np.uint16)[None], T, 0),
                                  intrinsics=np.repeat(K[None], T, 0), extrinsics=np.repeat(E[None], T, 0))  # fmt: skip
    quat = np.tile([0.0, 0.7071, 0.0, 0.7071], (T, 1))  # hand x down, z along world +x (as the Sawyer's)
    return Episode(index=7, actions=np.zeros((T, 4)), cameras=cams, ee_pos=np.tile([0.0, 0.6, 0.15], (T, 1)),
                   ee_quat=quat, task="push", source="synthetic table")  # fmt: skip


def test_virtual_views_interface_and_pixel_consistency():
    from workbench.data.views import tile_views, virtual_views

    ep = _table_episode()
    vv = virtual_views(ep, 1, size=32)
    assert vv.names == ["overhead", "front_left", "back_right", "wrist_left", "wrist_right"]
    assert vv.dxyz.shape == (5, 32, 32, 4) and vv.dxyz.dtype == np.float32
    assert vv.valid.shape == (5, 32, 32) and vv.valid.dtype == bool
    assert vv.intrinsics.shape == (5, 3, 3) and vv.cam_to_world.shape == (5, 4, 4)
    assert vv.valid.mean(axis=(1, 2)).min() > 0.05  # every view sees part of the table
    assert np.all(vv.dxyz[~vv.valid] == 0)  # empty pixels are marked and hold zeros
    px, dz = vv.pixel_check()
    assert px <= 0.5 + 1e-3 and dz < 1e-5
    # the overhead camera looks straight down: its centre sees the box top (z = 0.1 m)
    assert vv.dxyz[0, 15:17, 15:17, 3].max() == pytest.approx(0.1, abs=0.01)
    # OpenCV: +z forward (down for the overhead view), +y down in the image
    assert vv.cam_to_world[0, 2, 2] == pytest.approx(-1.0)
    assert vv.tiled().shape == (32, 160, 4)
    np.testing.assert_array_equal(vv.tiled()[:, 64:96], vv.dxyz[2])
    assert tile_views(vv.valid, channels=False).shape == (32, 160)
    no_wrist = virtual_views(ep, 1, size=32, wrist=False)
    assert no_wrist.names == ["overhead", "front_left", "back_right"]
    np.testing.assert_array_equal(no_wrist.dxyz, vv.dxyz[:3])


def test_wrist_views_follow_the_gripper():
    from workbench.data.views import virtual_views

    ep = _table_episode()
    ep.ee_pos = ep.ee_pos.copy()
    ep.ee_pos[2] += [0.1, 0.05, 0.0]
    a, b = virtual_views(ep, 1, size=24), virtual_views(ep, 2, size=24)
    np.testing.assert_allclose(b.cam_to_world[3:, :3, 3] - a.cam_to_world[3:, :3, 3], [[0.1, 0.05, 0.0]] * 2, atol=1e-9)
    np.testing.assert_array_equal(a.cam_to_world[:3], b.cam_to_world[:3])


@pytest.mark.parametrize("damage", ["missing", "all_invalid", "outside"])
def test_missing_or_invalid_depth_names_episode_and_step(damage):
    from workbench.data.views import virtual_views

    ep = _table_episode()
    for cam in ep.cameras.values():
        if damage == "missing":
            cam.depth = None
        elif damage == "all_invalid":
            cam.depth = type(cam.depth)(np.zeros_like(cam.depth.load()))
        else:
            cam.extrinsics = cam.extrinsics.copy()
            cam.extrinsics[:, :3, 3] += 10.0  # the cameras moved 10 m away: nothing in the workspace
    with pytest.raises(DataError, match=r"episode 7\).*step 2"):
        virtual_views(ep, 2)


def test_episode_views_cache_is_keyed_by_content(tmp_path):
    from workbench.data.views import episode_views, virtual_views

    ep = _table_episode(T=2)
    a = episode_views(ep, size=16, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and files[0].stem == a.key
    assert a.dxyz.shape == (2, 5, 16, 16, 4) and a.dxyz.dtype == np.float16
    np.testing.assert_allclose(a.dxyz[1], virtual_views(ep, 1, size=16).dxyz, atol=2e-3)
    b = episode_views(ep, size=16, cache_dir=tmp_path)  # read back
    np.testing.assert_array_equal(a.dxyz, b.dxyz) and np.testing.assert_array_equal(a.valid, b.valid)
    # other settings or other depth → another key
    assert episode_views(ep, size=16, wrist=False, cache_dir=tmp_path).key != a.key
    cam = ep.cameras["scene"]
    d = cam.depth.load().copy()
    d[0, 0, 0] += 1
    ep2 = dataclasses.replace(ep, cameras={**ep.cameras, "scene": dataclasses.replace(cam, depth=d)})
    assert episode_views(ep2, size=16, cache_dir=tmp_path).key != a.key
    # a damaged cache file is recomputed, not trusted
    files[0].write_bytes(b"not a zip")
    c = episode_views(ep, size=16, cache_dir=tmp_path)
    np.testing.assert_array_equal(a.dxyz, c.dxyz)


def test_virtual_views_on_the_samples():
    if not SAMPLES.exists():
        pytest.skip("data_samples/metaworld not generated")
    from workbench.data import load_dataset
    from workbench.data.views import scene_point_cloud, virtual_views

    ds = load_dataset(SAMPLES)
    for idx in (ds.infos[0].index, ds.infos[-1].index):
        ep = ds.episode(idx)
        t = len(ep) // 2
        cloud = scene_point_cloud(ep, t)
        assert len(cloud) > 1000
        vv = virtual_views(ep, t, size=64)
        assert vv.dxyz.shape == (5, 64, 64, 4)
        px, dz = vv.pixel_check()
        assert px <= 0.5 + 1e-3 and dz < 1e-5
        # every view sees something; the table top (z ≈ 0) is in the overhead view
        assert vv.valid.mean(axis=(1, 2)).min() > 0.05
        assert np.abs(vv.dxyz[0][vv.valid[0]][:, 3]).min() < 0.01
        # the wrist views are near the gripper: their cameras sit within 25 cm of the end effector
        assert np.linalg.norm(vv.cam_to_world[3:, :3, 3] - ep.ee_pos[t], axis=1).max() < 0.25
