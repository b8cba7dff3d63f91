"""Extract the chosen option letter from a model's free-text answer, the way a human grader reads it.

In ``generate`` scoring an unparsed answer is role ``invalid`` and counts as wrong, so every miss
here lowers accuracy and moves FR for verbose models; every wrong guess is worse, because it turns a
non-answer into a choice. The parser therefore reads every form in which a model clearly chose one
option, and returns None whenever a careful grader could not say which one it chose.

Order of reading (the first that gives an answer wins):

1. Reasoning: only what follows ``</think>`` counts; an unclosed ``<think>`` with nothing after it is
   no answer.
2. Tagged answers, ``<answer>B</answer>`` or ``\\boxed{B}`` (the last one).
3. Explicit answer statements ("The answer is B", "Final answer: B", "the correct order is <text of
   an option>", "B is correct", "I'd go with B"); the last one wins over letters mentioned in the
   reasoning, and a last statement that hedges ("A or B") is no answer.
4. A letter at the start followed by any separator ("B", "(B)", "B.", "B:", "B - ", "B\\n\\n...").
5. The full text of exactly one option inside a sentence, with any step separator ("->", "→",
   ", then", commas) and quotes or not.
6. A single option letter standing alone in the text, not negated ("not A", "A is wrong") and not
   the article "A" ("A man cuts...").

Decisions a grader has to make, written down:

- Full-width letters ("Ｂ", "（Ｂ）") are the same letters typed with a CJK input method: read them
  (NFKC folds them). Cyrillic or Greek look-alikes ("В", "Β") are other letters: "В" is the *third*
  letter of the Cyrillic alphabet, so it may mean C as well as B; no guess, None (the option's full
  text next to it still counts, through rule 5).
- A letter that contradicts the option text written next to it ("B. <text of C>"): the letter is
  what the prompt asked for, so the letter counts.
- A partial ordering (a prefix of one option, e.g. an answer cut off by the token limit) is not a
  choice: None, even when only one option starts that way.
- An ordering that merely contains an ETS statement (``"x" then "y" then "z"``) answers a different
  question: None.
- Several options listed in turn ("A. ...\\nB. ...") without a statement: None.

Compared with the two common toolkits:

- lmms-eval, ``lmms_eval/tasks/videomme/utils.py`` (``extract_characters_regex``, EvolvingLMMs-Lab/
  lmms-eval): strips a few "The answer is" prefixes and then takes the *first* capital A-D anywhere.
  That is looser than this parser where it misreads: the article in "A man welds..." reads A, "Not A,
  the answer is B" reads A, "A or B" reads A, and letters inside a ``<think>`` block count. It is
  stricter where it misses: the text of an option ("add salt" then "pour water") reads nothing, and
  tags/boxed letters only work if no other capital comes first. Here the last explicit statement
  wins, hedges and negations give None, and option text is read.
- VLMEvalKit, ``vlmeval/utils/matching_util.py`` (open-compass/VLMEvalKit): ``can_infer_option``
  splits on punctuation and accepts a letter only when exactly one option letter appears as a token
  in the whole answer, so "B\\n\\nExplanation: A is wrong" fails there (two letters) and "It is not
  A" reads A; ``can_infer_text`` then accepts any option that is a plain substring of the answer
  (no word or step boundaries, so an ETS pair inside a longer chain counts). What both miss goes to
  an LLM judge (``extract_answer_from_item`` in ``vlmeval/dataset/utils/multiple_choice.py``). This
  parser has no judge (a pure function, no API key, reproducible), so it reads more statement forms
  than ``can_infer_option`` and is stricter than ``can_infer_text``: an option's text counts only as
  a whole ordering, not continued by further steps, and separators may differ (arrows, "then",
  commas). A miss stays visible: ``invalid`` is reported per group in every report.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

#: Returned by a statement that names two options without choosing ("A or B"): no answer.
_HEDGE = "hedge"

# Words after an uppercase "A" that make it a letter, not the article ("A is wrong", "A because").
_VERBS_AFTER_LETTER = (
    "is|was|seems|looks|appears|matches|fits|shows|describes|lists|has|and|or|would|could|should|"
    "might|must|can|cannot|can't|does|doesn't|isn't|because|since|as|but|though|although|then"
)


@dataclass(frozen=True)
class _Choices:
    """The letters shown and each option's text in comparable (canonical) form."""

    letters: tuple[str, ...]
    options: tuple[str, ...]  # canonical option texts, aligned with letters ("" when not given)

    @property
    def alternatives(self) -> str:
        return "|".join(map(re.escape, self.letters))


