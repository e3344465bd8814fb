"""MP4 encoding and segment decoding with PyAV.

LeRobot v3.0 concatenates the episodes of one camera into a single mp4; an episode is the segment
``[from_timestamp, to_timestamp)``. Frames are written with ``pts = frame number`` in a ``1/fps``
time base, so a timestamp maps to a frame exactly and decoding a segment is a seek plus a short
decode.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from workbench.types import DataError, LazyFrames

__all__ = ["VideoWriter", "write_video", "read_video_segment", "read_video_frame", "video_frames", "probe_video", "video_info"]


class VideoWriter:
    """Append RGB frames ``(H, W, 3) uint8`` to an mp4.

    ``lossless=True`` uses ``libx264rgb`` at ``crf=0`` so frames read back bit-identical (tests,
    archival); otherwise H.264 yuv420p at the given ``crf`` (the samples).
    """

    def __init__(self, path: str | Path, fps: float, *, crf: int = 23, lossless: bool = False, gop: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(fps).limit_denominator(1000)
        codec = "libx264rgb" if lossless else "libx264"
        self._stream = self._container.add_stream(codec, rate=rate)
        self._stream.time_base = Fraction(1, 1) / rate
        self._stream.pix_fmt = "rgb24" if lossless else "yuv420p"
        # A key frame every second keeps segment seeks short; no B-frames keeps pts == decode order.
        self._stream.options = {
            "crf": "0" if lossless else str(crf),
            "g": str(gop or max(1, round(fps))),
            "bf": "0",
            "preset": "veryfast",
            "forced-idr": "1",  # a frame asked to be a key frame is an IDR frame a decoder can start at
        }
        self._n = 0
        self._shape: tuple[int, int] | None = None

    def write(self, frame: np.ndarray, *, keyframe: bool = False) -> None:
        """Append one frame; ``keyframe`` makes it a key frame (LeRobot v3.0 starts every episode's
        segment on one, so a reader can cut the segment out without decoding what precedes it)."""
        frame = np.ascontiguousarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if self._shape is None:
            self._shape = frame.shape[:2]
            self._stream.height, self._stream.width = self._shape
        elif frame.shape[:2] != self._shape:
            raise ValueError(f"{self.path}: frame size changed from {self._shape} to {frame.shape[:2]}")
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        vf.pts = self._n
        if keyframe:
            vf.pict_type = av.video.frame.PictureType.I
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self._n += 1

    @property
    def frames_written(self) -> int:
        return self._n

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(path: str | Path, frames: np.ndarray, fps: float, **kw) -> None:
    with VideoWriter(path, fps, **kw) as w:
        for f in frames:
            w.write(f)


def probe_video(path: str | Path) -> tuple[int, float]:
    """Number of frames and fps of the first video stream; :class:`DataError` if unreadable."""
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            n = s.frames
            fps = float(s.average_rate or s.guessed_rate or 0)
            if n == 0 and s.duration is not None and s.time_base is not None and fps:
                n = int(round(float(s.duration * s.time_base) * fps))
            return int(n), fps
    except (av.error.FFmpegError, IndexError, OSError) as e:
        raise DataError(path, f"cannot open video: {e}") from e


def video_info(path: str | Path) -> dict:
    """The ``info`` LeRobot keeps for a video feature (``get_video_info`` in lerobot v0.4)."""
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            fmt = s.pix_fmt or ""
            return {
                "video.height": s.height,
                "video.width": s.width,
                "video.codec": s.codec_context.codec.canonical_name,
                "video.pix_fmt": s.pix_fmt,
                "video.fps": int(s.base_rate),
                "video.channels": 1 if "gray" in fmt else 4 if fmt.startswith(("rgba", "yuva", "bgra", "argb")) else 3,
                "has_audio": bool(c.streams.audio),
            }
    except (av.error.FFmpegError, IndexError, OSError) as e:
        raise DataError(path, f"cannot open video: {e}") from e


def read_video_segment(path: str | Path, from_timestamp: float, n_frames: int, *, episode: int | None = None) -> np.ndarray:
    """Decode ``n_frames`` RGB frames starting at ``from_timestamp`` seconds → ``(n, H, W, 3) uint8``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file is missing", episode=episode)
    out: list[np.ndarray] = []
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            tb = s.time_base
            first = int(round(from_timestamp / float(tb))) if tb else 0
            if from_timestamp > 0:
                c.seek(first, stream=s, backward=True, any_frame=False)
            half = 0.5 / float(s.average_rate or 1) / float(tb) if tb else 0
            for frame in c.decode(s):
                if frame.pts is not None and frame.pts < first - half:
                    continue
                out.append(frame.to_ndarray(format="rgb24"))
                if len(out) == n_frames:
                    break
    except av.error.FFmpegError as e:
        raise DataError(path, f"video is corrupt or truncated: {e}", episode=episode) from e
    if len(out) != n_frames:
        raise DataError(
            path,
            f"video segment at {from_timestamp:.3f}s has {len(out)} frames, expected {n_frames} (truncated video?)",
            episode=episode,
        )
    return np.stack(out)


def read_video_frame(path: str | Path, from_timestamp: float, index: int, fps: float, *, episode: int | None = None) -> np.ndarray:
    """Decode frame ``index`` of the segment starting at ``from_timestamp`` seconds alone → ``(H, W, 3) uint8``."""
    return read_video_segment(path, from_timestamp + index / fps, 1, episode=episode)[0]


def video_frames(path: str | Path, from_timestamp: float, n_frames: int, fps: float, *, episode: int | None = None) -> LazyFrames:
    """The ``n_frames`` frames of the segment starting at ``from_timestamp`` seconds, decoded on
    first access; indexing one frame first decodes that frame alone (:func:`read_video_frame`)."""
    return LazyFrames(n_frames, lambda: read_video_segment(path, from_timestamp, n_frames, episode=episode),
                      lambda i: read_video_frame(path, from_timestamp, i, fps, episode=episode))  # fmt: skip
