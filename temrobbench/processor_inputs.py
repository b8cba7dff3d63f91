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


def video_kwargs(videos: Sequence[Any], processor: Any = None) -> dict[str, Any]:
    """Processor arguments for already-sampled videos (lists of H x W x 3 frames): no resampling,
    and each video's source timing (``video_metadata``: fps, frame count, sampled indices) when all
    of them carry it, so families that print timestamps in the prompt print the real ones.

    Frames come at the source resolution. A ``processor`` whose own defaults turn its video
    processor's resizing off (MiniMax-M3's ``videos_kwargs = {"do_resize": False}``: its video loader
    resizes frames to the patch grid) gets ``do_resize=True``, so its video processor does that resize
    (the same ``smart_resize``) instead of failing on frames that are no multiple of the patch grid.

    >>> sorted(video_kwargs([[0], [1]]))
    ['do_sample_frames', 'videos']
    """
    kwargs: dict[str, Any] = {"videos": list(videos), "do_sample_frames": False}
    defaults = getattr(type(processor), "videos_kwargs", None) if processor is not None else None
    video_processor = getattr(processor, "video_processor", None)
    if isinstance(defaults, dict) and defaults.get("do_resize") is False and getattr(video_processor, "do_resize", False):
        kwargs["do_resize"] = True
    metadata = [getattr(video, "video_metadata", None) for video in videos]
    if metadata and all(metadata):
        kwargs["video_metadata"] = [dict(m) for m in metadata]
    return kwargs


def token_type_switches(processor: Any, model: Any) -> dict[str, Any]:
    """Processor arguments that ask for the per-token modality types ``model`` takes and its processor
    does not return by default: Cosmos3 Edge's model needs ``mm_token_type_ids`` for M-RoPE over the
    frames, but ``Cosmos3EdgeProcessor`` leaves ``return_mm_token_type_ids`` off (and no saved processor
    setting turns it on). Decided on the model's ``forward``: MiniMax-M3-VL's processor also names
    ``mm_token_type_ids`` among its inputs, but its model takes none (``generate`` rejects them).

    >>> class Processor: return_mm_token_type_ids = False
    >>> class Model:
    ...     def forward(self, input_ids=None, mm_token_type_ids=None): ...
    >>> token_type_switches(Processor(), Model()), token_type_switches(object(), Model())
    ({'return_mm_token_type_ids': True}, {})
    """
    import inspect

    if getattr(processor, "return_mm_token_type_ids", None) is not False:
        return {}  # returned by default (Qwen-VL, GLM), or a processor that knows no such switch
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        parameters = inspect.signature(base.forward).parameters
    except (AttributeError, TypeError, ValueError):
        return {}
    return {"return_mm_token_type_ids": True} if "mm_token_type_ids" in parameters else {}


def template_switches(processor: Any, enable_thinking: bool = False) -> dict[str, Any]:
    """Chat-template variables to pass when rendering a prompt.

    Thinking templates (Qwen3.5, Qwen3-VL-Thinking) open a ``<think>`` block in the generation
    prompt unless told not to: a letter scored right after ``<think>\\n`` is not the model's answer,
    and a model trained on such prompts learns to answer inside one. Only templates that read the
    switch get it (others would pass it on to the processor as an unknown argument).

    Kimi-K2.5's template names the switch ``thinking`` (``<think>`` unless ``thinking`` is false).
    HY-4-VL's (HunYuan) names it ``reasoning_effort``, ``"no_think"`` to answer directly; with
    thinking on, it is left to the template's default (no other level is documented).

    >>> class P: chat_template = "{% if enable_thinking %}<think>{% endif %}"
    >>> class K: chat_template = "{% if thinking is defined and thinking is false %}<think></think>{% endif %}"
    >>> class H: chat_template = "{% if reasoning_effort == 'no_think' %}<think></think>{% endif %}"
    >>> template_switches(P()), template_switches(K()), template_switches(H()), template_switches(H(), True)
    ({'enable_thinking': False}, {'thinking': False}, {'reasoning_effort': 'no_think'}, {})
    >>> template_switches(object())
    {}
    """
    import re

    template = str(getattr(processor, "chat_template", None) or "")
    switches: dict[str, Any] = {}
    if "enable_thinking" in template:
        switches["enable_thinking"] = enable_thinking
    # The bare variable tested, never set by the template itself (not ``enable_thinking``,
    # ``message.thinking``, a local ``{% set thinking = ... %}`` or prose in a comment).
    tested = re.search(r"(?<![\w.])(?:thinking\s+is\s+(?:defined|false|true|not)\b|(?:if|not)\s+thinking\b)", template)
    if tested and not re.search(r"\bset\s+thinking\s*=", template):
        switches["thinking"] = enable_thinking
    if not enable_thinking and re.search(r"(?<![\w.])reasoning_effort\b", template) and "no_think" in template:
        switches["reasoning_effort"] = "no_think"
    return switches


_ANSWER = "TEMROBBENCH_ANSWER_7f3a"  # stands for an answer while finding the template's answer header


def chat_prompt(processor: Any, messages: list[dict[str, Any]], enable_thinking: bool = False) -> str:
    """The rendered prompt an answer follows: the generation prompt with :func:`template_switches`,
    then, unless thinking, the answer header the template writes before every assistant answer
    but leaves out of its generation prompt.

    Muse Glimmer's and Muse Spark's generation prompt stops at ``<|start|>assistant``: the model
    itself picks the channel (`` to=self<|message|>`` to reason, `` to=user<|message|>`` to answer,
    which is how the template writes an answer), so a letter scored right after the generation
    prompt would compete with the channel header, and a model trained on such prompts would learn
    to skip it. The header is what rendering the conversation with an assistant answer adds between
    the generation prompt and the answer. A header of whitespace only is left to the model (SmolVLM's
    ``Assistant:`` + `` A``: the space belongs to the answer's first token in byte-level vocabularies);
    templates whose answer render does not extend their generation prompt get nothing added.

    >>> class P:
    ...     chat_template = "x"
    ...     def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=False):
    ...         turns = "".join(f"<{m['role']}>{m['content']}" if m["role"] != "assistant" else f"<a> to=user:{m['content']}"
    ...                         for m in messages)
    ...         return turns + ("<a>" if add_generation_prompt else "")
    >>> chat_prompt(P(), [{"role": "user", "content": "hi"}]), chat_prompt(P(), [{"role": "user", "content": "hi"}], True)
    ('<user>hi<a> to=user:', '<user>hi<a>')
    """
    switches = template_switches(processor, enable_thinking)
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **switches)
    if enable_thinking:
        return prompt
    try:
        answered = processor.apply_chat_template(list(messages) + [{"role": "assistant", "content": _ANSWER}], tokenize=False, **switches)
    except Exception:  # a template that cannot render an answer turn here: its generation prompt as it is
        return prompt
    if not answered.startswith(prompt) or _ANSWER not in answered[len(prompt):]:
        return prompt
    header = answered[len(prompt): answered.index(_ANSWER, len(prompt))]
    return prompt + header if header.strip() else prompt
