"""Render a benchmark item as the text a model sees, for a given order of its options.

This is the only place prompt text is produced, so evaluation, training data and the snapshot
tests all agree on it. Rounds of the evaluation protocol rotate the stored options so that the
correct option visits every position (docs/design.md, "Evaluation protocol").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from temrobbench.items.spec import LETTERS

ANSWER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
DESCRIPTIONS_HEADER = "Descriptions of the steps in the video:"
#: The paper's "Prompt" baseline: a system prompt that asks the model to trust what it sees.
TRUST_THE_VIDEO_SYSTEM_PROMPT = (
    "Answer only from what the video shows. The video may show steps in an unusual order, and the "
    "text may describe them in an order that differs from the video: when they disagree, trust the "
    "video, not common sense or the text."
)


def rotation(num_options: int, round_index: int) -> list[int]:
    """Stored-option indices in the order shown in round ``round_index``.

    Round r shows stored option ``(i - r) mod n`` at position i, so over n rounds every stored
    option (the correct one included) is shown once at every position.

    >>> rotation(4, 0), rotation(4, 1)
    ([0, 1, 2, 3], [3, 0, 1, 2])
    """
    return [(i - round_index) % num_options for i in range(num_options)]


@dataclass(frozen=True)
class RenderedPrompt:
    """The text of one query and how its letters map back to the stored options."""

    text: str
    letters: tuple[str, ...]
    options: tuple[str, ...]  # option texts in the order shown
    roles: tuple[str, ...]  # role of each shown option (``option_roles`` of the row, reordered)
    order: tuple[int, ...]  # stored index of each shown option

    def role_of_letter(self, letter: str) -> str:
        """Role of the option shown under ``letter``."""
        return self.roles[self.letters.index(letter)]

    def letter_of_role(self, role: str) -> str | None:
        """Letter under which the option of ``role`` is shown (None when no option has it)."""
        return self.letters[self.roles.index(role)] if role in self.roles else None


def render_prompt(item: Mapping[str, Any], order: Sequence[int] | None = None) -> RenderedPrompt:
    """Render ``item`` (a benchmark row) with its options shown in ``order``.

    >>> item = {"question": "Which order?", "descriptions": [], "options": ["a", "b", "c", "d"],
    ...         "option_roles": ["incorrect", "correct", "shortcut", "incorrect"]}
    >>> print(render_prompt(item, rotation(4, 1)).text)
    Which order?
    A. d
    B. a
    C. b
    D. c
    Answer with the option's letter from the given choices directly.
    """
    options = list(item["options"])
    order = list(range(len(options))) if order is None else list(order)
    if sorted(order) != list(range(len(options))):
        raise ValueError(f"order {order} is not a permutation of the {len(options)} options")
    letters = LETTERS[: len(options)]
    lines: list[str] = []
    descriptions = item.get("descriptions") or []
    if descriptions:
        lines.append(DESCRIPTIONS_HEADER)
        lines.extend(f"{i}. {text}" for i, text in enumerate(descriptions, start=1))
    lines.append(item["question"])
    lines.extend(f"{letter}. {options[j]}" for letter, j in zip(letters, order))
    lines.append(ANSWER_INSTRUCTION)
    roles = item.get("option_roles") or [""] * len(options)
    return RenderedPrompt(
        text="\n".join(lines),
        letters=tuple(letters),
        options=tuple(options[j] for j in order),
        roles=tuple(roles[j] for j in order),
        order=tuple(order),
    )


def video_chat_messages(text: str, system_prompt: str | None = None, *, with_video: bool = True) -> list[dict[str, Any]]:
    """The chat messages of a question about a video: one user turn, the video first, then the
    text; a system turn first when given. The one builder used by the ``hf:`` adapter, the PanoDPO
    collator and the mini reproduction's SFT, so training prompts and evaluation prompts are the
    same token for token (the processor's chat template renders them).

    >>> video_chat_messages("Which order?")
    [{'role': 'user', 'content': [{'type': 'video'}, {'type': 'text', 'text': 'Which order?'}]}]
    >>> [m["role"] for m in video_chat_messages("Q", "Trust the video.", with_video=False)]
    ['system', 'user']
    """
    content: list[dict[str, Any]] = [{"type": "video"}] if with_video else []
    content.append({"type": "text", "text": text})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if system_prompt:
        messages.insert(0, {"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    return messages
