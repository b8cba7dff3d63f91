"""Rejected videos as the paper's appendix B.1 defines them, the zoom kept under its own name, one
strategy list everywhere, and v' seeded per (seed, example, epoch)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from panodpo.rejected_videos import (
    STRATEGIES,
    RejectedVideoSettings,
    crop_window,
    make_rejected_video,
    remove_area_frames,
    removed_window,
    zoom_frames,
)

# Nonzero everywhere, so a blanked pixel is exactly a removed one.
FRAMES = [np.random.RandomState(i).randint(1, 255, (40, 60, 3), dtype=np.uint8) for i in range(8)]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_crop_removes_twenty_percent_of_each_frame_at_a_random_place_per_frame():
    out, windows = remove_area_frames(FRAMES, 0.2, random.Random(0))
    assert len(out) == len(FRAMES)
    for frame, edited, (top, left, h, w) in zip(FRAMES, out, windows):
        assert edited.shape == frame.shape and edited.dtype == frame.dtype  # frame size unchanged, no resize
        removed = (edited == 0).all(axis=2)
        assert removed.sum() == h * w == pytest.approx(0.2 * 40 * 60, rel=0.05)  # 20% of the area
        assert removed[top : top + h, left : left + w].all()
        kept = ~removed
        assert np.array_equal(edited[kept], frame[kept])  # the rest untouched
    assert len({(t, l) for t, l, _, _ in windows}) > 1  # a place drawn per frame, not one for the video


def test_removed_window_stays_inside_the_frame():
    for seed in range(50):
        top, left, h, w = removed_window(40, 60, 0.2, random.Random(seed))
        assert 0 <= top <= 40 - h and 0 <= left <= 60 - w


def test_crop_strategy_is_the_paper_crop_and_zoom_the_former_one():
    crop = make_rejected_video(FRAMES, "crop", seed=0, example_id="x")
    assert all(f.shape == g.shape for f, g in zip(crop, FRAMES))
    assert all(((f == 0).all(axis=2).mean() == pytest.approx(0.2, rel=0.05)) for f in crop)
    zoom = make_rejected_video(FRAMES, "zoom", seed=0, example_id="x")
    top, left, ch, cw = crop_window(40, 60, 0.2, random.Random("panodpo-rejected-video:0:x"))
    expected, window = zoom_frames(FRAMES, 0.2, random.Random("panodpo-rejected-video:0:x"))
    assert window == (top, left, ch, cw) and _same(zoom, expected)
    assert not any((f == 0).all(axis=2).any() for f in zoom)  # a zoom blanks nothing


def test_one_strategy_list_for_config_prepare_and_docs():
    from dataclasses import fields
    from pathlib import Path

    from panodpo import PanoDPOConfig
    from panodpo.cli import _prepare_parser

    assert "zoom" in STRATEGIES and "crop" in STRATEGIES
    choices = next(f for f in fields(PanoDPOConfig) if f.name == "rejected_video_strategy").metadata["choices"]
    assert list(choices) == list(STRATEGIES)
    action = next(a for a in _prepare_parser()._actions if "--rejected-video-strategy" in a.option_strings)
    assert list(action.choices) == list(STRATEGIES)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    assert all(f"`{name}`" in docs for name in STRATEGIES)
    for name in STRATEGIES:
        RejectedVideoSettings(name)  # every listed strategy is made


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_seeded_per_example_and_epoch(strategy):
    kwargs = dict(seed=3, example_id="v_1", num_segments=4)
    first = make_rejected_video(FRAMES, strategy, epoch=1, **kwargs)
    assert _same(first, make_rejected_video(FRAMES, strategy, epoch=1, **kwargs))  # same (seed, example, epoch): same v'
    epoch0 = make_rejected_video(FRAMES, strategy, **kwargs)
    assert _same(epoch0, make_rejected_video(FRAMES, strategy, epoch=0, **kwargs))  # epoch 0 is the default
    others = [make_rejected_video(FRAMES, strategy, epoch=e, **kwargs) for e in range(2, 8)]
    assert any(not _same(first, o) for o in others + [epoch0])  # another epoch: another draw
