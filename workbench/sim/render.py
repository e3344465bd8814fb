"""Fast offscreen MuJoCo rendering of RGB, metric depth and per-geom segmentation, with cameras.

One :class:`SceneRenderer` per model and image size. Each call renders two passes: a lit colour
pass, then a flat-shaded ID-colour pass whose colour buffer gives the geom under each pixel and
whose depth buffer gives metric depth. Shadows, reflections, the skybox and multisampling are off:
on 2 CPU cores with Mesa's software EGL that is about ten times faster than MuJoCo's defaults.

Cameras are either a named model camera or an :class:`OrbitCamera` (MuJoCo's free camera: a
look-at point, a distance, an azimuth and an elevation). Every view comes with its pinhole
intrinsics and its camera-to-world extrinsics in the OpenCV convention (x right, y down,
z forward), read back from the GL camera MuJoCo actually rendered with, so named cameras, free
cameras and moving cameras are all described the same way.
"""

from __future__ import annotations

import atexit
import os
import weakref

# The GL backend is chosen when mujoco is first imported; EGL renders headless (Mesa on CPU).
os.environ.setdefault("MUJOCO_GL", "egl")

from dataclasses import dataclass  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from workbench.geometry import intrinsics_from_fovy, project_points  # noqa: E402,F401  (re-exported)

__all__ = [
    "OrbitCamera",
    "RenderedView",
    "SceneRenderer",
    "depth_to_millimetres",
    "intrinsics_from_fovy",
    "project_points",
]


@dataclass(frozen=True)
class OrbitCamera:
    """A free camera orbiting a look-at point (MuJoCo's ``mjCAMERA_FREE``).

    The camera sits ``distance`` metres from ``lookat`` and looks at it. ``azimuth`` (degrees) turns
    about the world z axis, 0 looking along +x and 90 along +y; ``elevation`` (degrees) is the pitch
    of the view direction, negative looking down. The vertical field of view is the model's
    ``vis.global_.fovy``.
    """

    lookat: tuple[float, float, float]
    distance: float
    azimuth: float
    elevation: float

    def __post_init__(self) -> None:
        if len(self.lookat) != 3:
            raise ValueError(f"lookat must have 3 coordinates, got {self.lookat!r}")
        if not self.distance > 0:
            raise ValueError(f"distance must be positive, got {self.distance}")
        if not -90.0 < self.elevation < 90.0:
            raise ValueError(f"elevation must lie in (-90, 90) degrees, got {self.elevation}")

    def to_mjv(self) -> mujoco.MjvCamera:
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = self.lookat
        cam.distance = self.distance
        cam.azimuth = self.azimuth
        cam.elevation = self.elevation
        return cam


@dataclass(frozen=True)
class RenderedView:
    """One rendered image and the camera that saw it.

    ``depth`` is planar depth along the optical axis in metres (0 where nothing was hit);
    ``geom_ids`` the MuJoCo geom under each pixel (-1 for background and non-geom elements such as
    sites). Map geom ids to labels with a lookup table: ``lut[geom_ids + 1]``.
    """

    rgb: npt.NDArray[np.uint8]  # (H, W, 3)
    depth: npt.NDArray[np.float32]  # (H, W) metres
    geom_ids: npt.NDArray[np.int32]  # (H, W)
    intrinsics: npt.NDArray[np.float64]  # (3, 3)
    extrinsics: npt.NDArray[np.float64]  # (4, 4) camera-to-world, OpenCV


def depth_to_millimetres(depth_m: npt.ArrayLike, max_m: float = 65.535) -> npt.NDArray[np.uint16]:
    """Metric depth → ``uint16`` millimetres, 0 (no reading) where depth ≤ 0 or beyond ``max_m``."""
    d = np.asarray(depth_m, dtype=np.float64)
    valid = (d > 0) & (d < max_m)
    return np.where(valid, np.rint(d * 1000.0), 0).clip(0, 65535).astype(np.uint16)


