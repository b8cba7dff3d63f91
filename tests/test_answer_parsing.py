from __future__ import annotations

import pytest

from temrobbench.evaluation.answer_parsing import parse_answer

OPTIONS = ["cut wood -> sand it", "sand it -> cut wood", '"a" then "b"', '"b" then "a"']


@pytest.mark.parametrize(
    "text, expected",
    [
        ("B", "B"), ("b", "B"), ("(B)", "B"), ("B.", "B"), ("B)", "B"), ("[C]", "C"), ("D. sand it", "D"),
        ("The answer is A", "A"), ("The answer is (C).", "C"), ("Answer: D", "D"), ("answer: (b)", "B"),
        ("Option C", "C"), ("  A  \n", "A"), ("sand it -> cut wood", "B"), ('"b" then "a"', "D"),
        ("I think B is right", "B"),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_answer(text, "ABCD", OPTIONS) == expected


@pytest.mark.parametrize("text", ["", "   ", "A or B", "E", "none of them", "I cannot tell from the video.", "AB"])
def test_invalid_forms(text):
    assert parse_answer(text, "ABCD", OPTIONS) is None
