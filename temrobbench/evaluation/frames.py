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


def decode_frames(video: Any, num_frames: int) -> list[np.ndarray]:
    """Sample ``num_frames`` RGB frames (H x W x 3 uint8) from a video.

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
    return [frame for frame in batch.permute(0, 2, 3, 1).contiguous().numpy()]