def parse_answer(text: str, letters: Sequence[str], options: Sequence[str] = ()) -> str | None:
    """The letter a model chose, or None when its answer names no single option.

    Reads short letters ("B", "(B)", "B.", "B) text"), answer statements ("The answer is B",
    "Answer: (B)", "Final answer: B"), tags, ``<think>`` output and the text of one option; the
    module docstring gives the order and the cases a grader has to decide.

    >>> [parse_answer(t, "ABCD") for t in ["B", "(c)", "D.", "The answer is A.", "Answer: (B) foo"]]
    ['B', 'C', 'D', 'A', 'B']
    >>> parse_answer("cut -> sand", "ABCD", ["sand -> cut", "cut -> sand", "x", "y"])
    'B'
    >>> parse_answer("A or B", "ABCD") is None, parse_answer("", "ABCD") is None
    (True, True)
    >>> parse_answer("B\\n\\nExplanation: A is wrong", "ABCD")
    'B'
    >>> parse_answer('Based on the video, the correct order is "add salt" then "pour water".', "ABCD",
    ...              ['"pour water" then "add salt"', '"add salt" then "pour water"', "x", "y"])
    'B'
    >>> parse_answer("<think>A? No, maybe D.</think>\\nThe answer is C.", "ABCD")
    'C'
    """
    if not text:
        return None
    answer = _after_reasoning(text)
    if answer is None:
        return None
    answer = _clean_surface(answer)
    choices = _Choices(
        letters=tuple(letter.upper() for letter in letters),
        options=tuple(_canonical(option) for option in options) + ("",) * (len(letters) - len(options)),
    )
    tagged = _tagged_answer(answer)
    if tagged is not None:
        # A tag is the model's own marking of its answer: what is inside decides, nothing else.
        return _read(tagged, choices)
    return _read(answer, choices)


# --- surface clean-up -------------------------------------------------------------------------


def _after_reasoning(text: str) -> str | None:
    """The part of a reasoning model's output that is its answer (None: it never finished thinking).

    Some chat templates put ``<think>`` into the prompt, so the output may hold only ``</think>``.
    """
    closing = text.rfind("</think>")
    if closing >= 0:
        return text[closing + len("</think>") :]
    if "<think>" in text:
        return None  # unclosed: everything after it is thinking, cut off before an answer
    return text


def _clean_surface(text: str) -> str:
    """Fold full-width forms and drop markdown emphasis, which carry no meaning for the choice."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[*`]+|__|^#+\s*", "", text, flags=re.MULTILINE)
    return text.strip()


def _canonical(text: str) -> str:
    """An option text or answer in comparable form: lower case, no quotes, one step separator.

    Steps may be written "a -> b", "a → b", '"a" then "b"', "a, then b", "first a, and finally b";
    all become "a > b". Plain commas stay (", "), so a comma-separated ordering can be compared too.

    >>> _canonical('“Add salt”  then  "pour water".')
    'add salt > pour water.'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[\"“”„«»'‘’`*]", "", text)
    separator = r"\s*(?:->|→|⟶|=>|⇒|>|,?\s*(?:and\s+)?(?:then|finally|followed\s+by)\b)\s*"
    text = re.sub(separator, " > ", text)
    text = re.sub(r",\s*and\s+", ", ", text)
    return re.sub(r"\s+", " ", text).strip()


# --- readers, strongest first -----------------------------------------------------------------


def _read(text: str, choices: _Choices) -> str | None:
    """Rules 3-6 of the module docstring on text without reasoning or tags."""
    for reader in (_last_statement, _leading_letter, _quoted_option, _lone_letter):
        found = reader(text, choices)
        if found == _HEDGE:
            return None
        if found is not None:
            return found
    return None


def _tagged_answer(text: str) -> str | None:
    """Content of the last ``<answer>...</answer>`` or ``\\boxed{...}``, None when there is none."""
    tags = [(m.start(), m.group(1)) for m in re.finditer(r"<answer>(.*?)</answer>", text, re.DOTALL | re.IGNORECASE)]
    for m in re.finditer(r"\\boxed\s*\{", text):
        content = _braced(text, m.end())
        if content is not None:
            tags.append((m.start(), re.sub(r"\\(?:text|mathrm|textbf)\s*\{([^{}]*)\}", r"\1", content)))
    if not tags:
        return None
    return max(tags)[1].strip()


def _braced(text: str, start: int) -> str | None:
    """Text from ``start`` up to the brace that closes the one just before it."""
    depth = 1
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return None


