"""parse_answer against the letter a careful human grader gives each answer (None: no single choice).

The options are laid out as TemRobBench renders them (temrobbench/prompt.py, sequences.py): ITS
options are full orderings "a -> b -> c", ETS options are statements '"x" then "y"'. Expectations
were written as a grader would mark the answer, before running the parser; the decisions on
look-alike letters, partial orderings and contradicting letters are documented in the module
docstring of temrobbench/evaluation/answers/parsing.py.
"""

from __future__ import annotations

import pytest

from temrobbench.evaluation.answers.parsing import parse_answer
from temrobbench.evaluation.report.tables import EvalReport

OPTIONS = ["cut wood -> sand it", "sand it -> cut wood", '"a" then "b"', '"b" then "a"']

# The arc-weld ITS item of tests/temrobbench/snapshots/its_light-adversarial-r0.txt.
ITS = (
    "clamp pieces -> clean metal -> weld -> chip slag -> grind seam -> weld",
    "clean metal -> clamp pieces -> weld -> chip slag -> weld -> grind seam",
    "clean metal -> clamp pieces -> weld -> chip slag -> grind seam -> weld",
    "clean metal -> clamp pieces -> weld -> grind seam -> chip slag -> weld",
)
ETS = ('"pour water" then "add salt"', '"add salt" then "pour water"', '"stir" then "add salt"', '"boil" then "stir"')

REASONING_ITS = """Let's analyze each option.
Option A: clamp pieces -> clean metal -> ... This is wrong, because the video starts with cleaning the metal.
Option B: the second weld happens before grinding, which does not match what we see.
Option C: clean metal, clamp, weld, chip slag, grind, then weld again. This matches the frames.
Option D: grinding before chipping the slag is not shown.

Final answer: C"""

CHANGED_MIND = "The first frames show clamping, so the answer is A. Wait, no. Looking again, the metal is cleaned first, so the answer is C."

