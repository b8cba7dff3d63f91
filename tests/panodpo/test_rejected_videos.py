"""Rejected-video transforms: each one's definition, and seeding per example."""

from __future__ import annotations

import math
import random

import cv2
import numpy as np
import pytest

from panodpo.rejected_videos import blank_frames, crop_frames, crop_window, make_rejected_video, shuffle_frames

FRAMES = [np.random.RandomState(i).randint(0, 255, (40, 60, 3), dtype=np.uint8) for i in range(8)]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_shuffle_is_a_non_identity_permutation_of_the_frames():
    for seed in range(20):
        out, order = shuffle_frames(FRAMES, random.Random(seed))
        assert sorted(order) == list(range(8)) and order != list(range(8))
        assert _same(out, [FRAMES[i] for i in order])


def test_crop_removes_twenty_percent_of_the_area_and_keeps_the_size():
    for seed in range(10):
        top, left, ch, cw = crop_window(40, 60, 0.2, random.Random(seed))
        assert ch * cw == pytest.approx(0.8 * 40 * 60, rel=0.05)
        assert 0 <= top <= 40 - ch and 0 <= left <= 60 - cw
        out, window = crop_frames(FRAMES, 0.2, random.Random(seed))
        assert window == (top, left, ch, cw)
        expected = [cv2.resize(np.ascontiguousarray(f[top : top + ch, left : left + cw]), (60, 40), interpolation=cv2.INTER_LINEAR) for f in FRAMES]
        assert _same(out, expected) and out[0].shape == FRAMES[0].shape


def test_replace_blanks_half_of_the_frames():
    out, blanked = blank_frames(FRAMES, 0.5, random.Random(3))
    assert len(blanked) == 4
    for i, frame in enumerate(out):
        assert (frame == 0).all() if i in blanked else np.array_equal(frame, FRAMES[i])


@pytest.mark.parametrize("strategy", ["shuffle", "crop", "replace"])
def test_seeded_per_example(strategy):
    a = make_rejected_video(FRAMES, strategy, seed=0, example_id="x")
    assert _same(a, make_rejected_video(FRAMES, strategy, seed=0, example_id="x"))
    others = [make_rejected_video(FRAMES, strategy, seed=0, example_id=f"y{i}") for i in range(5)]
    assert any(not _same(a, o) for o in others)
    assert not _same(a, FRAMES)


def test_unknown_strategy():
    with pytest.raises(ValueError, match="shuffle, crop, replace"):
        make_rejected_video(FRAMES, "reverse", seed=0, example_id="x")


def test_shuffle_segments_keeps_segments_together():
    from panodpo.rejected_videos import shuffle_segments

    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(10)]
    for seed in range(10):
        out, order = shuffle_segments(frames, 5, random.Random(seed))
        values = [int(f[0, 0, 0]) for f in out]
        assert sorted(order) == list(range(5)) and order != list(range(5))
        assert values == [v for i in order for v in (2 * i, 2 * i + 1)]


def test_swap_segments_swaps_exactly_one_adjacent_pair_of_segments():
    from panodpo.rejected_videos import swap_segments

    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(10)]
    positions = set()
    for seed in range(20):
        out, order = swap_segments(frames, 5, random.Random(seed))
        moved = [k for k in range(5) if order[k] != k]
        assert len(moved) == 2 and moved[1] == moved[0] + 1  # one adjacent pair, nothing else
        assert order[moved[0]] == moved[1] and order[moved[1]] == moved[0]
        assert [int(f[0, 0, 0]) for f in out] == [v for i in order for v in (2 * i, 2 * i + 1)]
        positions.add(moved[0])
    assert positions == {0, 1, 2, 3}  # every adjacent pair can be the swapped one
    first, again = (make_rejected_video(frames, "swap_segments", seed=1, example_id="a", num_segments=5) for _ in range(2))
    assert [int(f[0, 0, 0]) for f in first] == [int(f[0, 0, 0]) for f in again]  # seeded per example


def test_random_resized_crop_is_mdpos_crop_on_every_frame():
    from panodpo.rejected_videos import random_resized_crop_frames, resized_crop_window

    areas = []
    for seed in range(50):
        top, left, ch, cw = resized_crop_window(40, 60, random.Random(seed))
        assert 0 <= top <= 40 - ch and 0 <= left <= 60 - cw
        areas.append(ch * cw / (40 * 60))
        # torchvision's sampling: a share of 1-20% of the area (to the pixel), aspect ratio within 3/4-4/3 (to the pixel)
        assert 0.01 * 0.6 <= areas[-1] <= 0.2 * 1.25 and 3 / 4 * 0.7 <= cw / ch <= 4 / 3 / 0.7
        out, window = random_resized_crop_frames(FRAMES, random.Random(seed))
        assert window == (top, left, ch, cw)  # one window, the same in every frame, scaled back
        expected = [cv2.resize(np.ascontiguousarray(f[top : top + ch, left : left + cw]), (60, 40), interpolation=cv2.INTER_LINEAR) for f in FRAMES]
        assert _same(out, expected) and out[0].shape == FRAMES[0].shape
    assert min(areas) < 0.07 and max(areas) > 0.14  # drawn across the range, not one size
    first = make_rejected_video(FRAMES, "random_resized_crop", seed=0, example_id="a")
    assert _same(first, make_rejected_video(FRAMES, "random_resized_crop", seed=0, example_id="a"))
    assert not _same(first, make_rejected_video(FRAMES, "random_resized_crop", seed=0, example_id="a", epoch=1))
    tiny = [np.random.RandomState(i).randint(0, 255, (4, 4, 3), dtype=np.uint8) for i in range(2)]
    assert not _same(make_rejected_video(tiny, "random_resized_crop", seed=0, example_id="a"), tiny)  # never the whole frame
