"""Tiny GLM-4.1V (``Glm4vForConditionalGeneration``), built offline.

Real: the model class and its config layout (ViT with learned interpolated position embeddings and
2x2 patch merger; GLM-4 text model with sandwich norms, GQA and partial (50%) M-RoPE),
``Glm4vProcessor`` from ``Glm4vImageProcessor`` and ``Glm4vVideoProcessor``, GLM's special tokens
(``[gMASK]<sop>``, ``<|system|>``/``<|user|>``/``<|assistant|>``, ``<|begin_of_video|><|video|><|end_of_video|>``,
``<|begin_of_image|><|image|><|end_of_image|>``, eos ``<|endoftext|>``, with ``<|user|>`` and
``<|observation|>`` also ending generation, as in the checkpoint's generation config) and a chat
template laid out as ``zai-org/GLM-4.1V-9B-Thinking``'s: ``[gMASK]<sop>`` once, then
``<|system|>\\n...``, ``<|user|>\\n`` + content (the video placeholder where the item is), and the
generation prompt ``<|assistant|>\\n`` (the model then writes ``<think>...</think><answer>...</answer>``).
Tiny: byte-level tokenizer, 16-wide text model (1 head of 16), 32-wide 2-block ViT, frames resized to
56x56 (4 visual tokens per pair of frames).

What differs about the family:
- timestamps in the prompt and frames as images: the processor replaces ``<|video|>`` with, per pair of
  frames, ``<|begin_of_image|>`` + ``<|image|>``*n + ``<|end_of_image|>`` + the integer second of that
  frame; video tokens are the IMAGE token, told apart only by ``mm_token_type_ids`` (2 inside
  ``<|begin_of_video|>...<|end_of_video|>``), which ``model(**inputs)`` needs;
- bare frames have no fps: the processor warns and assumes 24 fps; pass
  ``video_metadata=[{"fps": ..., "total_num_frames": N, "frames_indices": [...]}]`` for true timestamps;
- the video resize budget is over all frames together (``size`` counts t*h*w pixels): here at most
  ``frame_size``^2 per frame up to 32 frames, so fewer frames keep the 28-px-rounded input size;
- there is no default system prompt; plain ``DynamicCache`` (a video prefix can be cached and cropped).
"""

from __future__ import annotations

from typing import Any

GLM_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
    "<|begin_of_box|>",
    "<|end_of_box|>",
]

# Laid out as GLM-4.1V-9B-Thinking's chat template (rendered by transformers with trim_blocks and
# lstrip_blocks): "[gMASK]<sop><|system|>\n{sys}<|user|>\n<|begin_of_video|><|video|><|end_of_video|>{text}<|assistant|>\n".
GLM4V_CHAT_TEMPLATE = """[gMASK]<sop>
{%- for msg in messages %}
    {%- if msg.role == 'system' %}
<|system|>
{{ msg.content if msg.content is string else msg.content | map(attribute='text') | join('') }}
    {%- elif msg.role == 'user' %}
<|user|>{{ '\\n' }}
        {%- if msg.content is string %}
{{ msg.content }}
        {%- else %}
            {%- for item in msg.content %}
                {%- if item.type == 'video' or 'video' in item %}
<|begin_of_video|><|video|><|end_of_video|>
                {%- elif item.type == 'image' or 'image' in item %}
<|begin_of_image|><|image|><|end_of_image|>
                {%- elif item.type == 'text' %}
{{ item.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
    {%- elif msg.role == 'assistant' %}
        {%- if msg.metadata %}
<|assistant|>{{ msg.metadata }}
{{ msg.content }}
        {%- else %}
<|assistant|>
{{ msg.content if msg.content is string else msg.content | map(attribute='text') | join('') }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{% if add_generation_prompt %}<|assistant|>
{% endif %}"""


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random GLM-4.1V and its processor (frames resized to about ``frame_size``, a multiple of 28).

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.vision_config.hidden_size, model.config.text_config.hidden_size
    ('Glm4vProcessor', 32, 16)
    """
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration, Glm4vImageProcessor, Glm4vProcessor, Glm4vVideoProcessor

    return build_glm_v(Glm4vConfig, Glm4vForConditionalGeneration, (Glm4vProcessor, Glm4vImageProcessor, Glm4vVideoProcessor), {},
                       hidden_size, num_layers, seed, frame_size, GLM_SPECIAL_TOKENS, GLM4V_CHAT_TEMPLATE,
                       extra_tokens=("<think>", "</think>", "<answer>", "</answer>"))


def build_glm_v(config_class, model_class, processor_classes, text_config: dict, hidden_size: int, num_layers: int, seed: int, frame_size: int,
                special_tokens, chat_template: str, extra_tokens: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """A random GLM-V model (GLM-4.1V, GLM-4.5V, GLM-4.6V) of ``model_class`` with ``processor_classes`` =
    (processor, image, video); ``text_config`` entries override the shared tiny text config."""
    import torch

    from tests.support.tiny_families._common import qwen_vit

    tokenizer, ids, eos = glm_v_tokenizer(special_tokens, chat_template, extra_tokens)
    config = config_class(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 1,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            # head_dim 16, half of it rotary: 4 frequency pairs split t/h/w (real: 8/12/12 of 32)
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5, "mrope_section": [2, 1, 1]},
            "pad_token_id": ids["<|endoftext|>"],
            "eos_token_id": eos,
            **text_config,
        },
        vision_config=qwen_vit(hidden_size, 14, image_size=frame_size),
        **glm_v_media_ids(ids),
    )
    torch.manual_seed(seed)
    model = model_class(config).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model, glm_v_processor(processor_classes, tokenizer, chat_template, frame_size)


def glm_v_tokenizer(special_tokens, chat_template: str, extra_tokens: tuple[str, ...] = ()) -> tuple[Any, dict[str, int], list[int]]:
    """GLM-V's tokenizer (eos and pad ``<|endoftext|>``), its special tokens' ids and the ids that end
    generation (``<|user|>`` and ``<|observation|>`` too, as in the checkpoints' generation config)."""
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(special_tokens, eos="<|endoftext|>", pad="<|endoftext|>", chat_template=chat_template)
    if extra_tokens:
        tokenizer.add_tokens(list(extra_tokens), special_tokens=False)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in special_tokens}
    return tokenizer, ids, [ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]]


def glm_v_media_ids(ids: dict[str, int]) -> dict[str, int]:
    """The config's image and video placeholder and marker ids."""
    return {
        "image_token_id": ids["<|image|>"],
        "video_token_id": ids["<|video|>"],
        "image_start_token_id": ids["<|begin_of_image|>"],
        "image_end_token_id": ids["<|end_of_image|>"],
        "video_start_token_id": ids["<|begin_of_video|>"],
        "video_end_token_id": ids["<|end_of_video|>"],
    }


def glm_v_processor(processor_classes, tokenizer, chat_template: str, frame_size: int) -> Any:
    """A GLM-V processor of ``processor_classes`` = (processor, image, video). The video resize budget is over
    all frames together: at most ``frame_size``^2 per frame up to 32 frames."""
    processor_class, image_processor_class, video_processor_class = processor_classes
    pixels = frame_size * frame_size
    return processor_class(
        image_processor=image_processor_class(size={"shortest_edge": pixels, "longest_edge": pixels}),
        video_processor=video_processor_class(size={"shortest_edge": 2 * pixels, "longest_edge": 32 * pixels},
                                              max_image_size={"longest_edge": 32 * pixels}, do_sample_frames=False),
        tokenizer=tokenizer,
        chat_template=chat_template,
    )