CASES = [
    # --- short answers, as the prompt asks -------------------------------------------------
    ("B", ITS, "B"),
    ("b", ITS, "B"),
    ("(C)", ITS, "C"),
    ("[D]", ITS, "D"),
    ("D.", ITS, "D"),
    ("C)", ITS, "C"),
    ("  A  \n", ITS, "A"),
    ("Option B", ITS, "B"),
    ("option c", ITS, "C"),
    ("**B**", ITS, "B"),
    ("The answer is C.", ITS, "C"),
    ("Answer: D", ITS, "D"),
    ("answer: (b)", ITS, "B"),
    # --- a letter at the start followed by any separator -----------------------------------
    ("B\n\nExplanation: A is wrong", ITS, "B"),
    ("B: the welding happens after clamping.", ITS, "B"),
    ("C - the grinding comes before the last weld.", ITS, "C"),
    ("C. clean metal -> clamp pieces -> weld -> chip slag -> grind seam -> weld", ITS, "C"),
    ("**C.** The video shows the seam being ground before the final weld.", ITS, "C"),
    ("(B) is the one that matches the video.", ITS, "B"),
    # letter and text disagree: the letter is what the prompt asked for (module docstring)
    ("B. clean metal -> clamp pieces -> weld -> chip slag -> grind seam -> weld", ITS, "B"),
    # --- verbose statements ----------------------------------------------------------------
    ("The correct answer is **C**.", ITS, "C"),
    ("**Answer:** C", ITS, "C"),
    ("Answer: C\nExplanation: In the video the metal is cleaned first, so A cannot be right.", ITS, "C"),
    ("Based on the video, the steps occur in the order shown in option C.", ITS, "C"),
    ("The correct order of the steps in the video is:\n\nC. clean metal -> clamp pieces -> weld -> chip slag -> grind seam -> weld", ITS, "C"),
    ("Option D is correct.", ITS, "D"),
    ("I think B is right", ITS, "B"),
    ("I'm not sure, but I think it's D.", ITS, "D"),
    ("I'd say B, though A is also possible.", ITS, "B"),
    ("I would go with option A.", ITS, "A"),
    ("A careful look at the frames shows that the correct option is C.", ITS, "C"),
    ("A man cleans the metal first and welds last, which is option C.", ITS, "C"),
    ("The option that is correct is B.", ITS, "B"),
    ("Definitely not B, so it must be D.", ITS, "D"),
    ("The answer is not A but C.", ITS, "C"),
    ("Neither A nor B; it's C.", ITS, "C"),
    ("B is incorrect; D is correct.", ITS, "D"),
    # --- long reasoning: the last explicit answer statement wins ---------------------------
    (REASONING_ITS, ITS, "C"),
    (CHANGED_MIND, ITS, "C"),
    ("Step by step: A starts with clamping, B ends with grinding, D grinds before chipping. Therefore, the correct option is C.", ITS, "C"),
    ("**Final Answer**\n\nD", ITS, "D"),
    # --- tagged answers --------------------------------------------------------------------
    ("<answer>B</answer>", ITS, "B"),
    ("I compared the options with the frames.\n<answer> C </answer>", ITS, "C"),
    ("Options A and B are out. The final answer is $\\boxed{D}$.", ITS, "D"),
    ("\\boxed{\\text{B}}", ITS, "B"),
    ("<answer>I cannot tell</answer>", ITS, None),
    # --- reasoning models ------------------------------------------------------------------
    ("<think>The video starts with cleaning, so A is out. B or C? The grind comes before the last weld.</think>\nC", ITS, "C"),
    ("<think>\nA seems likely at first. Actually the answer is B.\n</think>\n\nThe answer is D.", ITS, "D"),
    ("<think>A or B... the clamp is first, so the answer is A", ITS, None),  # unclosed: never answered
    ("<think>I think it is B.</think>", ITS, None),  # closed, but nothing after it
    ("the metal is cleaned first, so C is likely.\n</think>\n\nC", ITS, "C"),  # template opened <think>
    ("<think>comparing the orders</think><answer>B</answer>", ITS, "B"),
    # --- ITS option text -------------------------------------------------------------------
    ("clean metal -> clamp pieces -> weld -> chip slag -> grind seam -> weld", ITS, "C"),
    ("clean metal → clamp pieces → weld → chip slag → grind seam → weld", ITS, "C"),
    ("Clean Metal -> Clamp Pieces -> Weld -> Chip Slag -> Weld -> Grind Seam", ITS, "B"),
    ("clean metal, clamp pieces, weld, chip slag, grind seam, weld", ITS, "C"),
    ("First clean metal, then clamp pieces, then weld, then chip slag, then grind seam, and finally weld.", ITS, "C"),
    ("The steps are performed in this order: clean metal -> clamp pieces -> weld -> chip slag -> grind seam -> weld.", ITS, "C"),
    ("clean metal -> clamp pieces -> weld -> chip slag", ITS, None),  # partial: B and C both start so
    ("clean metal -> clamp pieces -> weld -> grind seam", ITS, None),  # cut-off prefix of D only: not a choice
    ("clean metal -> weld -> clamp pieces -> chip slag -> grind seam -> weld", ITS, None),  # its own order
    ("A. clamp pieces -> clean metal -> weld -> chip slag -> grind seam -> weld\nB. clean metal -> clamp pieces -> weld -> chip slag -> weld -> grind seam\n"
     "C. clean metal -> clamp pieces -> weld -> chip slag -> grind seam -> weld\nD. clean metal -> clamp pieces -> weld -> grind seam -> chip slag -> weld", ITS, None),  # options echoed
    # --- ETS option text -------------------------------------------------------------------
    ('Based on the video, the correct order is "add salt" then "pour water".', ETS, "B"),
    ('"add salt" then "pour water"', ETS, "B"),
    ("add salt then pour water", ETS, "B"),
    ("“add salt” then “pour water”", ETS, "B"),
    ('"add salt" -> "pour water"', ETS, "B"),
    ("Add salt, then pour water.", ETS, "B"),
    ('The correct statement is: "add salt" then "pour water".', ETS, "B"),
    ('Although "pour water" then "add salt" is the usual way, the video shows "add salt" then "pour water".', ETS, "B"),
    ('Either "add salt" then "pour water" or "pour water" then "add salt".', ETS, None),
    ('"add salt" then "pour water" then "stir"', ETS, None),  # a chain answers a different question
    ('"add salt" then "pour"', ETS, None),  # partial
    ('The statement "add salt" then "pour water" is false.', ETS, None),  # quoted to reject it
    ('It is not "pour water" then "add salt".', ETS, None),
    ('A says "pour water" then "add salt", which is the usual order, but B is correct.', ETS, "B"),
    # --- letters in another script ---------------------------------------------------------
    ("Ｂ", ITS, "B"),  # full-width: the same letter from a CJK input method
    ("（Ｃ）", ITS, "C"),
    ("答案：B", ITS, "B"),
    ("Ответ: B", ITS, "B"),  # Latin B in a Russian sentence
    ("В", ITS, None),  # Cyrillic Ve: looks like B, is the third Cyrillic letter; no guess
    ("Ответ: В", ITS, None),
    ("В. clean metal -> clamp pieces -> weld -> chip slag -> weld -> grind seam", ITS, "B"),  # B's full text
    # --- hedges, refusals, non-answers -----------------------------------------------------
    ("A or B", ITS, None),
    ("A, B", ITS, None),
    ("AB", ITS, None),
    ("E", ITS, None),
    ("Either A or C.", ITS, None),
    ("The answer is either B or C.", ITS, None),
    ("The answer is B or D.", ITS, None),
    ("Both A and C are plausible.", ITS, None),
    ("It's definitely not A.", ITS, None),
    ("A is wrong.", ITS, None),
    ("Option A shows the metal cleaned second. Option B shows the grinding last.", ITS, None),
    ("I'm sorry, but I can't determine the order of the steps from these frames.", ITS, None),
    ("I cannot see the video. Please provide options A-D again.", ITS, None),
    ("None of the options match the video.", ITS, None),
    ("none of them", ITS, None),
    ("A person cleans the metal and then clamps the pieces.", ITS, None),  # the article, no choice
    ("", ITS, None),
    ("   ", ITS, None),
]


