"""Video decoding, clip encoding and clip concatenation with PyAV (in-process FFmpeg + libx264).

The build decodes a source video once, sequentially, and encodes each event clip once into a
small in-memory MP4. Every output video (clean order, edited orders) is then a *remux* of those
clips' packets in another order: no second decode, no second encode. Each clip starts with its
own keyframe, so any order of clips is a valid stream, and all clips of a video share one encoder
configuration, hence one codec header.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import av
import cv2
import numpy as np

from temrobbench.utils.files import atomic_path


class VideoDecodeError(RuntimeError):
    """A video file is missing, unreadable, or shorter than its annotations say."""


@dataclass(frozen=True)
class EncodeSettings:
    """How event clips are encoded (H.264, yuv420p: plays in browsers and on the Hub viewer)."""

    max_height: int = 360
    max_fps: float = 30.0
    crf: int = 23
    preset: str = "veryfast"

    def x264_options(self) -> dict[str, str]:
        # One thread and no B-frames: x264 output is then byte-identical across runs and machines
        # with the same FFmpeg build, and packets need no reordering when clips are concatenated.
        return {"crf": str(self.crf), "preset": self.preset, "bf": "0", "x264-params": "threads=1:lookahead-threads=1"}


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    duration: float
    width: int
    height: int


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, duration and size of a video file; raises :class:`VideoDecodeError`."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = 0.0
            if fps <= 0 or stream.codec_context.width <= 0:
                raise VideoDecodeError(f"{path}: cannot read frame rate or size")
            return VideoInfo(fps, duration, stream.codec_context.width, stream.codec_context.height)
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, OSError) as err:
        raise VideoDecodeError(f"{path}: cannot open video ({err})") from None


def output_size(width: int, height: int, max_height: int) -> tuple[int, int]:
    """Size after scaling down to at most ``max_height`` rows.

    The width is a multiple of 64 and the height of 4. x264's SIMD row copies read past the end
    of rows whose chroma width is not a multiple of 32, into uninitialised buffer padding: about
    one clip in a hundred then came out different from run to run. At widths that are multiples
    of 64 the encoded bytes are reproducible; the price is an aspect change of at most 32 px
    (none for the usual 640x360).

    >>> output_size(1280, 720, 360), output_size(480, 360, 360), output_size(90, 62, 360)
    ((640, 360), (512, 360), (64, 60))
    """
    scale = min(1.0, max_height / height)
    w = max(64, int(round(width * scale / 64)) * 64)
    h = max(4, int(height * scale) // 4 * 4)
    return w, h


def output_fps(source_fps: float, max_fps: float) -> Fraction:
    """The clip frame rate: the source's (as an exact fraction when it is NTSC-like), capped."""
    fps = Fraction(source_fps).limit_denominator(1001)
    return fps if fps <= max_fps else Fraction(max_fps).limit_denominator(1001)


