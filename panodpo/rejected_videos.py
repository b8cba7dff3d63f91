"""Rejected videos v' made on the fly from the sampled frames, seeded per (example, epoch).

The paper's three (appendix B.1):

- ``shuffle``: the frames in a random order other than the original (the paper's best ablation);
- ``crop``: ``crop_area_ratio`` of each frame's area is removed (blanked to black): a rectangle of
  the frame's aspect ratio at a random place drawn anew for every frame; the frame keeps its size
  (B.1: "randomly remove 20% of the area in each frame");
- ``replace``: ``blank_frame_ratio`` of the frames (rounded) are replaced by black frames;

and this project's:

- ``zoom``: the former ``crop``: one random window keeping ``1 - crop_area_ratio`` of the area
  (same aspect ratio, same place in every frame) scaled back to the full size;
- ``shuffle_segments``: the frames cut into ``num_segments`` contiguous segments whose order is
  shuffled (frames of one segment stay together): an edited video whose events are reordered, the
  harder rejected video of the mini reproduction (one segment per event);
- ``swap_segments``: the same segments with exactly one adjacent pair swapped: the smallest
  reordering, shaped like the benchmark's light edit (the hardest rejected video of these);

and mDPO's (luka-group/mDPO, ``bunny/modeling_bunny_phi.py``, ``crop_images``: torchvision's
``RandomResizedCrop(scale=(0.01, 0.2))`` of the image), for video:

- ``random_resized_crop``: one window of 1-20% of the frame's area (aspect ratio between 3/4 and
  4/3, torchvision's sampling) at the same place in every frame, scaled back to the full size.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

#: Every rejected-video strategy: the one list the training config's choices, ``panodpo prepare``'s
#: flags and the docs take.
STRATEGIES = ("shuffle", "crop", "replace", "zoom", "shuffle_segments", "swap_segments", "random_resized_crop")


def example_rng(seed: int, example_id: str, epoch: int = 0) -> random.Random:
    """The generator of one example's rejected video in one epoch (string seeds hash stably across
    runs and processes, so every rank draws the same v'). Epoch 0 keeps the seed string of the
    per-example v' before epochs counted, so a precomputed reference and materialized v' match.

    >>> example_rng(0, "a").random() == example_rng(0, "a", 0).random() != example_rng(0, "a", 1).random()
    True
    """
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, not {epoch}")
    suffix = f":{epoch}" if epoch else ""
    return random.Random(f"panodpo-rejected-video:{seed}:{example_id}{suffix}")


def shuffle_frames(frames: Sequence[np.ndarray], rng: random.Random) -> tuple[list[np.ndarray], list[int]]:
    """Frames in a random order that differs from the original whenever there are 2+ frames.

    >>> frames = [np.full((2, 2, 3), i, np.uint8) for i in range(4)]
    >>> _, order = shuffle_frames(frames, random.Random(0))
    >>> sorted(order) == [0, 1, 2, 3] and order != [0, 1, 2, 3]
    True
    """
    order = list(range(len(frames)))
    if len(order) > 1:
        while order == sorted(order):
            rng.shuffle(order)
    return [frames[i] for i in order], order


def crop_window(height: int, width: int, area_ratio: float, rng: random.Random) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) of a window keeping ``1 - area_ratio`` of the area."""
    scale = math.sqrt(1.0 - area_ratio)
    ch, cw = max(1, round(height * scale)), max(1, round(width * scale))
    return rng.randint(0, height - ch), rng.randint(0, width - cw), ch, cw


def zoom_frames(frames: Sequence[np.ndarray], area_ratio: float, rng: random.Random) -> tuple[list[np.ndarray], tuple[int, int, int, int]]:
    """The ``zoom`` strategy: one window keeping ``1 - area_ratio`` of the area, at the same place
    in every frame, scaled back to the frame size; returns the frames and the window."""
    h, w = frames[0].shape[:2]
    top, left, ch, cw = crop_window(h, w, area_ratio, rng)
    out = [cv2.resize(np.ascontiguousarray(f[top : top + ch, left : left + cw]), (w, h), interpolation=cv2.INTER_LINEAR) for f in frames]
    return out, (top, left, ch, cw)


#: The zoom under its name before ``crop`` followed the paper (kept for callers of that name).
crop_frames = zoom_frames


