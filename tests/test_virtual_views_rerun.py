"""CLAMP's virtual views and merged cloud in the Rerun playback, read back from the recording."""

from __future__ import annotations

import numpy as np
import pytest
from test_pointcloud import _table_episode
from test_rerun import read_rrd

from workbench.data.views import episode_views, scene_point_cloud
from workbench.viz.rerun import save_episode_rrd
from workbench.viz.virtual_views import CLOUD_PATH, xyz_colours

NAMES = ("overhead", "front_left", "back_right", "wrist_left", "wrist_right")


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vv")
    mp = pytest.MonkeyPatch()
    mp.setenv("ACTIONLENS_CACHE", str(tmp / "cache"))
    ep = _table_episode(T=3)
    ep.ee_pos = ep.ee_pos.copy()
    ep.ee_pos[1:] += [0.05, 0.0, 0.0]  # the gripper moves once: wrist frusta follow it
    out = read_rrd(save_episode_rrd(ep, tmp / "ep.rrd", virtual_views=True))
    yield ep, out
    mp.undo()


def test_every_virtual_view_is_a_camera_with_a_frustum(logged):
    ep, out = logged
    views = episode_views(ep)
    for i, name in enumerate(NAMES):
        path = f"/world/cameras/virtual_{name}"
        pin = out[path].static["Pinhole:image_from_camera"]
        np.testing.assert_allclose(np.asarray(pin).reshape(3, 3).T, views.intrinsics[0, i], atol=1e-4)
        depth = out[f"{path}/depth"].column("DepthImage:buffer")
        assert len(depth) == len(ep)
        want = np.where(views.valid[2, i], np.rint(views.dxyz[2, i, ..., 0].astype(np.float32) * 1000), 0)
        np.testing.assert_array_equal(np.frombuffer(bytes(depth[2][0]), np.uint16).reshape(64, 64), want)
        assert f"{path}/rgb" in out
    # fixed views: one static pose; wrist views: a pose per change of the gripper (steps 0 and 1)
    assert "Transform3D:translation" in out["/world/cameras/virtual_overhead"].static
    wrist = out["/world/cameras/virtual_wrist_left"]
    assert sorted(wrist.frames) == [0, 1]
    moved = np.array(wrist.column("Transform3D:translation")[1]).ravel() - np.array(wrist.column("Transform3D:translation")[0]).ravel()
    np.testing.assert_allclose(moved, [0.05, 0.0, 0.0], atol=1e-5)


def test_merged_cloud_is_logged_per_step(logged):
    ep, out = logged
    cloud = out["/" + CLOUD_PATH]
    pts = cloud.column("Points3D:positions")
    assert len(pts) == len(ep)
    for t in range(len(ep)):
        np.testing.assert_allclose(np.array(pts[t]), scene_point_cloud(ep, t), atol=1e-6)
    cols = cloud.column("Points3D:colors")[0]
    assert len(cols) == len(pts[0])


def test_xyz_colours_span_the_workspace():
    c = xyz_colours(np.array([[-0.6, 0.2, -0.02], [0.6, 1.1, 0.6], [0.0, 0.65, 0.29]]), np.array([True, True, False]))
    np.testing.assert_array_equal(c, [[0, 0, 0], [255, 255, 255], [0, 0, 0]])


def test_virtual_views_are_offered_only_with_depth_from_two_scene_cameras():
    from conftest import make_robot_episode

    from workbench.viz.virtual_views import why_no_virtual_views

    assert why_no_virtual_views(_table_episode(T=2)) is None  # two scene cameras with depth
    ep = make_robot_episode(0, T=3)  # one scene camera and a wrist camera, both with depth
    assert "only 'scene' has" in why_no_virtual_views(ep)
    ep.cameras["scene"].depth = None
    assert "none of its cameras has" in why_no_virtual_views(ep)  # the wrist camera does not count


def test_the_cloud_is_logged_under_the_blueprints_points():
    """CLOUD_PATH is spelled out (the module must not import rerun's blueprint); it stays under POINTS."""
    from workbench.viz import blueprint as bp

    assert CLOUD_PATH.startswith(bp.POINTS + "/")
