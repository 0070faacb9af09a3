"""Decode sampled frames of an in-memory recording with PyAV.

The file is demuxed once (cheap: no decoding), the plan is made from the packets' keyframe times, and only
the packets a plan needs are decoded: for keyframe plans just those keyframes. Each kept frame is scaled and
converted to RGB in one swscale pass (`to_ndarray(width=, height=, format=)`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from vaultext_worker.runtime.errors import BadVideoError
from vaultext_worker.runtime.sampling import SamplePlan, plan_sampling

Image = NDArray[np.uint8]
SizeFor = Callable[[int, int], tuple[int, int]]
_EPSILON_S = 1e-3


@dataclass
class RecordingInfo:
    source_width: int = 0
    source_height: int = 0
    duration_s: float = 0.0
    plan: SamplePlan = field(default_factory=lambda: SamplePlan("all"))


@dataclass
class DecodedRecording(RecordingInfo):
    images: list[Image] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


@dataclass
class _Demuxed:
    packets: list[av.Packet[Any]]
    times: list[float]
    keyframe_indexes: list[int]
    duration_s: float


@dataclass(frozen=True)
class _Clock:
    """Frames drained from the decoder carry no time base: use the stream's."""

    time_base: Fraction
    base: float

    def seconds(self, frame: av.VideoFrame) -> float:
        return float(frame.pts * self.time_base) - self.base if frame.pts is not None else 0.0


def _same_size(width: int, height: int) -> tuple[int, int]:
    return width, height


def _clock(stream: av.VideoStream) -> _Clock:
    if stream.time_base is None:
        raise BadVideoError("the video stream has no time base")
    base = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    return _Clock(Fraction(stream.time_base), base)


def _demux(container: av.container.InputContainer, stream: av.VideoStream, clock: _Clock) -> _Demuxed:
    base = clock.base
    packets: list[av.Packet[Any]] = []
    times: list[float] = []
    keyframes: list[int] = []
    end = 0.0
    for packet in container.demux(stream):
        if packet.size == 0 or packet.pts is None:
            continue
        time = float(packet.pts * packet.time_base) - base
        if packet.is_keyframe:
            keyframes.append(len(packets))
        packets.append(packet)
        times.append(time)
        end = max(end, time + float((packet.duration or 0) * packet.time_base))
    if not packets:
        raise BadVideoError("the video stream holds no packets")
    if not keyframes:
        keyframes.append(0)
    return _Demuxed(packets, times, keyframes, end)


def _frames(context: av.VideoCodecContext, packets: list[av.Packet[Any]], drain: bool) -> Iterator[av.VideoFrame]:
    for packet in packets:
        yield from context.decode(packet)
    if drain:
        yield from context.decode(None)


class RecordingDecoder:
    """Iterates over the sampled frames of an in-memory recording as (seconds, RGB image) pairs.

    Frames come out one at a time, so memory holds only what the consumer keeps; `info` is filled in
    before the first frame is produced.
    """

    def __init__(
        self,
        data: bytes,
        mode: str = "even",
        frames: int = 5,
        interval_s: float = 1.0,
        size_for: SizeFor = _same_size,
        threads: int = 0,
    ) -> None:
        self.data, self.mode, self.frames, self.interval_s = data, mode, frames, interval_s
        self.size_for, self.threads = size_for, threads
        self.info = RecordingInfo()

    def __iter__(self) -> Iterator[tuple[float, Image]]:
        if not self.data:
            raise BadVideoError("the recording is empty (0 bytes)")
        produced = 0
        try:
            with av.open(io.BytesIO(self.data), mode="r") as container:
                if not container.streams.video:
                    raise BadVideoError("the file holds no video stream")
                stream = container.streams.video[0]
                context = stream.codec_context
                context.thread_type = "AUTO"
                context.thread_count = self.threads
                clock = _clock(stream)
                demuxed = _demux(container, stream, clock)
                keyframe_times = [demuxed.times[index] for index in demuxed.keyframe_indexes]
                plan = plan_sampling(self.mode, demuxed.duration_s, keyframe_times, self.frames, self.interval_s)
                width, height = context.width, context.height
                if width <= 0 or height <= 0:
                    raise BadVideoError(f"the video stream has no picture size ({width}x{height})")
                self.info = RecordingInfo(width, height, demuxed.duration_s, plan)
                target_w, target_h = self.size_for(width, height)
                for time, frame in _decode_plan(context, demuxed, plan, clock):
                    image = frame.to_ndarray(width=target_w, height=target_h, format="rgb24")
                    produced += 1
                    yield time, np.asarray(image, dtype=np.uint8)
        except av.FFmpegError as error:
            raise BadVideoError(f"cannot decode the recording: {error}") from error
        if not produced:
            raise BadVideoError("no frame could be decoded")


def decode_recording(
    data: bytes,
    mode: str = "even",
    frames: int = 5,
    interval_s: float = 1.0,
    size_for: SizeFor = _same_size,
    threads: int = 0,
) -> DecodedRecording:
    """Decode all the frames a sampling mode asks for; every image is RGB at `size_for(source w, h)`."""
    decoder = RecordingDecoder(data, mode, frames, interval_s, size_for, threads)
    pairs = list(decoder)
    info = decoder.info
    return DecodedRecording(
        info.source_width,
        info.source_height,
        info.duration_s,
        info.plan,
        images=[image for _, image in pairs],
        times=[time for time, _ in pairs],
    )


def _decode_plan(
    context: av.VideoCodecContext, demuxed: _Demuxed, plan: SamplePlan, clock: _Clock
) -> Iterator[tuple[float, av.VideoFrame]]:
    if plan.kind == "all":
        return ((clock.seconds(frame), frame) for frame in _frames(context, demuxed.packets, drain=True))
    if plan.kind == "keyframes":
        wanted = set(plan.times)
        packets = [demuxed.packets[i] for i in demuxed.keyframe_indexes if demuxed.times[i] in wanted]
        return ((clock.seconds(frame), frame) for frame in _frames(context, packets, drain=True))
    return _decode_exact(context, demuxed, plan, clock)


def _keyframe_before(demuxed: _Demuxed, time: float) -> int:
    chosen = demuxed.keyframe_indexes[0]
    for index in demuxed.keyframe_indexes:
        if demuxed.times[index] <= time + _EPSILON_S:
            chosen = index
    return chosen


def _decode_exact(
    context: av.VideoCodecContext, demuxed: _Demuxed, plan: SamplePlan, clock: _Clock
) -> Iterator[tuple[float, av.VideoFrame]]:
    """First frame at or after each planned time; jumps to a later keyframe instead of decoding a long gap."""
    targets = sorted(plan.times)
    picked: av.VideoFrame | None = None
    last: tuple[float, av.VideoFrame] | None = None
    position = _keyframe_before(demuxed, targets[0]) if targets else 0
    step = 0
    packets = demuxed.packets
    while step < len(targets) and position <= len(packets):
        draining = position == len(packets)
        frames = list(context.decode(None if draining else packets[position]))
        position += 1
        for frame in sorted(frames, key=lambda f: f.pts or 0):
            time = clock.seconds(frame)
            last = (time, frame)
            while step < len(targets) and time + _EPSILON_S >= targets[step]:
                if picked is not frame:
                    picked = frame
                    yield time, frame
                step += 1
        if draining:
            break
        if step < len(targets) and frames:
            jump = _keyframe_before(demuxed, targets[step])
            if jump > position:
                context.flush_buffers()
                position = jump
    if step < len(targets) and last is not None and picked is not last[1]:
        yield last  # the recording ends before the last planned time: keep its final frame
