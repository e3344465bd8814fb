"""Rerun playback: recordings are read back with Rerun's own reader and compared to the episode.

rerun-sdk 0.41 has no ``rerun.dataframe``; its offline reader is ``rerun.chunk.RrdReader``, which
streams the chunks of an ``.rrd`` as Arrow record batches (the DataFusion-based ``reader()`` needs
the optional ``datafusion`` package, which we do not install). :func:`read_rrd` gathers them per
entity into static values and per-step columns.
"""

from __future__ import annotations

import io
import urllib.request
from urllib.parse import quote
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import rerun as rr
from conftest import make_hand_episode, make_robot_episode
from PIL import Image
from rerun.chunk import RrdReader

from workbench.cli.rerun import main as rerun_main
from workbench.geometry import backproject_depth, look_at
from workbench.types import MANO_BONES, CameraStream, Episode
from workbench.viz.rerun import (
    APPLICATION_ID,
    GROUND_TRUTH,
    hand_groups,
    log_episode,
    save_episode_rrd,
    save_episodes_rrd,
    serve_episode,
    show_in_notebook,
)

KNN = "/world/worms/" + rr.escape_entity_path_part("knn policy")  # a name with a space
SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


# --- reading recordings back --------------------------------------------------------------------


@dataclass
class Logged:
    """What one entity holds: static components, and per-step rows sorted by frame index."""

    static: dict[str, list] = field(default_factory=dict)
    frames: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    columns: dict[str, list] = field(default_factory=dict)

    def column(self, component: str) -> list:
        order = np.argsort(self.frames, kind="stable")
        return [self.columns[component][i] for i in order]


def read_rrd(path: Path) -> dict[str, Logged]:
    out: dict[str, Logged] = {}
    for chunk in RrdReader(path).stream().to_chunks():
        batch: pa.RecordBatch = chunk.to_record_batch()
        e = out.setdefault(chunk.entity_path, Logged())
        names = [n for n in batch.schema.names if n not in ("rerun.controls.RowId", "frame_index", "timestamp")]
        if chunk.is_static:
            for n in names:
                e.static[n] = batch.column(n).to_pylist()[-1]
            continue
        n_rows = batch.num_rows
        e.frames += batch.column("frame_index").to_pylist()
        e.seconds += (batch.column("timestamp").cast(pa.int64()).to_numpy() / 1e9).tolist()
        for n in names:
            prev = e.columns.setdefault(n, [None] * (len(e.frames) - n_rows))
            prev += batch.column(n).to_pylist()
        for n, col in e.columns.items():  # components absent from this chunk
            col += [None] * (len(e.frames) - len(col))
    return out


def _steps(e: Logged) -> list[int]:
    return sorted(e.frames)


# --- episodes -----------------------------------------------------------------------------------


def _smooth_frames(T: int, size: int) -> np.ndarray:
    """Render-like frames (gradients and a moving blob) that JPEG keeps close to the original."""
    y, x = np.mgrid[0:size, 0:size] / size
    frames = np.empty((T, size, size, 3), np.uint8)
    for t in range(T):
        blob = np.exp(-((x - t / T) ** 2 + (y - 0.5) ** 2) / 0.02)
        frames[t] = (255 * np.stack([x, y, blob], axis=-1)).astype(np.uint8)
    return frames


@pytest.fixture(scope="module")
def robot() -> Episode:
    ep = make_robot_episode(3, T=12)
    scene = ep.cameras["scene"]
    scene.extrinsics = np.broadcast_to(scene.extrinsics[0], scene.extrinsics.shape).copy()  # a fixed camera
    scene.rgb = type(scene.rgb)(_smooth_frames(len(ep), 32))
    return ep


