"""Frames of a training example's video: a video file, a folder of frames, or a datasets Video."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from temrobbench.evaluation.frames import decode_frames, uniform_indices
from temrobbench.utils.files import FRAME_EXTENSIONS



def resolve_media(video: Any, media_root: str | os.PathLike | None) -> Any:
    """A relative path is taken under ``media_root``; anything else is returned as is."""
    if isinstance(video, str) and media_root is not None and not os.path.isabs(video):
        return str(Path(media_root) / video)
    return video


def frame_files(folder: str | os.PathLike) -> list[Path]:
    files = [p for p in Path(folder).iterdir() if p.suffix.lower() in FRAME_EXTENSIONS]
    # Natural order: frame_2 before frame_10.
    return sorted(files, key=lambda p: (len(p.stem), p.stem))


def load_frames(video: Any, num_frames: int, media_root: str | os.PathLike | None = None) -> list[np.ndarray]:
    """``num_frames`` RGB frames sampled uniformly (H x W x 3 uint8).

    ``video``: a path to a video file or to a folder of frames (ShareGPTVideo's layout), relative
    paths under ``media_root``; a ``{"path", "bytes"}`` dict; or a torchcodec ``VideoDecoder``.
    """
    video = resolve_media(video, media_root)
    if isinstance(video, (str, os.PathLike)) and Path(video).is_dir():
        files = frame_files(video)
        if not files:
            raise FileNotFoundError(f"{video}: no frame images ({', '.join(FRAME_EXTENSIONS)})")
        frames = []
        for i in uniform_indices(len(files), num_frames):
            image = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{files[i]}: not a readable image")
            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return frames
    if isinstance(video, (str, os.PathLike)) and not Path(video).is_file():
        raise FileNotFoundError(f"{video}: no such video file or frames folder")
    return decode_frames(str(video) if isinstance(video, os.PathLike) else video, num_frames)