def _last_statement(text: str, choices: _Choices) -> str | None:
    """The choice of the last explicit answer statement (or ``_HEDGE``), None when there is none.

    Two forms: an announcement followed by the answer ("the answer is B", "the correct order is
    <option text>", "I'd go with B"), and an endorsement of a letter ("B is correct"). Reasoning
    mentions letters freely ("option A shows..."), so only these forms count, and the last wins:
    models state their conclusion at the end.
    """
    found: list[tuple[int, str]] = []
    for position, tail in _announcements(text, choices):
        choice = _leading_choice(tail, choices, at_start=False)
        if choice is not None:
            found.append((position, choice))
    letter = rf"(?:[\(\[](?P<bracketed>{choices.alternatives})[\)\]]|(?-i:(?P<bare>{choices.alternatives})))"
    endorsement = (
        rf"(?<![\w'’]){letter}(?![\w'’])\s+(?:is|seems|appears|looks)\s+(?:to\s+be\s+)?(?:the\s+)?"
        rf"(?:correct|right|true|best|most\s+likely|accurate|answer)\b"
    )
    for m in re.finditer(endorsement, text, re.IGNORECASE):
        found.append((m.start(), (m.group("bracketed") or m.group("bare")).upper()))
    return max(found)[1] if found else None


def _announcements(text: str, choices: _Choices) -> list[tuple[int, str]]:
    """(position, text after it) for every phrase that announces an answer."""
    results = []
    # "final answer" needs no verb: "**Final Answer**\n\nB".
    for m in re.finditer(r"\bfinal\s+answer\b\s*(?:is\b|:)?", text, re.IGNORECASE):
        results.append((m.start(), text[m.end() :]))
    # "I choose B", "I'll go with option C", "I'd say B".
    for m in re.finditer(r"\b(?:choose|chose|pick|select|go(?:ing)?\s+with|opt\s+for|I(?:'d|\s+would)\s+say)\b\s*:?", text, re.IGNORECASE):
        results.append((m.start(), text[m.end() :]))
    # "<noun> ... is/:" where the noun names the answer: "the answer is", "the correct order is:",
    # "the statement that matches the video is", "the video shows".
    for m in re.finditer(r"\b(?:is|would\s+be|should\s+be|will\s+be|must\s+be|shows|depicts)\b|:|=", text, re.IGNORECASE):
        window = re.split(r"[.!?\n]", text[max(0, m.start() - 60) : m.start()])[-1]
        if not re.search(r"\b(?:answer|option|choice|order|ordering|sequence|statement|video)\b", window, re.IGNORECASE):
            continue
        # "Option A is wrong", "Option D: <its text>": a statement about one option, not the answer.
        if re.search(rf"\b(?:option|choice)\s*[\(\[]?(?:{choices.alternatives})[\)\]]?\s*$", window, re.IGNORECASE):
            continue
        results.append((m.start(), text[m.end() :]))
    return results


def _leading_choice(text: str, choices: _Choices, *, at_start: bool) -> str | None:
    """The option that ``text`` begins with: a letter or an option's full text (or ``_HEDGE``).

    ``at_start``: ``text`` is the whole answer, where a capital "A" followed by a word is more often
    the article than a letter, so a letter must be followed by a separator or nothing.
    """
    alternatives = choices.alternatives
    m = re.match(
        rf"\s*(?:the\s+)?(?:(?:option|choice|letter)\s*)?"
        rf"(?:[\(\[](?P<bracketed>{alternatives})[\)\]]|(?-i:(?P<upper>{alternatives}))(?![\w'’])"
        rf"|(?P<lower>{alternatives.lower()})(?=\s*(?:$|[.,;:!?)\]\n])))",
        text,
        re.IGNORECASE,
    )
    if m:
        rest = text[m.end() :]
        if re.match(rf"\s*(?:,|/|&|\bor\b|\band\b)\s*(?:option\s+)?[\(\[]?(?:{alternatives})(?![\w'’])", rest, re.IGNORECASE):
            return _HEDGE
        separated = re.match(r"\s*(?:$|[.:;,)\]\n]|[-–—]\s)", rest)
        if not at_start or m.group("bracketed") or separated:
            return (m.group("bracketed") or m.group("upper") or m.group("lower")).upper()
    canonical = _canonical(text)
    starting = {letter for letter, span in _option_spans(canonical, choices) if span[0] == 0}
    return starting.pop() if len(starting) == 1 else None