def _gl_camera_pose(scene: mujoco.MjvScene) -> npt.NDArray[np.float64]:
    """Camera-to-world (OpenCV) of the mono camera ``mjr_render`` draws with.

    MuJoCo keeps two eyes (``scene.camera[0/1]``) separated by the inter-pupillary distance and
    renders a mono image from their average; its frame is x right, y up, looking along −z, i.e.
    ``forward`` and ``up`` vectors. OpenCV wants x right, y down, z forward.
    """
    gl = mujoco.mjv_averageCamera(scene.camera[0], scene.camera[1])
    forward = np.asarray(gl.forward, dtype=np.float64)
    up = np.asarray(gl.up, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    up -= forward * float(up @ forward)
    up /= np.linalg.norm(up)
    right = np.cross(forward, up)
    E = np.eye(4)
    E[:3, 0] = right
    E[:3, 1] = -up
    E[:3, 2] = forward
    E[:3, 3] = gl.pos
    return E


def _gl_camera_intrinsics(scene: mujoco.MjvScene, width: int, height: int) -> npt.NDArray[np.float64]:
    """Pinhole matrix from the GL frustum (``near``, ``top``, ``bottom``) MuJoCo rendered with.

    ``mjr_render`` widens the frustum horizontally to the viewport's aspect ratio, so pixels are
    square and ``fx = fy``. Frusta here are symmetric (``frustum_center`` is 0 for model and free
    cameras), so the principal point is the image centre.
    """
    gl = scene.camera[0]
    half_tan = (gl.frustum_top - gl.frustum_bottom) / (2.0 * gl.frustum_near)
    fovy = np.rad2deg(2.0 * np.arctan(half_tan))
    return intrinsics_from_fovy(fovy, width, height)


_LIVE: weakref.WeakSet[SceneRenderer] = weakref.WeakSet()
_EXIT_HOOKED = False


def _register_for_exit(renderer: SceneRenderer) -> None:
    """Close live renderers at exit before EGL's own exit hook terminates the display.

    atexit runs hooks last-in first-out and mujoco registers ``eglTerminate`` when the first context
    is created, so a hook registered after that runs first; without it every renderer still alive
    at exit prints an EGLError from its destructor.
    """
    global _EXIT_HOOKED
    _LIVE.add(renderer)
    if not _EXIT_HOOKED:
        atexit.register(lambda: [r.close() for r in list(_LIVE)])
        _EXIT_HOOKED = True


class SceneRenderer:
    """Offscreen renderer for one model at one image size.

    Mutates ``model.vis.quality.offsamples`` to 0 (no multisampling, which software GL pays for
    dearly) before creating the GL context; the model is otherwise untouched.
    """

    def __init__(self, model: mujoco.MjModel, width: int, height: int, *, max_geom: int = 2000) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}×{height}")
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise ValueError(
                f"image {width}×{height} exceeds the model's offscreen buffer "
                f"{model.vis.global_.offwidth}×{model.vis.global_.offheight}"
            )
        model.vis.quality.offsamples = 0
        self.model = model
        self.width = int(width)
        self.height = int(height)
        self._scene = mujoco.MjvScene(model, maxgeom=max_geom)
        self._option = mujoco.MjvOption()
        self._rect = mujoco.MjrRect(0, 0, self.width, self.height)
        self._gl = mujoco.gl_context.GLContext(self.width, self.height)
        self._gl.make_current()
        _register_for_exit(self)
        self._ctx = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150.value)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._ctx)
        # Reversed-Z depth buffer (1 at the near plane, 0 at the far plane): better precision far away.
        self._ctx.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX):
            self._scene.flags[flag] = False
        extent = model.stat.extent
        self._near = float(model.vis.map.znear * extent)
        self._far = float(model.vis.map.zfar * extent)
        self._rgb = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self._ids = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self._zbuf = np.empty((self.height, self.width), dtype=np.float32)

    def close(self) -> None:
        if self._ctx is not None:
            # GL objects belong to this context: freeing them while another renderer's context is
            # current would delete that renderer's buffers instead.
            self._gl.make_current()
            self._ctx.free()
            self._ctx = None
        if self._gl is not None:
            self._gl.free()
            self._gl = None

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the GL library may already be gone
            pass

    def _mjv_camera(self, camera: OrbitCamera | str | int) -> mujoco.MjvCamera:
        if isinstance(camera, OrbitCamera):
            return camera.to_mjv()
        cam_id = camera
        if isinstance(camera, str):
            cam_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
            if cam_id < 0:
                raise ValueError(f"the model has no camera named {camera!r}")
        if not 0 <= int(cam_id) < self.model.ncam:
            raise ValueError(f"camera id {cam_id} is outside [0, {self.model.ncam})")
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
        cam.fixedcamid = int(cam_id)
        return cam

    def depth_from_buffer(self, zbuf: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Reversed-Z depth buffer values ``d`` ∈ [0, 1] → planar metric depth, 0 where nothing was hit.

        With near ``n`` and far ``f`` (``vis.map.znear/zfar`` × ``stat.extent``) the perspective
        projection stores ``d = n (f − z) / (z (f − n))``, so ``z = n f / (n + d (f − n))``; ``d = 0``
        is the far plane, i.e. the background.
        """
        n, f = self._near, self._far
        d = zbuf.astype(np.float64)
        z = n * f / (n + d * (f - n))
        z[d <= 0.0] = 0.0
        return z.astype(np.float32)

    def render_rgb(self, data: mujoco.MjData, camera: OrbitCamera | str | int) -> npt.NDArray[np.uint8]:
        """The colour pass alone (what a policy looks at in closed loop): half the cost of :meth:`render`."""
        if self._ctx is None:
            raise RuntimeError("render called after close()")
        self._gl.make_current()
        cam = self._mjv_camera(camera)
        mujoco.mjv_updateScene(self.model, data, self._option, None, cam, mujoco.mjtCatBit.mjCAT_ALL.value, self._scene)
        mujoco.mjr_render(self._rect, self._scene, self._ctx)
        mujoco.mjr_readPixels(self._rgb, None, self._rect, self._ctx)
        return np.flipud(self._rgb).copy()  # GL rows start at the bottom

    def render(self, data: mujoco.MjData, camera: OrbitCamera | str | int) -> RenderedView:
        """Render RGB, depth and geom ids of ``data`` from ``camera`` (images top row first)."""
        if self._ctx is None:
            raise RuntimeError("render called after close()")
        self._gl.make_current()
        cam = self._mjv_camera(camera)
        mujoco.mjv_updateScene(self.model, data, self._option, None, cam, mujoco.mjtCatBit.mjCAT_ALL.value, self._scene)
        extrinsics = _gl_camera_pose(self._scene)
        intrinsics = _gl_camera_intrinsics(self._scene, self.width, self.height)

        mujoco.mjr_render(self._rect, self._scene, self._ctx)
        mujoco.mjr_readPixels(self._rgb, None, self._rect, self._ctx)
        rgb = np.flipud(self._rgb).copy()  # GL rows start at the bottom

        self._scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = True
        self._scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = True
        try:
            mujoco.mjr_render(self._rect, self._scene, self._ctx)
            mujoco.mjr_readPixels(self._ids, self._zbuf, self._rect, self._ctx)
        finally:
            self._scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = False
            self._scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = False

        # ID colour encodes (scene-geom index + 1) in the RGB bytes, 0 for the background.
        ids = self._ids.astype(np.int32)
        segid = ids[..., 0] + (ids[..., 1] << 8) + (ids[..., 2] << 16)
        ngeom = self._scene.ngeom
        seg_to_geom = np.full(ngeom + 1, -1, dtype=np.int32)
        for i in range(ngeom):
            g = self._scene.geoms[i]
            if g.objtype == mujoco.mjtObj.mjOBJ_GEOM and g.segid >= 0:
                seg_to_geom[g.segid + 1] = g.objid
        geom_ids = seg_to_geom[np.clip(segid, 0, ngeom)]
        geom_ids = np.flipud(geom_ids).copy()
        depth = np.flipud(self.depth_from_buffer(self._zbuf)).copy()
        return RenderedView(rgb=rgb, depth=depth, geom_ids=geom_ids, intrinsics=intrinsics, extrinsics=extrinsics)
