"""The prompt, frames and processor call the tiny-family smoke tests share (tests/support/test_tiny_famil*.py).

The processor is called as the ``hf:`` adapter and the PanoDPO collator call it (``video_kwargs``,
``token_type_switches``), on 4 random 48x64 frames.

>>> len(frames(2)), frames()[0].shape, [m["role"] for m in SYSTEM_AND_VIDEO]
(2, (48, 64, 3), ['system', 'user'])
"""

from __future__ import annotations

from typing import Any

import numpy as np

SYSTEM, QUESTION = "Answer with a letter.", "Which order?"
TEXT = QUESTION + "\nA. x\nB. y"
NUM_FRAMES = 4
#: [system, user(video, text)] as ``temrobbench.prompt.video_chat_messages`` writes them (content parts).
SYSTEM_AND_VIDEO: list[dict[str, Any]] = [
    {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
    {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": TEXT}]},
]
#: The same with the system text as a plain string (what hand-written conversations often pass).
STRING_SYSTEM: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, SYSTEM_AND_VIDEO[1]]


def frames(n: int = NUM_FRAMES, seed: int = 0) -> list[np.ndarray]:
    """``n`` random 48x64 RGB frames."""
    return list(np.random.RandomState(seed).randint(0, 255, (n, 48, 64, 3), dtype=np.uint8))


def chat_text(processor: Any, messages: list[dict[str, Any]] = SYSTEM_AND_VIDEO, switches: dict | None = None,
              generation_prompt: bool = True) -> str:
    """``messages`` rendered by ``processor``'s chat template with the template variables ``switches``."""
    return processor.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=False, **(switches or {}))


def processor_inputs(processor: Any, model: Any, texts: list[str], videos: list | None = None) -> Any:
    """Tensors for ``texts`` (one video each, :func:`frames` by default), padded, as ``hf:`` asks for them."""
    from temrobbench.processor_inputs import token_type_switches, video_kwargs

    videos = videos or [frames()] * len(texts)
    return processor(text=texts, **video_kwargs(videos, processor), **token_type_switches(processor, model),
                     return_tensors="pt", padding=True)