def removed_window(height: int, width: int, area_ratio: float, rng: random.Random) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a rectangle covering ``area_ratio`` of a frame (the frame's
    aspect ratio, rounded to whole pixels) at a random place.

    >>> top, left, h, w = removed_window(100, 200, 0.2, random.Random(0))
    >>> (h, w), 0 <= top <= 100 - h and 0 <= left <= 200 - w
    ((45, 89), True)
    """
    scale = math.sqrt(area_ratio)
    rh, rw = min(height, max(1, round(height * scale))), min(width, max(1, round(width * scale)))
    return rng.randint(0, height - rh), rng.randint(0, width - rw), rh, rw


def remove_area_frames(frames: Sequence[np.ndarray], area_ratio: float, rng: random.Random) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """The ``crop`` strategy (the paper's, B.1): ``area_ratio`` of every frame's area blanked to
    black, at a place drawn anew for each frame; frame sizes unchanged. Returns the frames and the
    removed rectangle of each."""
    out, windows = [], []
    for frame in frames:
        top, left, rh, rw = removed_window(frame.shape[0], frame.shape[1], area_ratio, rng)
        edited = np.array(frame, copy=True)
        edited[top : top + rh, left : left + rw] = 0
        out.append(edited)
        windows.append((top, left, rh, rw))
    return out, windows


def blank_frames(frames: Sequence[np.ndarray], ratio: float, rng: random.Random) -> tuple[list[np.ndarray], list[int]]:
    count = round(ratio * len(frames))
    blanked = sorted(rng.sample(range(len(frames)), count))
    out = [np.zeros_like(f) if i in blanked else f for i, f in enumerate(frames)]
    return out, blanked


def _segments(frames: Sequence[np.ndarray], num_segments: int) -> list[list[np.ndarray]]:
    """Contiguous segments of (nearly) equal length, at most one per frame."""
    count = max(1, min(num_segments, len(frames)))
    bounds = [round(i * len(frames) / count) for i in range(count + 1)]
    return [list(frames[bounds[i] : bounds[i + 1]]) for i in range(count)]


def _concatenate(segments: list[list[np.ndarray]], order: list[int]) -> list[np.ndarray]:
    return [frame for i in order for frame in segments[i]]


def shuffle_segments(frames: Sequence[np.ndarray], num_segments: int, rng: random.Random) -> tuple[list[np.ndarray], list[int]]:
    """Contiguous segments of (nearly) equal length in a shuffled, non-identity order.

    >>> frames = [np.full((1, 1, 3), i, np.uint8) for i in range(6)]
    >>> out, order = shuffle_segments(frames, 3, random.Random(0))
    >>> [int(f[0, 0, 0]) for f in out], order
    ([0, 1, 4, 5, 2, 3], [0, 2, 1])
    """
    segments = _segments(frames, num_segments)
    _, order = shuffle_frames(segments, rng)
    return _concatenate(segments, order), order


def swap_segments(frames: Sequence[np.ndarray], num_segments: int, rng: random.Random) -> tuple[list[np.ndarray], list[int]]:
    """Contiguous segments with one random adjacent pair swapped (identity for a single segment).

    >>> frames = [np.full((1, 1, 3), i, np.uint8) for i in range(6)]
    >>> out, order = swap_segments(frames, 6, random.Random(1))
    >>> [int(f[0, 0, 0]) for f in out], order
    ([0, 2, 1, 3, 4, 5], [0, 2, 1, 3, 4, 5])
    """
    segments = _segments(frames, num_segments)
    order = list(range(len(segments)))
    if len(order) > 1:
        i = rng.randrange(len(order) - 1)
        order[i], order[i + 1] = order[i + 1], order[i]
    return _concatenate(segments, order), order


#: mDPO's crop: the share of the area kept, and the aspect ratios (torchvision's RandomResizedCrop defaults).
MDPO_CROP_SCALE = (0.01, 0.2)
MDPO_CROP_RATIO = (3 / 4, 4 / 3)


def resized_crop_window(height: int, width: int, rng: random.Random, scale: tuple[float, float] = MDPO_CROP_SCALE,
                        ratio: tuple[float, float] = MDPO_CROP_RATIO) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a window drawn as torchvision's ``RandomResizedCrop.get_params``
    draws it (area share uniform in ``scale``, log aspect ratio uniform in ``ratio``, 10 tries, then a
    centre crop), from ``rng``; a side is at least 1 pixel (tiny test frames).

    >>> top, left, h, w = resized_crop_window(100, 200, random.Random(0))
    >>> 0.01 * 100 * 200 * 0.8 <= h * w <= 0.2 * 100 * 200 * 1.2 and top + h <= 100 and left + w <= 200
    True
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = max(1, round(math.sqrt(target_area * aspect)))
        h = max(1, round(math.sqrt(target_area / aspect)))
        if w <= width and h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop_frames(frames: Sequence[np.ndarray], rng: random.Random) -> tuple[list[np.ndarray], tuple[int, int, int, int]]:
    """The ``random_resized_crop`` strategy (mDPO's corruption, for video): one window of 1-20% of
    the area, the same in every frame (a video of one small region, as mDPO's image is one), scaled
    back to the frame size; returns the frames and the window."""
    h, w = frames[0].shape[:2]
    top, left, ch, cw = resized_crop_window(h, w, rng)
    out = [cv2.resize(np.ascontiguousarray(f[top : top + ch, left : left + cw]), (w, h), interpolation=cv2.INTER_LINEAR) for f in frames]
    return out, (top, left, ch, cw)


@dataclass(frozen=True)
class RejectedVideoSettings:
    """How v' is made from the sampled frames: the one definition the training config, the
    collator, ``panodpo prepare --materialize-rejected-videos`` and both command lines share.

    >>> RejectedVideoSettings("crop", crop_area_ratio=0.3).strategy
    'crop'
    >>> RejectedVideoSettings("flip")
    Traceback (most recent call last):
    ...
    ValueError: rejected_video_strategy must be one of shuffle, crop, replace, zoom, shuffle_segments, swap_segments, random_resized_crop, not 'flip'
    """

    strategy: str = "shuffle"
    crop_area_ratio: float = 0.2
    blank_frame_ratio: float = 0.5
    num_segments: int = 4

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"rejected_video_strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        if not 0 < self.crop_area_ratio < 1:
            raise ValueError("crop_area_ratio must be in (0, 1)")
        if not 0 < self.blank_frame_ratio <= 1:
            raise ValueError("blank_frame_ratio must be in (0, 1]")
        if self.num_segments < 1:
            raise ValueError("num_video_segments must be >= 1")

    def make(self, frames: Sequence[np.ndarray], *, seed: int, example_id: str, epoch: int = 0) -> list[np.ndarray]:
        """The rejected video of one example in one epoch (same seed, id and epoch: same frames,
        run after run and on every rank)."""
        return make_rejected_video(frames, self.strategy, seed=seed, example_id=example_id, epoch=epoch, crop_area_ratio=self.crop_area_ratio,
                                   blank_frame_ratio=self.blank_frame_ratio, num_segments=self.num_segments)


def make_rejected_video(
    frames: Sequence[np.ndarray],
    strategy: str,
    *,
    seed: int,
    example_id: str,
    epoch: int = 0,
    crop_area_ratio: float = 0.2,
    blank_frame_ratio: float = 0.5,
    num_segments: int = 4,
) -> list[np.ndarray]:
    """The rejected video of one example in one epoch (same seed, id and epoch: same frames, run
    after run). The trainer passes the epoch with a live reference (v' drawn anew each epoch) and
    0 with a precomputed one (v' fixed, as its reference log-prob)."""
    rng = example_rng(seed, example_id, epoch)
    if strategy == "shuffle":
        return shuffle_frames(frames, rng)[0]
    if strategy == "crop":
        return remove_area_frames(frames, crop_area_ratio, rng)[0]
    if strategy == "zoom":
        return zoom_frames(frames, crop_area_ratio, rng)[0]
    if strategy == "replace":
        return blank_frames(frames, blank_frame_ratio, rng)[0]
    if strategy == "shuffle_segments":
        return shuffle_segments(frames, num_segments, rng)[0]
    if strategy == "swap_segments":
        return swap_segments(frames, num_segments, rng)[0]
    if strategy == "random_resized_crop":
        return random_resized_crop_frames(frames, rng)[0]
    raise ValueError(f"unknown rejected_video_strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
