"""Synthetic camera recordings: moving coloured rectangles over a static grey texture, H.264 or H.265 in mp4,
plain or fragmented (`moof` fragments after an empty `moov`, as Kerberos agents write them).

The ground truth (each shape's box at any time) is known, so detections can be checked in source pixels.
Colours are pure red, green and blue on a grey background: the hand-built detector keys on exactly that.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.stream import VideoStream
from numpy.typing import NDArray

COLOURS: dict[str, tuple[int, int, int]] = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
CACHE = Path(os.environ.get("VAULTEXT_FIXTURE_CACHE", Path.home() / ".cache" / "vaultext-fixtures"))


@dataclass(frozen=True)
class Shape:
    label: str
    width: int
    height: int
    start: tuple[float, float]  # top-left corner at t=0, pixels
    velocity: tuple[float, float]  # pixels per second

    def box_at(self, time_s: float) -> tuple[float, float, float, float]:
        x = self.start[0] + self.velocity[0] * time_s
        y = self.start[1] + self.velocity[1] * time_s
        return (x, y, x + self.width, y + self.height)


@dataclass(frozen=True)
class RecordingSpec:
    width: int = 640
    height: int = 360
    seconds: float = 4.0
    fps: int = 10
    gop_seconds: float = 2.0
    seed: int = 0
    noise: int = 0  # amplitude of per-frame sensor noise: raises the bitrate towards a real camera's
    codec: str = "h264"  # or "hevc"
    fragmented: bool = False

    def shapes(self) -> list[Shape]:
        """Three shapes, one per colour, each moving inside its own horizontal band: they never overlap and
        stay inside the picture for the whole recording."""
        rng = np.random.default_rng(self.seed)
        shapes = []
        band = self.height / len(COLOURS)
        for row, label in enumerate(COLOURS):
            w = int(self.width * rng.uniform(0.10, 0.18))
            h = int(band * rng.uniform(0.4, 0.8))
            top = row * band
            x0 = float(rng.uniform(0, self.width - w))
            y0 = float(rng.uniform(top, top + band - h))
            x1 = float(rng.uniform(0, self.width - w))
            y1 = float(rng.uniform(top, top + band - h))
            velocity = ((x1 - x0) / self.seconds, (y1 - y0) / self.seconds)
            shapes.append(Shape(label, w, h, (x0, y0), velocity))
        return shapes

    def boxes_at(self, time_s: float) -> dict[str, tuple[float, float, float, float]]:
        return {shape.label: shape.box_at(self.frame_time(time_s)) for shape in self.shapes()}

    def frame_time(self, time_s: float) -> float:
        """Frames are drawn at whole frame indexes: the picture shown at `time_s`."""
        return round(time_s * self.fps) / self.fps

    def key(self) -> str:
        text = f"v2-{self.width}x{self.height}-{self.seconds}-{self.fps}-{self.gop_seconds}-{self.seed}-{self.noise}"
        if self.codec != "h264" or self.fragmented:
            text += f"-{self.codec}-{'fragmented' if self.fragmented else 'plain'}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _background(width: int, height: int, seed: int) -> NDArray[np.uint8]:
    rng = np.random.default_rng(seed + 1000)
    coarse = rng.integers(30, 140, size=(height // 16 + 1, width // 16 + 1), dtype=np.uint8)
    grey = np.kron(coarse, np.ones((16, 16), dtype=np.uint8))[:height, :width]
    return np.repeat(grey[:, :, None], 3, axis=2)


ENCODERS = {"h264": ("libx264", "x264-params"), "hevc": ("libx265", "x265-params")}


def render(spec: RecordingSpec) -> bytes:
    """Encode the recording to mp4 bytes (yuv420p, a keyframe every `gop_seconds`, no scene-cut keys)."""
    background = _background(spec.width, spec.height, spec.seed)
    shapes = spec.shapes()
    gop = max(1, round(spec.fps * spec.gop_seconds))
    rng = np.random.default_rng(spec.seed + 2000)
    buffer = io.BytesIO()
    encoder, params = ENCODERS[spec.codec]
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if spec.fragmented else {}
    with av.open(buffer, mode="w", format="mp4", options=options) as container:
        stream = container.add_stream(encoder, rate=spec.fps)
        assert isinstance(stream, VideoStream)  # the encoder names are video codecs
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, spec.fps)
        settings = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0"
        if spec.codec == "hevc":
            settings += ":log-level=error"
        stream.options = {"preset": "veryfast", params: settings}
        for index in range(round(spec.seconds * spec.fps)):
            picture = background.copy()
            if spec.noise:
                grain = rng.integers(-spec.noise, spec.noise + 1, size=picture.shape[:2], dtype=np.int16)
                picture = np.clip(picture + grain[:, :, None], 0, 255).astype(np.uint8)
            for shape in shapes:
                x1, y1, x2, y2 = (round(v) for v in shape.box_at(index / spec.fps))
                picture[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = COLOURS[shape.label]
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def cached_recording(spec: RecordingSpec) -> Path:
    """The recording's mp4 file, rendered once and cached on disk."""
    path = CACHE / "recordings" / f"{spec.width}x{spec.height}-{spec.key()}.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(render(spec))
        temporary.replace(path)
    return path
