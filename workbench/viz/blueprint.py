"""Where an episode lives in a Rerun recording, and the default layout the viewer opens with.

The entity tree :func:`workbench.viz.rerun.log_episode` writes::

    world                              world frame (right-handed, z up)
      cameras/<name>                   Transform3D camera→world, Pinhole (OpenCV RDF)
        rgb                            EncodedImage (JPEG)
        depth                          DepthImage (uint16 mm, meter=1000)
      points/<name>                    Points3D back-projected from depth (optional)
      ee/path                          LineStrips3D, the whole end-effector path (static)
      ee/pose                          Transform3D per step + TransformAxes3D (static)
      hands                            AnnotationContext: one class per hand, MANO bones
        keypoints                      Points3D with class and keypoint ids
        wrist_paths                    LineStrips3D, the whole wrist paths (static)
      worms/<name>                     LineStrips3D: the next H positions, replaced each step
    plots/action/<dim>                 Scalars, one series per action dimension
    plots/gripper                      Scalars
    episode/instruction, episode/info  TextDocument (static)

Kept apart from the logging code so the layout can be read (and changed) in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import rerun.blueprint as rrb

__all__ = [
    "WORLD",
    "camera_path",
    "extent",
    "frame_points",
    "make_blueprint",
]

WORLD = "world"
CAMERAS = "world/cameras"
POINTS = "world/points"
EE_PATH = "world/ee/path"
EE_POSE = "world/ee/pose"
HANDS = "world/hands"
HAND_KEYPOINTS = "world/hands/keypoints"
HAND_PATHS = "world/hands/wrist_paths"
WORMS = "world/worms"
PLOTS = "plots"
ACTIONS = "plots/action"
GRIPPER = "plots/gripper"
EPISODE = "episode"
INSTRUCTION = "episode/instruction"
INFO = "episode/info"


def camera_path(name: str) -> str:
    return f"{CAMERAS}/{name}"


def extent(points: npt.ArrayLike) -> float:
    """Diagonal of the box around ``points`` (N, 3); at least 5 cm, so a gripper that stays put has a size."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return max(float(np.linalg.norm(p.max(axis=0) - p.min(axis=0))), 0.05)


def frame_points(points: npt.ArrayLike) -> rrb.EyeControls3D:
    """A 3-D eye that frames ``points`` (N, 3): it looks at their centre from the side and above
    (z up), at 1.2 times their extent, so the path and worms fill the view."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    centre = (p.min(axis=0) + p.max(axis=0)) / 2
    direction = np.array([1.0, -1.0, 0.8]) / np.linalg.norm([1.0, -1.0, 0.8])
    return rrb.EyeControls3D(kind="Orbital", position=centre + 1.2 * extent(p) * direction, look_target=centre, eye_up=[0.0, 0.0, 1.0])


def make_blueprint(cameras: Sequence[str], *, depth_cameras: Sequence[str] = (), focus: npt.ArrayLike | None = None) -> rrb.Blueprint:
    """Camera images on the left, the 3-D world and the action plots on the right.

    A 2-D view has its origin at the camera entity so the pinhole is the view's projection; RGB and
    depth get separate views because overlaid they hide each other. ``focus``: points (N, 3) the
    3-D view's eye frames (see :func:`frame_points`); the viewer's own default frames everything,
    far-away cameras included; it leaves out the depth images. Each text document has its own view
    (a text view shows one).
    """
    views: list[rrb.View] = []
    for name in cameras:
        origin = camera_path(name)
        views.append(rrb.Spatial2DView(origin=origin, contents=["$origin/rgb"], name=name))
        if name in depth_cameras:
            views.append(rrb.Spatial2DView(origin=origin, contents=["$origin/depth"], name=f"{name} depth"))
    eye = frame_points(focus) if focus is not None and np.size(focus) else None
    # A depth image under a pinhole is drawn in 3-D as a cloud of its own, as big as the scene,
    # that buries the path and worms: the 2-D views show depth, the point-cloud option the clouds.
    world = ["+ $origin/**", *(f"- {camera_path(name)}/depth" for name in depth_cameras)]
    right = rrb.Vertical(
        rrb.Spatial3DView(origin=WORLD, contents=world, name="world", eye_controls=eye),
        rrb.Horizontal(
            rrb.TimeSeriesView(origin=PLOTS, name="actions"),
            rrb.Vertical(
                rrb.TextDocumentView(origin=INSTRUCTION, name="instruction"),
                rrb.TextDocumentView(origin=INFO, name="episode"),
                row_shares=[1, 3],
            ),
            column_shares=[3, 1],
        ),
        row_shares=[3, 2],
    )
    if not views:
        return rrb.Blueprint(right, collapse_panels=False)
    left = rrb.Grid(*views) if len(views) > 2 else rrb.Vertical(*views)
    return rrb.Blueprint(rrb.Horizontal(left, right, column_shares=[1, 2]), collapse_panels=False)
