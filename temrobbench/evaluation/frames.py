"""Uniform frame sampling, decoded once per video file and shared by all its queries."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def uniform_indices(total: int, num_frames: int) -> list[int]:
    """``num_frames`` indices spread evenly over ``total`` frames (segment centres).

    >>> uniform_indices(100, 4), uniform_indices(3, 5)
    ([12, 37, 62, 87], [0, 1, 2])
    """
    if total <= 0:
        return []
    if num_frames >= total:
        return list(range(total))
    step = total / num_frames
    return [int(step * i + step / 2) for i in range(num_frames)]


class SampledFrames(list):
    """Frames (a plain list of H x W x 3 uint8 arrays) that also know when they were taken.

    ``video_metadata`` is what transformers' video processors take to write true timestamps into
    the prompt (Qwen3-VL, Qwen3.5, GLM-4.1V, Gemma 4, VideoLLaMA3 do): the source's fps, its frame
    count and the sampled indices. Without it they assume a frame rate (24 fps) and every frame of
    a 60-second video would be labelled within its first second. A list subclass, so every caller
    that wants only the frames is unchanged.
    """

    video_metadata: dict[str, Any] | None = None


def decode_frames(video: Any, num_frames: int) -> SampledFrames:
    """Sample ``num_frames`` RGB frames (H x W x 3 uint8) from a video, with their timing
    (:class:`SampledFrames`).

    ``video`` is a path, raw bytes, a ``{"path", "bytes"}`` dict (a ``datasets`` Video value with
    ``decode=False``) or a torchcodec ``VideoDecoder``.
    """
    from torchcodec.decoders import VideoDecoder

    if isinstance(video, dict):
        video = video.get("bytes") or video.get("path")
    decoder = video if isinstance(video, VideoDecoder) else VideoDecoder(video if not isinstance(video, io.BytesIO) else video.getvalue())
    total = decoder.metadata.num_frames or len(decoder)
    indices = uniform_indices(total, num_frames)
    if not indices:
        raise ValueError("video has no frames")
    batch = decoder.get_frames_at(indices=indices).data  # (N, C, H, W) uint8
    frames = SampledFrames(batch.permute(0, 2, 3, 1).contiguous().numpy())
    fps = decoder.metadata.average_fps
    if fps:
        frames.video_metadata = {"fps": float(fps), "total_num_frames": int(total), "frames_indices": list(indices)}
    return frames
