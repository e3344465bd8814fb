"""Checks on episodes: shapes, finite values, stream lengths, timestamps.

:func:`check_episode` returns every problem it finds as text; readers turn the first into a
:class:`~workbench.types.DataError` (strict) or record them all (``strict=False``), and
``workbench data validate`` prints them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.types import DataError, Episode

__all__ = ["check_episode", "raise_if_invalid"]


def _finite(name: str, a: np.ndarray | None, problems: list[str]) -> None:
    if a is None or not np.issubdtype(np.asarray(a).dtype, np.floating):
        return
    bad = ~np.isfinite(a)
    if bad.any():
        idx = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(np.asarray(a)[tuple(idx)]) else "inf"
        problems.append(f"{name} has {int(bad.sum())} non-finite values ({kind} first at step {int(idx[0])})")


def _shape(name: str, a: np.ndarray | None, tail: tuple[int | None, ...], problems: list[str]) -> None:
    if a is None:
        return
    a = np.asarray(a)
    ok = a.ndim == 1 + len(tail) and all(t is None or s == t for s, t in zip(a.shape[1:], tail))
    if not ok:
        want = "(T, " + ", ".join("*" if t is None else str(t) for t in tail) + ")"
        problems.append(f"{name} has shape {a.shape}, expected {want}")


def check_episode(ep: Episode, *, decode_frames: bool = False) -> list[str]:
    """Every problem with ``ep``; empty when it is well formed.

    With ``decode_frames`` the camera streams are decoded and their frame counts and shapes checked
    too (what ``workbench data validate`` does); otherwise only the declared lengths are compared.
    """
    problems: list[str] = []
    T = len(ep)
    if T == 0:
        return ["episode is empty (0 steps)"]
    _shape("actions", ep.actions, (None,), problems)
    _finite("actions", ep.actions, problems)
    streams: dict[str, np.ndarray | None] = {
        "timestamps": ep.timestamps,
        "ee_pos": ep.ee_pos,
        "ee_quat": ep.ee_quat,
        "gripper": ep.gripper,
        "hand_keypoints": ep.hand_keypoints,
        "hand_confidence": ep.hand_confidence,
        "state": ep.state,
        **{f"extras[{k}]": v for k, v in ep.extras.items()},
    }
    for name, a in streams.items():
        if a is not None and len(a) != T:
            problems.append(f"{name} has {len(a)} steps but actions have {T}")
        _finite(name, a, problems)
    _shape("ee_pos", ep.ee_pos, (3,), problems)
    _shape("ee_quat", ep.ee_quat, (4,), problems)
    _shape("hand_keypoints", ep.hand_keypoints, (None, 4, 4), problems)
    if ep.hand_keypoints is not None and ep.skeleton is not None and ep.hand_keypoints.ndim == 4:
        if ep.hand_keypoints.shape[1] != ep.skeleton.num_joints:
            problems.append(
                f"hand_keypoints has {ep.hand_keypoints.shape[1]} keypoints but the skeleton names {ep.skeleton.num_joints}"
            )
    ts = np.asarray(ep.timestamps)
    if ts.ndim == 1 and len(ts) > 1 and np.all(np.isfinite(ts)):
        d = np.diff(ts)
        if (d <= 0).any():
            i = int(np.argmax(d <= 0))
            problems.append(f"timestamps are not strictly increasing (step {i + 1}: {ts[i + 1]:.6f} after {ts[i]:.6f})")
    for name, cam in ep.cameras.items():
        if len(cam.rgb) != T:
            problems.append(f"camera {name!r} has {len(cam.rgb)} frames but actions have {T}")
        for what in ("depth", "segmentation"):
            src = getattr(cam, what)
            if src is not None and len(src) != T:
                problems.append(f"camera {name!r} {what} has {len(src)} frames but actions have {T}")
        for what, tail in (("intrinsics", (3, 3)), ("extrinsics", (4, 4))):
            a = getattr(cam, what)
            if a is None:
                continue
            if len(a) != T:
                problems.append(f"camera {name!r} {what} has {len(a)} steps but actions have {T}")
            _shape(f"camera {name!r} {what}", a, tail, problems)
            _finite(f"camera {name!r} {what}", a, problems)
        if decode_frames:
            rgb = cam.rgb.load()
            if rgb.ndim != 4 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
                problems.append(f"camera {name!r} rgb has shape {rgb.shape} {rgb.dtype}, expected (T, H, W, 3) uint8")
            elif len(rgb) != T:
                problems.append(f"camera {name!r} decodes to {len(rgb)} frames but actions have {T}")
            if cam.depth is not None:
                d = cam.depth.load()
                if d.shape[:1] != (T,) or d.shape[1:3] != rgb.shape[1:3]:
                    problems.append(f"camera {name!r} depth has shape {d.shape}, rgb {rgb.shape}")
    return problems


def raise_if_invalid(ep: Episode, path: str | Path, **kw) -> None:
    problems = check_episode(ep, **kw)
    if problems:
        raise DataError(path, "; ".join(problems), episode=ep.index)
