"""How a rendered chat prompt and sampled frames go into a transformers processor: one rule for
the evaluation adapter and the PanoDPO collator, so a training prompt and an evaluation prompt of
the same question are the same tokens.
"""

from __future__ import annotations

from typing import Any, Sequence


def adds_special_tokens(tokenizer: Any, text: str) -> bool:
    """Whether to let the tokenizer add its special tokens (BOS) to a rendered chat prompt.

    transformers' own ``apply_chat_template(..., tokenize=True)`` rule: not when the template
    already wrote the BOS token (Gemma, Llama 3, PerceptionLM), else yes (Llama-2 chat layouts
    rely on the tokenizer's BOS). Anything else doubles or drops a BOS the model was trained with.

    >>> class Tok: bos_token = "<s>"
    >>> adds_special_tokens(Tok(), "<s>USER: hi"), adds_special_tokens(Tok(), "USER: hi")
    (False, True)
    """
    bos = getattr(tokenizer, "bos_token", None)
    return not (bos and text.startswith(bos))


def video_kwargs(videos: Sequence[Any]) -> dict[str, Any]:
    """Processor arguments for already-sampled videos (lists of H x W x 3 frames): no resampling,
    and each video's source timing (``video_metadata``: fps, frame count, sampled indices) when all
    of them carry it, so families that print timestamps in the prompt print the real ones.

    >>> sorted(video_kwargs([[0], [1]]))
    ['do_sample_frames', 'videos']
    """
    kwargs: dict[str, Any] = {"videos": list(videos), "do_sample_frames": False}
    metadata = [getattr(video, "video_metadata", None) for video in videos]
    if metadata and all(metadata):
        kwargs["video_metadata"] = [dict(m) for m in metadata]
    return kwargs


def template_switches(processor: Any, enable_thinking: bool = False) -> dict[str, Any]:
    """Chat-template variables to pass when rendering a prompt.

    Thinking templates (Qwen3.5, Qwen3-VL-Thinking) open a ``<think>`` block in the generation
    prompt unless told not to: a letter scored right after ``<think>\\n`` is not the model's answer,
    and a model trained on such prompts learns to answer inside one. Only templates that read the
    switch get it (others would pass it on to the processor as an unknown argument).

    >>> class P: chat_template = "{% if enable_thinking %}<think>{% endif %}"
    >>> template_switches(P()), template_switches(object())
    ({'enable_thinking': False}, {})
    """
    template = str(getattr(processor, "chat_template", None) or "")
    return {"enable_thinking": enable_thinking} if "enable_thinking" in template else {}
