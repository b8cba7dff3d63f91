"""Misleading questions q' (``rejected_prompt``): plausible, contradicting the video, still asking
the same thing.

``openai`` is the paper's way (appendix B.2): an OpenAI-compatible chat model (GPT-4o by default)
writes q' from the video's caption (:mod:`panodpo.data.captions`), the question and the correct
answer, under :data:`MISLEADING_QUESTION_RULES`. ``template`` works offline and is a stand-in, not
the paper's method (see :class:`TemplateMisleadingQuestions` for what it does and does not
guarantee)."""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

from temrobbench.utils.files import JsonlAppender, read_jsonl_lines, truncate_torn_tail
from temrobbench.utils.openai_client import backoff_delays, is_retryable, make_client
from temrobbench.utils.redaction import redact

from panodpo.data.sharegptvideo import DpoRow, clean_prompt

MISLEADING_QUESTION_RULES = """You rewrite a question about a video so that it becomes misleading.
Rules:
1. Add a false premise: a plausible statement about the video that contradicts what the video shows (use the video caption, when given, and the correct answer to know what is true).
2. Keep the original question: the rewritten text must still ask exactly the same thing, ending with the original question.
3. Do not say or hint that the premise is false; no quotation marks around it; no answer.
4. At most 60 words. Output only the rewritten question, nothing else."""


#: The chat model that writes q' by default: GPT-4o, as in the paper (appendix B.2).
DEFAULT_PERTURBER_MODEL = "gpt-4o"


class MisleadingQuestionFailed(RuntimeError):
    """One row got no valid misleading question: it is reported by id and skipped. Its message is
    redacted: a server's error text may quote the API key or an Authorization header."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class MisleadingQuestionsUnusable(RuntimeError):
    """The server refuses every request (bad key, no such model or URL): the run stops, keeping
    what is already cached, instead of failing each remaining row the same way (redacted, as
    :class:`MisleadingQuestionFailed`)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def validate_misleading(question: str, candidate: str) -> str | None:
    """Why ``candidate`` is not a usable misleading version of ``question`` (None when it is).

    >>> validate_misleading("What is cut first?", "The man cuts the bread. What is cut first?") is None
    True
    >>> validate_misleading("What is cut first?", " what is cut first ")
    'same as the question'
    """
    text = candidate.strip()
    if not text:
        return "empty"
    if _words(text) == _words(question):
        return "same as the question"
    asked = set(_words(question))
    if asked and len(asked & set(_words(text))) < 0.7 * len(asked):
        return "does not keep the question asked"
    if len(_words(text)) > 3 * len(_words(question)) + 80:
        return "too long"
    return None


def first_sentence(text: str, limit: int = 200) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return sentence[:limit].rstrip(" .!?")


def lower_first_word(text: str) -> str:
    """``text`` with its first letter lower-cased, so it reads on after "In the video, ", unless
    its first word looks like a proper noun that must keep its case: ``I`` (and ``I'm``...), or a
    word with two or more capitals (acronyms and names such as ``GPT-4o``, ``COIN``, ``McDonald``).
    A name with one capital (``John``) cannot be told from an ordinary first word: it is lower-cased.

    >>> [lower_first_word(t) for t in ("A cup of coffee is poured", "It is blue", "I see a dog", "GPT writes", "COIN steps", "a dog")]
    ['a cup of coffee is poured', 'it is blue', 'I see a dog', 'GPT writes', 'COIN steps', 'a dog']
    """
    words = text.split(maxsplit=1)
    if not words or not words[0][:1].isupper():
        return text
    first = words[0]
    if first == "I" or first.startswith(("I'", "I’")) or sum(c.isupper() for c in first) >= 2:
        return text
    return text[:1].lower() + text[1:]


class TemplateMisleadingQuestions:
    """Offline stand-in for the paper's q': ``"In the video, <first sentence of y_l>. <question>"``.

    What it does: takes the first sentence of the rejected answer y_l (at most 200 characters, its
    end punctuation dropped), lower-cases its first letter (:func:`lower_first_word`: ``I`` and
    words with two or more capitals keep their case), and puts it as a premise before the question
    (the ``<video>`` placeholder removed). It needs no model and no network, and is deterministic.

    What it guarantees: q' ends with the original question, unchanged; the premise is y_l's own
    words. What it does not guarantee: that the premise contradicts the video. It does only when
    y_l is false about the video; a rejected answer that is merely vague, worse-phrased or
    partially true makes a premise that is true or beside the point (a weak or wrong q'). It is not
    grammatical for every y_l (a y_l that is a question or a fragment reads oddly), sees neither
    the video nor a caption, and is not the paper's method: the paper has GPT-4o write q' from a
    caption, the question and the correct answer (``--perturber openai``).

    A rejected answer with no sentence in it (only punctuation) gets no q': the row is skipped
    (``perturbation_failed``), never given an empty premise.

    >>> row = DpoRow("1", "v", "<video>\\nWhat color is the car?", "It is red.", "A blue car is parked. It is new.")
    >>> TemplateMisleadingQuestions().misleading_question(row)
    'In the video, a blue car is parked. What color is the car?'
    """

    name = "template"

    @property
    def identity(self) -> str:
        return "template"

    def misleading_question(self, row: DpoRow, caption: str | None = None) -> str:
        premise = lower_first_word(first_sentence(row.rejected))
        if not premise.strip():
            raise MisleadingQuestionFailed(f"row {row.id!r}: the rejected answer has no sentence to use as a premise")
        return f"In the video, {premise}. {clean_prompt(row.prompt)}"

    def misleading_questions(self, rows: Sequence[DpoRow], captions: dict[str, str], on_result: Callable[[DpoRow, str | None, str | None], None]) -> None:
        for row in rows:
            try:
                on_result(row, self.misleading_question(row, captions.get(row.id)), None)
            except MisleadingQuestionFailed as err:
                on_result(row, None, str(err))