@pytest.mark.parametrize("text, options, expected", CASES)
def test_grader_reading(text, options, expected):
    assert parse_answer(text, "ABCD", options) == expected


def test_table_is_large():
    assert len(CASES) >= 60


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


def test_without_options_letters_still_read():
    assert parse_answer("The correct answer is (C).", "ABCD") == "C"
    assert parse_answer('the correct order is "add salt" then "pour water"', "ABCD") is None


def test_invalid_rate_is_in_every_report():
    """An unparsed answer is role ``invalid``; the report must show how often that happened."""
    records = []
    for item_id, clean, adversarial in [("a", "correct", "correct"), ("b", "invalid", "invalid"), ("c", "correct", "shortcut"), ("d", "correct", "invalid")]:
        records.append(dict(item_id=item_id, perturbation="intrinsic", category="light", setting="clean", round=0, role=clean))
        records += [dict(item_id=item_id, perturbation="intrinsic", category="light", setting="adversarial", round=r, role=adversarial) for r in range(4)]
    report = EvalReport.from_records(records, model="m", scoring="generate")
    invalid = report.metrics["light"]["invalid_rate"]
    assert invalid == pytest.approx(100 * 9 / 20)  # b: 5 of its 5 queries, d: 4 of 5
    markdown = report.to_markdown()
    header = next(line for line in markdown.splitlines() if line.startswith("| Group"))
    assert "Invalid" in header
    light_row = next(line for line in markdown.splitlines() if line.startswith("| light "))
    column = [c.strip() for c in header.split("|")].index("Invalid")
    assert light_row.split("|")[column].strip() == f"{invalid:.1f}"