def _leading_letter(text: str, choices: _Choices) -> str | None:
    """A letter (or option text) at the very start of the answer, unless the answer lists options."""
    listed = {
        m.group(1).upper()
        for m in re.finditer(rf"^\s*[\(\[]?({choices.alternatives})(?:[.):\]]|\s*$)", text, re.MULTILINE | re.IGNORECASE)
    }
    if len(listed) > 1:  # "A. ...\nB. ...": the options echoed, not an answer
        return None
    return _leading_choice(text, choices, at_start=True)


def _quoted_option(text: str, choices: _Choices) -> str | None:
    """The one option whose full text the answer contains, None when none or several."""
    canonical = _canonical(text)
    found = {letter for letter, span in _option_spans(canonical, choices) if not _rejects_span(canonical, span)}
    return found.pop() if len(found) == 1 else None


def _rejects_span(canonical: str, span: tuple[int, int]) -> bool:
    """Whether the answer rejects the option text at ``span`` ('not "x" then "y"', '... is false')."""
    before, after = canonical[: span[0]], canonical[span[1] :]
    return bool(
        re.search(r"\b(?:not|neither|nor|isn't)\s+$", before)
        or re.match(r"\s*(?:is|seems|looks)\s+(?:not|wrong|incorrect|false|impossible|unlikely)\b", after)
    )


def _option_spans(canonical: str, choices: _Choices) -> list[tuple[str, tuple[int, int]]]:
    """(letter, span) of every whole occurrence of an option's text in ``canonical``.

    Whole: bounded by non-word characters and not continued by further steps ("x > y > z" does not
    contain the statement "x > y"). An option found only inside another option's occurrence (a
    label that ends another label, "weld" in "spot weld") is dropped.
    """
    spans = []
    for letter, option in zip(choices.letters, choices.options):
        if not option:
            continue
        for form, joint in ((option, ">"), (option.replace(" > ", ", "), ",")):
            if form == option and joint == ",":
                continue  # a one-step option has no comma form
            for m in re.finditer(re.escape(form), canonical):
                before, after = canonical[: m.start()], canonical[m.end() :]
                if before[-1:].isalnum() or after[:1].isalnum():
                    continue
                continued = {">", joint}
                if before.rstrip()[-1:] in continued or after.lstrip()[:1] in continued:
                    continue
                spans.append((letter, m.span()))
    return [
        (letter, span)
        for letter, span in spans
        if not any(o != letter and o_span[0] <= span[0] and span[1] <= o_span[1] and o_span != span for o, o_span in spans)
    ]


def _lone_letter(text: str, choices: _Choices) -> str | None:
    """The only option letter the answer mentions as a word, when it is not negated.

    "I think it's D" reads D; "It's not A" and "A or B" read nothing. A capital "A" followed by a
    word that does not make it a letter ("A man welds") is the article.
    """
    mentioned = set()
    for m in re.finditer(rf"(?<![\w'’])({choices.alternatives})(?![\w'’])", text):
        if not _is_article(m.group(1), text[m.end() :]):
            mentioned.add(m.group(1))
    # "Definitely not B, so it must be D": the one letter left once the rejected ones are set aside.
    kept = {letter for letter in mentioned if not _negated(text, letter)}
    return kept.pop() if len(kept) == 1 else None


def _is_article(letter: str, after: str) -> bool:
    """Whether a capital "A" followed by ``after`` is the article ("A man welds"), not a letter."""
    follows_word = re.match(r"\s+[a-z]", after) and not re.match(rf"\s+(?:{_VERBS_AFTER_LETTER})\b", after)
    return letter == "A" and bool(follows_word)


def _negated(text: str, letter: str) -> bool:
    """Whether ``letter`` is rejected somewhere ("not A", "does not show C", "A is wrong").

    Up to two words may come between "not" and the letter, but not another letter or a contrast
    ("not A but C" rejects A only).
    """
    letter = re.escape(letter)
    rejection = r"\b(?:not|neither|nor|isn't|exclude|eliminate|rule\s+out|ruled\s+out|except)\s+"
    filler = r"(?:(?!(?:but|or|and)\b)\w{2,}\s+){0,2}?"  # "does not *show* C"
    before = rf"{rejection}{filler}(?:option\s+|choice\s+)?[\(\[]?(?-i:{letter})(?![\w'’])"
    after = rf"(?<![\w'’])(?-i:{letter})[\)\]]?\s+(?:is|seems|looks)\s+(?:not|wrong|incorrect|false|impossible|unlikely)\b"
    return bool(re.search(before, text, re.IGNORECASE) or re.search(after, text, re.IGNORECASE))