@pytest.fixture(scope="module")
def robot_rrd(robot: Episode, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rrd") / "robot.rrd"
    pred = robot.ee_pos[:, None] + np.linspace(0, 0.1, 5)[None, :, None]  # (T, 5, 3)
    return save_episode_rrd(robot, path, horizon=5, predicted_chunks={"knn policy": pred}, point_cloud=True)


@pytest.fixture(scope="module")
def robot_logged(robot_rrd: Path) -> dict[str, Logged]:
    return read_rrd(robot_rrd)


@pytest.fixture(scope="module")
def hand() -> Episode:
    return make_hand_episode(1, T=9)


@pytest.fixture(scope="module")
def hand_logged(hand: Episode, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Logged]:
    return read_rrd(save_episode_rrd(hand, tmp_path_factory.mktemp("rrd") / "hand.rrd", horizon=4))


# --- robot episodes -----------------------------------------------------------------------------


def test_robot_recording_has_every_entity(robot_logged: dict[str, Logged]) -> None:
    expected = {
        "/world",
        "/world/cameras/scene",
        "/world/cameras/scene/rgb",
        "/world/cameras/scene/depth",
        "/world/cameras/wrist",
        "/world/cameras/wrist/rgb",
        "/world/cameras/wrist/depth",
        "/world/points/scene",
        "/world/points/wrist",
        "/world/ee/path",
        "/world/ee/pose",
        "/world/worms/ground_truth",
        KNN,
        "/plots/gripper",
        "/episode/instruction",
        "/episode/info",
    } | {f"/plots/action/a{j}" for j in range(4)}
    assert expected <= set(robot_logged)
    assert "/world/hands/keypoints" not in robot_logged


def test_per_step_entities_have_one_row_per_step(robot: Episode, robot_logged: dict[str, Logged]) -> None:
    T = len(robot)
    for path in (
        "/world/cameras/scene/rgb",
        "/world/cameras/wrist/depth",
        "/world/points/scene",
        "/world/ee/pose",
        "/plots/gripper",
        "/plots/action/a2",
        "/world/worms/ground_truth",
        KNN,
    ):
        e = robot_logged[path]
        assert _steps(e) == list(range(T)), path
        np.testing.assert_allclose(sorted(e.seconds), robot.timestamps, atol=1e-9, err_msg=path)


def test_end_effector_poses_round_trip(robot: Episode, robot_logged: dict[str, Logged]) -> None:
    pose = robot_logged["/world/ee/pose"]
    np.testing.assert_allclose(np.array(pose.column("Transform3D:translation"))[:, 0], robot.ee_pos, atol=1e-6)
    np.testing.assert_allclose(np.array(pose.column("Transform3D:quaternion"))[:, 0], robot.ee_quat, atol=1e-6)
    path = np.array(robot_logged["/world/ee/path"].static["LineStrips3D:strips"][0])
    np.testing.assert_allclose(path, robot.ee_pos, atol=1e-6)


def test_actions_and_gripper_are_named_series(robot: Episode, robot_logged: dict[str, Logged]) -> None:
    for j in range(robot.action_dim):
        e = robot_logged[f"/plots/action/a{j}"]
        np.testing.assert_allclose(np.array(e.column("Scalars:scalars"))[:, 0], robot.actions[:, j], atol=1e-6)
        assert e.static["SeriesLines:names"] == [f"a{j}"]
    g = robot_logged["/plots/gripper"]
    np.testing.assert_allclose(np.array(g.column("Scalars:scalars"))[:, 0], robot.gripper, atol=1e-9)


def test_fixed_camera_logged_once_moving_camera_per_step(robot: Episode, robot_logged: dict[str, Logged]) -> None:
    fixed, moving = robot_logged["/world/cameras/scene"], robot_logged["/world/cameras/wrist"]
    assert fixed.frames == [] and "Transform3D:translation" in fixed.static
    np.testing.assert_allclose(fixed.static["Transform3D:translation"][0], robot.cameras["scene"].extrinsics[0, :3, 3])
    assert _steps(moving) == list(range(len(robot)))
    E = robot.cameras["wrist"].extrinsics
    np.testing.assert_allclose(np.array(moving.column("Transform3D:translation"))[:, 0], E[:, :3, 3], atol=1e-6)
    # Rerun stores mat3x3 column-major
    mats = np.array(moving.column("Transform3D:mat3x3"))[:, 0].reshape(-1, 3, 3).transpose(0, 2, 1)
    np.testing.assert_allclose(mats, E[:, :3, :3], atol=1e-6)
    for e in (fixed, moving):  # constant intrinsics: one static pinhole looking along OpenCV's +z
        assert "Pinhole:image_from_camera" in e.static and "Pinhole:image_from_camera" not in e.columns


def test_camera_that_moves_sometimes_is_logged_at_its_moves(tmp_path: Path) -> None:
    ep = make_robot_episode(0, T=10)
    eyes = [np.array([1.0, 0.0, 0.8])] * 4 + [np.array([1.0, 0.3, 0.8])] * 6
    ep.cameras["scene"].extrinsics = np.stack([look_at(e, np.zeros(3)) for e in eyes])
    logged = read_rrd(save_episode_rrd(ep, tmp_path / "a.rrd"))
    assert _steps(logged["/world/cameras/scene"]) == [0, 4]


def test_images_are_jpeg_and_depth_is_millimetres(robot: Episode, robot_logged: dict[str, Logged]) -> None:
    rgb = robot_logged["/world/cameras/scene/rgb"]
    assert set(rgb.column("EncodedImage:media_type")[0]) == {"image/jpeg"}
    frames = robot.cameras["scene"].rgb.load()
    for t, blob in enumerate(rgb.column("EncodedImage:blob")):
        img = np.asarray(Image.open(io.BytesIO(bytes(blob[0]))).convert("RGB"))
        assert img.shape == frames[t].shape
        assert np.abs(img.astype(int) - frames[t]).mean() < 4
    depth = robot_logged["/world/cameras/wrist/depth"]
    assert depth.column("DepthImage:meter")[0] == [1000.0]
    raw = robot.cameras["wrist"].depth.load()
    for t, buf in enumerate(depth.column("DepthImage:buffer")):
        np.testing.assert_array_equal(np.frombuffer(bytes(buf[0]), np.uint16).reshape(raw.shape[1:]), raw[t])


def test_point_cloud_is_depth_back_projected_into_the_world(robot: Episode, robot_logged: dict[str, Logged]) -> None:
    cam = robot.cameras["wrist"]
    pts = robot_logged["/world/points/wrist"].column("Points3D:positions")
    for t in (0, len(robot) - 1):
        want = backproject_depth(cam.depth[t] / 1000.0, cam.intrinsics[t], cam.extrinsics[t], stride=4)
        np.testing.assert_allclose(np.array(pts[t]), want, atol=1e-5)


def test_worms_hold_the_next_h_positions(robot: Episode, robot_logged: dict[str, Logged]) -> None:
    H, T = 5, len(robot)
    gt = robot_logged["/world/worms/ground_truth"].column("LineStrips3D:strips")
    pred = robot_logged[KNN].column("LineStrips3D:strips")
    want_pred = robot.ee_pos[:, None] + np.linspace(0, 0.1, H)[None, :, None]
    for t in range(T):
        assert len(gt[t]) == 1 and len(pred[t]) == 1  # one strip per step, replaced each step
        np.testing.assert_allclose(np.array(gt[t][0]), robot.ee_pos[t : t + H], atol=1e-6)
        assert len(pred[t][0]) == H
        np.testing.assert_allclose(np.array(pred[t][0]), want_pred[t], atol=1e-6)
    colors = {p: robot_logged[p].static["LineStrips3D:colors"][0] for p in ("/world/worms/ground_truth", KNN)}
    assert len(set(colors.values())) == 2


def test_predicted_chunk_with_wrong_shape_is_refused(robot: Episode) -> None:
    with pytest.raises(ValueError, match="'bad'.*expected"):
        log_episode(robot, predicted_chunks={"bad": np.zeros((len(robot) - 1, 4, 3))}, blueprint=False)
    with pytest.raises(ValueError, match="reserved"):
        log_episode(robot, predicted_chunks={GROUND_TRUTH: np.zeros((len(robot), 4, 3))}, blueprint=False)


def test_text_and_episode_properties(robot: Episode, robot_logged: dict[str, Logged]) -> None:
    assert robot_logged["/episode/instruction"].static["TextDocument:text"] == [robot.instruction]
    info = robot_logged["/episode/info"].static["TextDocument:text"][0]
    assert f"| task | {robot.task} |" in info and f"| success | {str(robot.success).lower()} |" in info
    props = robot_logged["/__properties/episode"].static
    assert props["task"] == [robot.task] and props["index"] == [robot.index] and props["success"] == [robot.success]


def test_blueprint_travels_with_the_recording(robot_rrd: Path) -> None:
    reader = RrdReader(robot_rrd)
    (rec,) = reader.recordings()
    (bp,) = reader.blueprints()
    assert rec.application_id == bp.application_id == APPLICATION_ID
    assert rec.recording_id == "synthetic-episode-3"
    views = {c.entity_path for c in reader.stream(store=bp).to_chunks()}
    assert sum(p.startswith("/view/") for p in views) >= 6  # 4 camera views, 3-D, time series, text


# --- hand episodes ------------------------------------------------------------------------------


def test_hand_keypoints_round_trip(hand: Episode, hand_logged: dict[str, Logged]) -> None:
    kp = hand_logged["/world/hands/keypoints"]
    assert _steps(kp) == list(range(len(hand)))
    np.testing.assert_allclose(np.array(kp.column("Points3D:positions")), hand.hand_keypoints[..., :3, 3], atol=1e-5)
    want_classes = [1] * 21 + [2] * 21  # left, right
    want_ids = list(range(21)) * 2
    for t in range(len(hand)):
        assert kp.column("Points3D:class_ids")[t] == want_classes
        assert kp.column("Points3D:keypoint_ids")[t] == want_ids


def test_hand_annotation_context_has_mano_bones(hand_logged: dict[str, Logged]) -> None:
    (ctx,) = hand_logged["/world/hands"].static["AnnotationContext:context"]
    assert [c["class_id"] for c in ctx] == [1, 2]
    for c, name in zip(ctx, ("left", "right")):
        desc = c["class_description"]
        assert desc["info"]["label"] == name
        assert [(b["keypoint0"], b["keypoint1"]) for b in desc["keypoint_connections"]] == list(MANO_BONES)
        assert desc["keypoint_annotations"][0]["label"] == "wrist"


def test_hand_worms_follow_each_wrist(hand: Episode, hand_logged: dict[str, Logged]) -> None:
    strips = hand_logged["/world/worms/ground_truth"].column("LineStrips3D:strips")
    pos = hand.hand_keypoints[..., :3, 3]
    for t in range(len(hand)):
        assert len(strips[t]) == 2
        np.testing.assert_allclose(np.array(strips[t][0]), pos[t : t + 4, 0], atol=1e-5)  # left wrist
        np.testing.assert_allclose(np.array(strips[t][1]), pos[t : t + 4, 21], atol=1e-5)  # right wrist


def test_missing_keypoints_are_left_out(tmp_path: Path) -> None:
    ep = make_hand_episode(0, T=5)
    ep.hand_keypoints[2, 21:] = np.nan  # right hand lost at step 2
    kp = read_rrd(save_episode_rrd(ep, tmp_path / "h.rrd"))["/world/hands/keypoints"]
    assert [len(p) for p in kp.column("Points3D:positions")] == [42, 42, 21, 42, 42]


def test_hand_groups_without_a_skeleton() -> None:
    assert [g.name for g in hand_groups(None, 42)] == ["left", "right"]
    (one,) = hand_groups(None, 21)
    assert one.bones == MANO_BONES and one.wrist == 0
    with pytest.raises(ValueError, match="42 joints"):
        hand_groups(make_hand_episode(0, T=2).skeleton, 21)


# --- several episodes, serving, notebooks -------------------------------------------------------


def test_several_episodes_are_separate_files_and_recordings(tmp_path: Path) -> None:
    eps = [make_robot_episode(i, T=6) for i in (2, 5)]
    paths = save_episodes_rrd(eps, tmp_path / "out.rrd", horizon=3)
    assert paths == [tmp_path / "out_ep2.rrd", tmp_path / "out_ep5.rrd"]
    ids = [RrdReader(p).recordings()[0].recording_id for p in paths]
    assert ids == ["synthetic-episode-2", "synthetic-episode-5"]
    assert save_episodes_rrd(eps[:1], tmp_path / "one.rrd") == [tmp_path / "one.rrd"]


def test_serve_episode_serves_the_web_viewer() -> None:
    served = serve_episode(make_robot_episode(0, T=4), horizon=2)
    assert served.grpc_url.startswith("rerun+http://") and served.url.startswith("http://localhost:")
    with urllib.request.urlopen(served.url, timeout=20) as r:
        assert r.status == 200 and b"<html" in r.read().lower()


def test_show_in_notebook_logs_and_shows(capsys: pytest.CaptureFixture[str]) -> None:
    rec = show_in_notebook(make_hand_episode(0, T=3), horizon=2)
    assert rec.get_application_id() == APPLICATION_ID
    assert "Viewer" in capsys.readouterr().out  # outside Jupyter the widget prints its repr


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lerobot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from workbench.data import write_lerobot

    root = tmp_path_factory.mktemp("ds") / "pushes"
    return write_lerobot([make_robot_episode(i, T=8) for i in range(3)], root)


def test_cli_writes_a_readable_rrd(lerobot_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "one.rrd"
    assert rerun_main([str(lerobot_dir), "--episode", "1", "--save", str(out), "--horizon", "3"]) == 0
    logged = read_rrd(out)
    assert _steps(logged["/world/cameras/scene/rgb"]) == list(range(8))
    assert RrdReader(out).recordings()[0].recording_id == "pushes-episode-1"


def test_cli_writes_one_file_per_episode(lerobot_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "many.rrd"
    assert rerun_main([str(lerobot_dir), "--episode", "0", "--episode", "2", "--save", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many_ep0.rrd", "many_ep2.rrd"]


@pytest.mark.parametrize("args", [["{missing}", "--save", "{out}"], ["{ds}", "--episode", "99", "--save", "{out}"], ["{ds}"]])
def test_cli_problems_end_in_one_line_and_exit_2(
    args: list[str], lerobot_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(missing=tmp_path / "nope", ds=lerobot_dir, out=tmp_path / "x.rrd") for a in args]
    assert rerun_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "x.rrd").exists()


# --- the shipped samples ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["metaworld", "hands", "robomimic"])
def test_sample_episodes_log(name: str, tmp_path: Path) -> None:
    from workbench.data import load_dataset

    if not (SAMPLES / name).exists():
        pytest.skip(f"data_samples/{name} not generated (workbench data make-samples)")
    ep = load_dataset(SAMPLES / name)[0]
    logged = read_rrd(save_episode_rrd(ep, tmp_path / "s.rrd", horizon=4))
    for cam in ep.cameras:
        assert _steps(logged[f"/world/cameras/{cam}/rgb"]) == list(range(len(ep)))
    if ep.hand_keypoints is not None:
        assert _steps(logged["/world/hands/keypoints"]) == list(range(len(ep)))
    if ep.ee_pos is not None:
        np.testing.assert_allclose(
            np.array(logged["/world/ee/pose"].column("Transform3D:translation"))[:, 0], ep.ee_pos, atol=1e-5
        )


def test_camera_without_calibration_still_logs_images(tmp_path: Path) -> None:
    ep = make_robot_episode(0, T=4)
    ep.cameras = {"plain": CameraStream(name="plain", rgb=ep.cameras["scene"].rgb.load())}
    logged = read_rrd(save_episode_rrd(ep, tmp_path / "p.rrd"))
    assert _steps(logged["/world/cameras/plain/rgb"]) == [0, 1, 2, 3]
    assert "/world/cameras/plain" not in logged


def _views(blueprint) -> list:
    import rerun.blueprint as rrb

    def walk(c):
        for x in c.contents:
            yield from walk(x) if isinstance(x, rrb.Container) else (x,)

    return list(walk(blueprint.root_container))


def test_blueprint_one_text_document_per_view_and_eye_frames_the_path(robot: Episode) -> None:
    from workbench.viz.blueprint import make_blueprint

    far_camera_and_path = np.array([[5.0, 5.0, 5.0], [0.0, 0.0, 0.0], [0.2, 0.1, 0.3]])
    views = _views(make_blueprint(list(robot.cameras), focus=far_camera_and_path[1:]))
    texts = [str(v.origin) for v in views if type(v).__name__ == "TextDocumentView"]
    assert sorted(texts) == ["episode/info", "episode/instruction"]  # each view shows exactly one document
    (world,) = [v for v in views if type(v).__name__ == "Spatial3DView"]
    eye = world.properties["EyeControls3D"]
    target = np.asarray(eye.look_target.as_arrow_array().to_pylist()[0])
    position = np.asarray(eye.position.as_arrow_array().to_pylist()[0])
    np.testing.assert_allclose(target, [0.1, 0.05, 0.15], atol=1e-6)  # the centre of the path, not of the cameras
    assert np.linalg.norm(position - target) < 1.0  # close enough that the path fills the view


def test_blueprint_3d_view_leaves_out_depth_images(robot: Episode) -> None:
    from workbench.viz.blueprint import make_blueprint

    views = _views(make_blueprint(list(robot.cameras), depth_cameras=["scene"]))
    (world,) = [v for v in views if type(v).__name__ == "Spatial3DView"]
    assert list(world.contents) == ["+ $origin/**", "- world/cameras/scene/depth"]  # only cameras with depth are named


def test_wrist_frustum_and_gripper_axes_are_sized_by_the_path(tmp_path: Path) -> None:
    ep = make_robot_episode(1, T=6)
    far = ep.cameras["scene"].extrinsics.copy()
    far[:, :3, 3] = [4.0, 4.0, 4.0]  # a far scene camera makes the scene large, the path stays small
    ep.cameras["scene"].extrinsics = far
    ep.ee_pos = np.linspace([0.0, 0.0, 0.2], [0.3, 0.0, 0.2], len(ep))  # a 30 cm reach
    out = read_rrd(save_episode_rrd(ep, tmp_path / "ep.rrd", horizon=2))
    path = np.asarray(ep.ee_pos)
    reach = max(float(np.linalg.norm(path.max(0) - path.min(0))), 0.05)
    wrist = out["/world/cameras/wrist"]
    plane = wrist.static.get("Pinhole:image_plane_distance") or wrist.column("Pinhole:image_plane_distance")[0]
    np.testing.assert_allclose(np.ravel(plane)[0], 0.1 * reach, rtol=1e-5)
    scene = out["/world/cameras/scene"]
    scene_plane = scene.static.get("Pinhole:image_plane_distance") or scene.column("Pinhole:image_plane_distance")[0]
    assert np.ravel(scene_plane)[0] > 3 * np.ravel(plane)[0]  # the far camera's frustum is sized by the scene


def test_web_viewer_assets_export_the_viewer_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.viz import rerun_web

    folder = rerun_web.web_viewer_assets(tmp_path / "viewer")
    module = (folder / rerun_web.MODULE).read_text()
    assert module.rstrip().endswith("export { WebViewer };") and "var WebViewer = class" in module
    static, _ = rerun_web._notebook_static()
    assert (folder / rerun_web.WASM).stat().st_size == (static / rerun_web.WASM).stat().st_size
    stamp = (folder / rerun_web.MODULE).stat().st_mtime_ns
    assert rerun_web.web_viewer_assets(folder) == folder and (folder / rerun_web.MODULE).stat().st_mtime_ns == stamp  # made once
    # a bundle that no longer defines the class is refused with the file named
    fake = tmp_path / "static"
    fake.mkdir()
    (fake / "widget.js").write_text("export default {};")
    (fake / rerun_web.WASM).write_bytes(b"\0asm")
    monkeypatch.setattr(rerun_web, "_notebook_static", lambda: (fake, "9.9.9"))
    with pytest.raises(RuntimeError, match="widget.js.*WebViewer"):
        rerun_web.web_viewer_assets(tmp_path / "other")


def test_served_viewer_hides_the_examples_and_answers_on_another_host_name() -> None:
    served = serve_episode(make_robot_episode(0, T=4), horizon=2)
    assert "hide_welcome_screen" in served.url  # no examples page: nothing fetched from the internet
    remote = served.url_for("127.0.0.1")
    assert remote.startswith(f"http://127.0.0.1:{served.web_port}/") and "localhost" not in remote
    assert quote("rerun+http://127.0.0.1:", safe="") in remote  # the gRPC address follows the host too
    with urllib.request.urlopen(remote, timeout=20) as r:  # the servers listen on every interface
        assert r.status == 200