def _decoded_frames(path: str, start_at: float) -> Iterator[av.VideoFrame]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # FFmpeg's frame/slice threads: decoded pictures are exact
        if start_at > 1.0:
            # One seek to the keyframe before the first event skips decoding the video's intro.
            container.seek(int(max(0.0, start_at - 1.0) / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time is not None:
                yield frame


def _yuv420_copy(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """``frame`` as planar YUV 4:2:0 at the output size, in NumPy memory of its own.

    FFmpeg's scaler runs threads of its own, and with them the encoded bytes depended on timing
    (rarely, under load). Sources are almost always yuv420p already: their planes are copied as
    they are and scaled with OpenCV, so the output is byte-identical run to run.
    """
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p", threads=1)
    planes = frame.to_ndarray()  # (H * 3 / 2, W): Y, then U and V stacked
    if (frame.width, frame.height) == (width, height):
        return planes
    h, w = frame.height, frame.width
    y = cv2.resize(planes[:h], (width, height), interpolation=cv2.INTER_AREA)
    chroma = planes[h:].reshape(2, h // 2, w // 2)
    u, v = (cv2.resize(c, (width // 2, height // 2), interpolation=cv2.INTER_AREA) for c in chroma)
    return np.concatenate([y, u.reshape(height // 4, width), v.reshape(height // 4, width)])


def rgb_to_yuv420(rgb: np.ndarray) -> np.ndarray:
    """An RGB frame (even sides) as the planar YUV 4:2:0 array ``from_ndarray`` takes."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)


class _ClipEncoder:
    """Encodes one clip into an in-memory MP4 (its own keyframe first)."""

    def __init__(self, width: int, height: int, fps: Fraction, settings: EncodeSettings) -> None:
        self.buffer = io.BytesIO()
        self.container = av.open(self.buffer, "w", format="mp4")
        self.stream = self.container.add_stream("libx264", rate=fps, options=settings.x264_options())
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        # PyAV otherwise opens encoders with automatic threading, and x264's threaded rate
        # control makes the bytes depend on timing: parallelism comes from build workers instead.
        self.stream.codec_context.thread_count = 1
        self.stream.codec_context.thread_type = "NONE"
        self.width, self.height = width, height
        self.time_base = Fraction(1) / fps
        self.count = 0

    def add_yuv(self, planes: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts, frame.time_base = self.count, self.time_base
        self.count += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def finish(self) -> bytes:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        return self.buffer.getvalue()


@dataclass(frozen=True)
class EncodedClips:
    """Event clips of one video, each a complete MP4 in memory, in annotation order."""

    clips: list[bytes]
    fps: float
    frame_counts: list[int]

    @property
    def duration(self) -> float:
        """Seconds of video the clips make once concatenated, in any order."""
        return sum(self.frame_counts) / self.fps


def encode_event_clips(
    path: str | os.PathLike,
    segments: Sequence[tuple[float, float]],
    settings: EncodeSettings = EncodeSettings(),
) -> EncodedClips:
    """Decode ``path`` once and encode each ``[start, end)`` segment as its own MP4 clip.

    Frames are resampled onto the output frame-rate grid (the latest decoded frame at or before
    each grid time), which also regularises variable-frame-rate sources. Segments must be sorted
    and non-overlapping.
    """
    path = str(path)
    info = probe_video(path)
    fps = output_fps(info.fps, settings.max_fps)
    width, height = output_size(info.width, info.height, settings.max_height)
    # Grid times of every output frame, per segment, consumed in order as frames decode.
    grids = [[start + k / fps for k in range(max(1, round((end - start) * fps)))] for start, end in segments]
    clips: list[bytes] = []
    encoder = _ClipEncoder(width, height, fps, settings)
    seg, k = 0, 0
    previous: np.ndarray | None = None
    previous_time = 0.0

    def emit() -> None:
        # One encoder at a time: a clip is finished before the next one starts.
        nonlocal seg, k, encoder
        encoder.add_yuv(previous)
        k += 1
        if k == len(grids[seg]):
            clips.append(encoder.finish())
            seg, k = seg + 1, 0
            if seg < len(grids):
                encoder = _ClipEncoder(width, height, fps, settings)

    try:
        for frame in _decoded_frames(path, segments[0][0] if segments else 0.0):
            while seg < len(grids) and previous is not None and grids[seg][k] < frame.time:
                emit()
            if seg == len(grids):
                break
            previous, previous_time = _yuv420_copy(frame, width, height), frame.time
        # The last decoded frame covers the grid times after it, up to the video's end.
        while seg < len(grids) and previous is not None and grids[seg][k] < previous_time + 1.5 / info.fps:
            emit()
    except av.error.FFmpegError as err:
        raise VideoDecodeError(f"{path}: decoding failed ({err})") from None
    if seg < len(grids):
        start, end = segments[seg]
        raise VideoDecodeError(
            f"{path}: segment {seg} [{start}, {end}] s has no frames: the video ends at {previous_time:.2f} s"
        )
    return EncodedClips(clips, float(fps), [len(g) for g in grids])


def concat_clips(clips: Sequence[bytes], order: Iterable[int], out_path: str | os.PathLike) -> None:
    """Write the clips in ``order`` as one MP4 by remuxing their packets (no re-encoding).

    The file appears at ``out_path`` only once complete (written beside it, then renamed).
    """
    inputs = [av.open(io.BytesIO(clips[i])) for i in order]
    headers = {bytes(inp.streams.video[0].codec_context.extradata or b"") for inp in inputs}
    if len(headers) != 1:
        raise ValueError("clips were encoded with different settings and cannot be concatenated")
    with atomic_path(out_path) as tmp:
        with av.open(tmp, "w", format="mp4") as out:
            stream = out.add_stream_from_template(inputs[0].streams.video[0])
            offset = 0
            for inp in inputs:
                end = offset
                for packet in inp.demux(inp.streams.video[0]):
                    if packet.size == 0:  # the demuxer's end-of-stream marker
                        continue
                    packet.pts += offset
                    packet.dts += offset
                    end = max(end, packet.pts + packet.duration)
                    packet.stream = stream
                    out.mux(packet)
                offset = end
    for inp in inputs:
        inp.close()


def write_video(frames: Iterable[np.ndarray], fps: float, out_path: str | os.PathLike, settings: EncodeSettings = EncodeSettings()) -> None:
    """Encode RGB frames (H x W x 3 uint8) as an H.264 MP4 at ``out_path``, atomically."""
    encoder: _ClipEncoder | None = None
    for rgb in frames:
        if encoder is None:
            h, w = rgb.shape[:2]
            encoder = _ClipEncoder(w, h, Fraction(fps).limit_denominator(1001), settings)
        encoder.add_yuv(rgb_to_yuv420(rgb))
    if encoder is None:
        raise ValueError("no frames to write")
    with atomic_path(out_path) as tmp:
        Path(tmp).write_bytes(encoder.finish())


def read_frames(path: str | os.PathLike | io.BytesIO) -> list[np.ndarray]:
    """All frames of a video (a path or an in-memory file) as RGB arrays (tests, small videos)."""
    try:
        with av.open(path if isinstance(path, io.BytesIO) else str(path)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except av.error.FFmpegError as err:
        raise VideoDecodeError(f"{path}: decoding failed ({err})") from None
