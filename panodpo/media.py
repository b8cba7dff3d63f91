"""Frames of a training example's video: a video file, a folder of frames, or a datasets Video.

Paths come from data (a jsonl row, a dataset column): with a media root they are taken under it
and refused when they would leave it (``..``, an absolute path elsewhere, a symlink pointing out,
also a frame file of a frames folder), so data never makes a run read files it was not given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from temrobbench.evaluation.frames import SampledFrames, decode_frames, uniform_indices
from temrobbench.utils.files import FRAME_EXTENSIONS, contained_path

#: The frame rate a folder of frames is taken to have (its frames are 1/fps seconds apart): what
#: `panodpo prepare` encodes such a folder at (``--frames-fps``) and the timing sampled frames of a
#: folder carry (``video_metadata``), so families that print timestamps print these. 2 fps is the
#: rate of LLaVA-Hound-DPO's own frame extractor (``llava_hound_dpo/inference/inference_utils.py``:
#: ``ffmpeg -vf "scale=336:-1,fps=2"``), the pipeline ShareGPTVideo's frames come from; its dataset
#: card does not state the rate (see docs/training.md).
DEFAULT_FRAMES_FPS = 2.0


class MediaOutsideRoot(ValueError):
    """A video path from data, or a frame file of its folder, that resolves outside its media root."""

    def __init__(self, path: str | os.PathLike, root: str | os.PathLike) -> None:
        super().__init__(f"{os.fspath(path)!r} leads outside the media folder {os.fspath(root)} (after resolving '..', absolute paths and symlinks)")
        self.path, self.root = os.fspath(path), os.fspath(root)


def resolve_media(video: Any, media_root: str | os.PathLike | None) -> Any:
    """A path under ``media_root`` (relative, or absolute inside it); anything not a path is
    returned as is, and so is a path when there is no ``media_root``.

    Raises :class:`MediaOutsideRoot` for a path that resolves outside ``media_root``.
    """
    if not isinstance(video, (str, os.PathLike)) or media_root is None:
        return video
    inside = contained_path(media_root, video)
    if inside is None:
        raise MediaOutsideRoot(video, media_root)
    return str(inside)


def frame_files(folder: str | os.PathLike, media_root: str | os.PathLike | None = None) -> list[Path]:
    """The frame images of ``folder`` in natural order (frame_2 before frame_10).

    With ``media_root``, a frame file that resolves outside it (a symlink pointing out) raises
    :class:`MediaOutsideRoot`: it is never read.
    """
    files = [p for p in Path(folder).iterdir() if p.suffix.lower() in FRAME_EXTENSIONS]
    if media_root is not None:
        for path in files:
            if contained_path(media_root, os.path.abspath(path)) is None:
                raise MediaOutsideRoot(path, media_root)
    return sorted(files, key=lambda p: (len(p.stem), p.stem))


def load_frames(video: Any, num_frames: int, media_root: str | os.PathLike | None = None,
                frames_fps: float = DEFAULT_FRAMES_FPS) -> list[np.ndarray]:
    """``num_frames`` RGB frames sampled uniformly (H x W x 3 uint8), with their timing
    (:class:`~temrobbench.evaluation.frames.SampledFrames`: a video file's own fps; a frames
    folder's ``frames_fps``).

    ``video``: a path to a video file or to a folder of frames (ShareGPTVideo's layout), taken
    under ``media_root`` when one is given (and refused with :class:`MediaOutsideRoot` when it
    leaves it); a ``{"path", "bytes"}`` dict; or a torchcodec ``VideoDecoder``.
    """
    video = resolve_media(video, media_root)
    if isinstance(video, (str, os.PathLike)) and Path(video).is_dir():
        files = frame_files(video, media_root)
        if not files:
            raise FileNotFoundError(f"{video}: no frame images ({', '.join(FRAME_EXTENSIONS)})")
        if not frames_fps > 0:
            raise ValueError(f"frames_fps must be > 0, not {frames_fps}")
        indices = uniform_indices(len(files), num_frames)
        frames = SampledFrames()
        for i in indices:
            image = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{files[i]}: not a readable image")
            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        frames.video_metadata = {"fps": float(frames_fps), "total_num_frames": len(files), "frames_indices": list(indices)}
        return frames
    if isinstance(video, (str, os.PathLike)) and not Path(video).is_file():
        raise FileNotFoundError(f"{video}: no such video file or frames folder")
    return decode_frames(str(video) if isinstance(video, os.PathLike) else video, num_frames)