class OpenAIMisleadingQuestions:
    """Asks a chat model (default ``gpt-4o``, the paper's) for q' with the rules above, given the
    video's caption when there is one; validates, retries with backoff, bounded concurrency."""

    name = "openai"

    def __init__(self, model: str = DEFAULT_PERTURBER_MODEL, base_url: str | None = None, *, max_concurrency: int = 8, max_retries: int = 5,
                 initial_backoff: float = 1.0, max_backoff: float = 60.0, timeout: float = 60.0) -> None:
        self.client = make_client(base_url, timeout, "--perturber openai")
        self.model, self.max_concurrency, self.max_retries = model, max_concurrency, max_retries
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.requests = 0

    @property
    def identity(self) -> str:
        """``openai:<model>``: what the q' cache and the report record (the key never)."""
        return f"openai:{self.model}"

    def _messages(self, row: DpoRow, caption: str | None) -> list[dict]:
        facts = [f"Question: {clean_prompt(row.prompt)}", f"Correct answer: {row.answer or row.chosen}"]
        if caption:
            facts.insert(0, f"Video caption: {caption}")
        return [{"role": "system", "content": MISLEADING_QUESTION_RULES}, {"role": "user", "content": "\n".join(facts)}]

    def misleading_question(self, row: DpoRow, caption: str | None = None) -> str:
        """q' for one row; raises MisleadingQuestionFailed after ``max_retries`` failed or invalid answers,
        MisleadingQuestionsUnusable when the server rejects the credentials, model or URL."""
        import openai

        question = clean_prompt(row.prompt)
        delays, last = backoff_delays(self.initial_backoff, self.max_backoff), "no attempt"
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(next(delays))
            self.requests += 1
            try:
                response = self.client.chat.completions.create(model=self.model, messages=self._messages(row, caption), temperature=0.7, max_tokens=160)
            except Exception as error:  # noqa: BLE001 - classified
                if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)):
                    raise MisleadingQuestionsUnusable(f"the {self.model!r} chat server refused the request ({type(error).__name__}, HTTP "
                                            f"{getattr(error, 'status_code', '?')}): check OPENAI_API_KEY, --openai-model and --base-url") from None
                if not is_retryable(error):
                    raise MisleadingQuestionFailed(f"row {row.id!r}: {type(error).__name__}: {error}") from None
                last = f"{type(error).__name__}"
                continue
            candidate = (response.choices[0].message.content or "").strip().strip('"')
            problem = validate_misleading(question, candidate)
            if problem is None:
                return candidate
            last = f"invalid output ({problem})"
        raise MisleadingQuestionFailed(f"row {row.id!r}: no valid misleading question after {self.max_retries + 1} attempts: {last}")

    def misleading_questions(self, rows: Sequence[DpoRow], captions: dict[str, str], on_result: Callable[[DpoRow, str | None, str | None], None]) -> None:
        lock, stop = threading.Lock(), threading.Event()
        fatal: list[MisleadingQuestionsUnusable] = []

        def one(row: DpoRow) -> None:
            if stop.is_set():
                return
            try:
                result, error = self.misleading_question(row, captions.get(row.id)), None
            except MisleadingQuestionFailed as err:
                result, error = None, str(err)
            except MisleadingQuestionsUnusable as err:
                fatal.append(err)
                stop.set()
                return
            with lock:
                on_result(row, result, error)

        with ThreadPoolExecutor(max_workers=max(1, self.max_concurrency)) as pool:
            list(pool.map(one, rows))
        if fatal:
            raise fatal[0]


class MisleadingQuestionCache:
    """``rejected_prompts.jsonl``: one line per finished row, appended and flushed as it arrives.

    Each line names its perturber (``template``, ``openai:<model>``) and the caption q' was written
    from (null: none). With ``perturber`` given, only that perturber's lines are used, so a rerun
    with another perturber or model asks again instead of passing off the earlier q' as its own;
    of several lines of a row, the last one counts.
    """

    def __init__(self, path: str | os.PathLike, perturber: str | None = None) -> None:
        self.path = Path(path)
        self.perturber = perturber
        self.values: dict[str, str] = {}
        self.captions: dict[str, str | None] = {}
        truncate_torn_tail(self.path)  # a write cut off by a kill: appends stay line-aligned
        for entry in read_jsonl_lines(self.path):
            if not (isinstance(entry, dict) and "id" in entry and isinstance(entry.get("rejected_prompt"), str)):
                continue
            if perturber is not None and entry.get("perturber") != perturber:
                continue
            caption = entry.get("caption")
            self.values[entry["id"]] = entry["rejected_prompt"]
            self.captions[entry["id"]] = caption if isinstance(caption, str) else None

    def add(self, row_id: str, value: str, perturber: str, caption: str | None = None) -> None:
        with JsonlAppender(self.path) as out:  # truncates a torn line a killed run left
            out.write({"id": row_id, "rejected_prompt": value, "perturber": perturber, "caption": caption})
        self.values[row_id] = value
        self.captions[row_id] = caption

    def done(self, row_id: str, caption: str | None) -> bool:
        """Whether the row has a q' written from ``caption`` (a changed caption is asked again)."""
        return row_id in self.values and self.captions.get(row_id) == caption
