"""Bad COIN annotations: a clear message naming the video id and field, or a counted skip."""

from __future__ import annotations

import json

import pytest

from temrobbench.source.coin import CoinFormatError, is_safe_video_id, load_coin
from temrobbench.source.eligibility import ineligibility_reason


def _entry(segments, labels=None, duration=100.0):
    labels = labels or [f"step {i}" for i in range(len(segments))]
    return {
        "class": "ArcWeld",
        "recipe_type": "7",
        "subset": "training",
        "duration": duration,
        "annotation": [{"id": str(i), "segment": s, "label": l} for i, (s, l) in enumerate(zip(segments, labels))],
    }


GOOD = [[0, 8], [10, 18], [20, 28], [30, 38], [40, 48]]


def _load(tmp_path, database):
    path = tmp_path / "COIN.json"
    path.write_text(json.dumps({"database": database}))
    return load_coin(path)


def test_missing_database_names_the_file(tmp_path):
    path = tmp_path / "COIN.json"
    path.write_text(json.dumps({"videos": {}}))
    with pytest.raises(CoinFormatError, match=r"COIN\.json.*'database'"):
        load_coin(path)


def test_not_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"database": {')
    with pytest.raises(CoinFormatError, match="broken.json: not valid JSON"):
        load_coin(path)


@pytest.mark.parametrize(
    "segment, reason, field_name, text",
    [
        ([12, 12], "bad_segment", "annotation[1].segment", "end <= start"),
        ([14, 11], "bad_segment", "annotation[1].segment", "end <= start"),
        ([10, 180], "bad_segment", "annotation[1].segment", "past the video's duration"),
        (["ten", 18], "bad_annotation", "annotation[1].segment[0]", "not a number"),
        ([10, None], "bad_annotation", "annotation[1].segment[1]", "not a number"),
        ([10, "nan"], "bad_annotation", "annotation[1].segment[1]", "not a finite number"),
    ],
)
def test_bad_segments_are_reported_by_video_and_field(tmp_path, segment, reason, field_name, text):
    segments = [list(s) for s in GOOD]
    segments[1] = segment
    coin = _load(tmp_path, {"good": _entry(GOOD), "bad": _entry(segments)})
    assert [v.video_id for v in coin.videos] == ["good"]
    (problem,) = coin.problems
    assert problem.video_id == "bad" and problem.reason == reason and problem.field == field_name
    assert "'bad'" in problem.message and text in problem.message and "COIN.json" in problem.message


def test_numeric_strings_are_accepted(tmp_path):
    segments = [[str(a), str(b)] for a, b in GOOD]
    coin = _load(tmp_path, {"v": _entry(segments)})
    assert coin.videos[0].steps[0].end == 8.0 and not coin.problems


@pytest.mark.parametrize("video_id, ok", [("-9cGe2ub8Ds", True), ("a_b-C9", True), ("a/b", False), ("..", False), ("a\\b", False), ("", False), ("x y", False)])
def test_video_ids(tmp_path, video_id, ok):
    assert is_safe_video_id(video_id) is ok
    coin = _load(tmp_path, {video_id: _entry(GOOD)})
    if ok:
        assert coin.videos[0].video_id == video_id
    else:
        assert coin.problems[0].reason == "bad_video_id" and coin.problems[0].field == "database key"


def test_steps_are_sorted_by_start(tmp_path):
    coin = _load(tmp_path, {"v": _entry(list(reversed(GOOD)), labels=list("edcba"))})
    assert [s.label for s in coin.videos[0].steps] == list("abcde")


def test_ineligible_videos_have_reasons(tmp_path):
    coin = _load(
        tmp_path,
        {
            "few": _entry(GOOD[:4]),
            "repeat": _entry(GOOD, labels=["a", "b", "B ", "c", "d"]),
            "distinct": _entry(GOOD, labels=["a", "b", "a", "c", "a"]),
            "short": _entry([[0, 2], [3, 5], [6, 8], [9, 11], [12, 14]]),
            "overlap": _entry([[0, 8], [7, 18], [20, 28], [30, 38], [40, 48]]),
            "ok": _entry(GOOD),
        },
    )
    reasons = {v.video_id: ineligibility_reason(v) for v in coin.videos}
    assert reasons == {
        "few": "too_few_steps",
        "repeat": "repeated_consecutive_label",
        "distinct": "too_few_distinct_labels",
        "short": "total_duration_out_of_range",
        "overlap": "overlapping_segments",
        "ok": None,
    }
