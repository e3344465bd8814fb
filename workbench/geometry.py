"""SE(3), rotations and the continuous 6-D rotation representation.

All functions are vectorised numpy over leading batch dimensions. Quaternions are scalar-last
``(x, y, z, w)``. The 6-D representation is that of Zhou et al. (CVPR 2019, "On the Continuity of
Rotation Representations in Neural Networks"): the first two *columns* of the rotation matrix,
``[r00, r10, r20, r01, r11, r21]``, mapped back by Gram–Schmidt. CAIP §2.4.2 uses it for hand
chunks, CLASS App. B for end-effector chunks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "quat_to_matrix",
    "matrix_to_quat",
    "rot6d_from_matrix",
    "matrix_from_rot6d",
    "make_pose",
    "invert_pose",
    "relative_pose",
    "pose_to_9d",
    "backproject_depth",
    "look_at",
    "intrinsics_from_fovy",
    "project_points",
]


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """``(..., 4)`` scalar-last quaternions → ``(..., 3, 3)`` rotation matrices (normalised first)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    m = np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )  # fmt: skip
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` rotation matrices → ``(..., 4)`` scalar-last quaternions with ``w ≥ 0``.

    Shepperd's method: pick the largest of the four squared components to stay well conditioned.
    """
    m = np.asarray(m, dtype=np.float64)
    batch = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    cand = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    choice = np.argmax(cand, axis=1)
    q = np.empty((m.shape[0], 4))
    for c in range(4):
        s = choice == c
        if not s.any():
            continue
        r = m[s]
        if c == 0:
            t = np.sqrt(1.0 + tr[s]) * 2
            q[s] = np.stack([(r[:, 2, 1] - r[:, 1, 2]) / t, (r[:, 0, 2] - r[:, 2, 0]) / t,
                             (r[:, 1, 0] - r[:, 0, 1]) / t, 0.25 * t], axis=1)  # fmt: skip
        elif c == 1:
            t = np.sqrt(1.0 + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2]) * 2
            q[s] = np.stack([0.25 * t, (r[:, 0, 1] + r[:, 1, 0]) / t,
                             (r[:, 0, 2] + r[:, 2, 0]) / t, (r[:, 2, 1] - r[:, 1, 2]) / t], axis=1)  # fmt: skip
        elif c == 2:
            t = np.sqrt(1.0 + r[:, 1, 1] - r[:, 0, 0] - r[:, 2, 2]) * 2
            q[s] = np.stack([(r[:, 0, 1] + r[:, 1, 0]) / t, 0.25 * t,
                             (r[:, 1, 2] + r[:, 2, 1]) / t, (r[:, 0, 2] - r[:, 2, 0]) / t], axis=1)  # fmt: skip
        else:
            t = np.sqrt(1.0 + r[:, 2, 2] - r[:, 0, 0] - r[:, 1, 1]) * 2
            q[s] = np.stack([(r[:, 0, 2] + r[:, 2, 0]) / t, (r[:, 1, 2] + r[:, 2, 1]) / t,
                             0.25 * t, (r[:, 1, 0] - r[:, 0, 1]) / t], axis=1)  # fmt: skip
    q *= np.where(q[:, 3:4] < 0, -1.0, 1.0)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q.reshape(batch + (4,))


def rot6d_from_matrix(m: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` → ``(..., 6)``: the first two columns, column by column (Zhou et al. 2019)."""
    m = np.asarray(m)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def matrix_from_rot6d(r6: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """``(..., 6)`` → ``(..., 3, 3)`` by Gram–Schmidt; any non-degenerate 6-vector maps to a rotation."""
    r6 = np.asarray(r6, dtype=np.float64)
    a1, a2 = r6[..., :3], r6[..., 3:]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), eps)
    a2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = a2 / np.maximum(np.linalg.norm(a2, axis=-1, keepdims=True), eps)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def make_pose(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Rotation ``(..., 3, 3)`` (or quaternion ``(..., 4)``) and translation ``(..., 3)`` → ``(..., 4, 4)``."""
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape[-1] == 4:
        rotation = quat_to_matrix(rotation)
    translation = np.asarray(translation, dtype=np.float64)
    batch = np.broadcast_shapes(rotation.shape[:-2], translation.shape[:-1])
    T = np.zeros(batch + (4, 4))
    T[..., :3, :3] = rotation
    T[..., :3, 3] = translation
    T[..., 3, 3] = 1.0
    return T


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms ``(..., 4, 4)`` without a general matrix inverse."""
    T = np.asarray(T, dtype=np.float64)
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    Rt = np.swapaxes(R, -1, -2)
    out = np.zeros_like(T)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    out[..., 3, 3] = 1.0
    return out


def relative_pose(T_from: np.ndarray, T_to: np.ndarray) -> np.ndarray:
    """``T_from⁻¹ · T_to``: the pose at ``t+i`` expressed in the frame of the pose at ``t`` (CAIP §2.4.2)."""
    return invert_pose(T_from) @ np.asarray(T_to, dtype=np.float64)


def pose_to_9d(T: np.ndarray) -> np.ndarray:
    """``(..., 4, 4)`` → ``(..., 9)``: translation then 6-D rotation (CAIP §2.4.2)."""
    T = np.asarray(T)
    return np.concatenate([T[..., :3, 3], rot6d_from_matrix(T[..., :3, :3])], axis=-1)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """Camera-to-world pose (OpenCV convention: x right, y down, z forward) looking from eye at target."""
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking straight along `up`
        x = np.cross(z, np.array([0.0, 1.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_pose(np.stack([x, y, z], axis=1), eye)


def backproject_depth(
    depth_m: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray | None = None, *, stride: int = 1
) -> np.ndarray:
    """Depth ``(H, W)`` in metres → world points ``(N, 3)`` for valid pixels (depth > 0).

    ``extrinsics`` is camera-to-world (OpenCV convention); without it points stay in the camera frame.
    """
    d = np.asarray(depth_m, dtype=np.float64)[::stride, ::stride]
    h, w = d.shape
    v, u = np.mgrid[0:h, 0:w]
    u = u * stride
    v = v * stride
    valid = d > 0
    K = np.asarray(intrinsics, dtype=np.float64)
    z = d[valid]
    x = (u[valid] - K[0, 2]) * z / K[0, 0]
    y = (v[valid] - K[1, 2]) * z / K[1, 1]
    pts = np.stack([x, y, z], axis=1)
    if extrinsics is not None:
        E = np.asarray(extrinsics, dtype=np.float64)
        pts = pts @ E[:3, :3].T + E[:3, 3]
    return pts


def intrinsics_from_fovy(fovy_deg: float, width: int, height: int) -> npt.NDArray[np.float64]:
    """Pinhole matrix for a vertical field of view, square pixels, principal point at the centre.

    Pixel ``(u, v)`` integer indices are pixel centres (OpenCV), so the centre of a ``W``-wide
    image is ``(W - 1) / 2`` — the convention :func:`workbench.geometry.backproject_depth` uses.
    """
    f = 0.5 * height / np.tan(np.deg2rad(fovy_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def project_points(
    points: npt.ArrayLike, intrinsics: npt.ArrayLike, extrinsics: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """World points ``(N, 3)`` → pixel coordinates ``(N, 2)`` and camera depth ``(N,)`` as ``(N, 3)``.

    ``K · E⁻¹ · p`` with ``E`` camera-to-world (OpenCV). The last column is the depth along the
    optical axis, so callers can discard points behind the camera (depth ≤ 0).
    """
    p = np.atleast_2d(np.asarray(points, dtype=np.float64))
    E = np.asarray(extrinsics, dtype=np.float64)
    R, t = E[:3, :3], E[:3, 3]
    cam = (p - t) @ R  # (N, 3): Rᵀ(p − t), row-wise
    uvw = cam @ np.asarray(intrinsics, dtype=np.float64).T
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[:, :2] / z[:, None]
    return np.concatenate([uv, z[:, None]], axis=1)
