"""Tiny GLM-4.5V (``Glm4vMoeForConditionalGeneration``), built offline.

Real: the model class and its config layout (the GLM-4.1V ViT: learned interpolated position
embeddings, 2x2 patch merger; a GLM-4.5-Air-style MoE text model: sigmoid top-k router with
``e_score_correction_bias``, one shared expert, the first ``first_k_dense_replace`` layers dense,
partial (50%) M-RoPE, QKV bias), ``Glm4vProcessor`` (the family has no processor of its own:
``AutoProcessor`` maps ``glm4v_moe`` to it) with ``Glm4vImageProcessor`` and ``Glm4vVideoProcessor``,
GLM-4.5's special tokens (``[gMASK]<sop>``, ``<|system|>``/``<|user|>``/``<|assistant|>``/``<|observation|>``,
``<|begin_of_video|><|video|><|end_of_video|>``, ``<|begin_of_image|><|image|><|end_of_image|>``,
``<think>``/``</think>``, the tool-call tags; eos ``<|endoftext|>``, with ``<|user|>`` and
``<|observation|>`` also ending generation as in the checkpoint's generation config) and a chat
template laid out as ``zai-org/GLM-4.5V``'s (tools left out)::

    [gMASK]<sop><|system|>\\n{system}<|user|>\\n<|begin_of_video|><|video|><|end_of_video|>{text}<|assistant|>\\n

with ``enable_thinking=False`` adding ``/nothink`` to the user turn and ``<think></think>\\n`` after
``<|assistant|>\\n``. Tiny: byte-level tokenizer, 16-wide text model (layer 0 dense, layer 1 MoE
with 4 routed experts of width 16, top-2, + 1 shared; real: 128 experts, top-8), 32-wide 2-block
ViT, frames resized to 56x56 (4 visual tokens per pair of frames).

What differs about the family (as GLM-4.1V): the processor writes, per pair of frames,
``<|begin_of_image|>`` + ``<|image|>``*n + ``<|end_of_image|>`` + the integer second of the frame
(bare frames: assumed 24 fps with a warning), video tokens are the IMAGE token told apart by
``mm_token_type_ids``; plain ``DynamicCache``.

Not in ``FAMILIES`` yet: the ``hf:`` matrix passes, but PanoDPO's LoRA misses the dense MLP of
layer 0 and the shared experts. PEFT (0.21) converts LoRA configs of v4-era MoE model types
(``glm4v_moe`` maps to transformers' ``qwen2_moe`` conversion pattern) by moving every
``gate_proj``/``up_proj``/``down_proj`` target to the fused expert parameters, so those ``nn.Linear``
layers get no adapter from ``panodpo.default_lora_config``'s regex.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.glm4v import GLM_SPECIAL_TOKENS, build_glm_v

# GLM-4.1V's tokens, with the audio markers before the placeholders and GLM-4.5's reasoning and
# tool tokens after them (the checkpoint's order, so ids match its layout).
GLM45_SPECIAL_TOKENS = [
    *GLM_SPECIAL_TOKENS[:14],
    "<|begin_of_audio|>",
    "<|end_of_audio|>",
    *GLM_SPECIAL_TOKENS[14:],
    *(f"<{tag}>" for name in ("think", "tool_call", "tool_response", "arg_key", "arg_value") for tag in (name, "/" + name)),
]

# Laid out as GLM-4.5V's (and GLM-4.6V's) chat template without the tool branches (rendered by
# transformers with trim_blocks and lstrip_blocks).
GLM45V_CHAT_TEMPLATE = """[gMASK]<sop>
{%- macro visible_text(content) -%}
    {%- if content is string -%}
        {{- content }}
    {%- elif content is iterable and content is not mapping -%}
        {%- for item in content -%}
            {%- if item is mapping and item.type == 'text' -%}
                {{- item.text }}
            {%- elif item is mapping and (item.type == 'image' or 'image' in item) -%}
                <|begin_of_image|><|image|><|end_of_image|>
            {%- elif item is mapping and (item.type == 'video' or 'video' in item) -%}
                <|begin_of_video|><|video|><|end_of_video|>
            {%- elif item is string -%}
                {{- item }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{- content }}
    {%- endif -%}
{%- endmacro -%}
{%- set ns = namespace(last_user_index=-1) %}
{%- for m in messages %}
    {%- if m.role == 'user' %}
        {% set ns.last_user_index = loop.index0 -%}
    {%- endif %}
{%- endfor %}
{% for m in messages %}
{%- if m.role == 'user' -%}<|user|>
{% if m.content is string %}
{{ m.content }}
{%- else %}
{%- for item in m.content %}
{% if item.type == 'video' or 'video' in item %}
<|begin_of_video|><|video|><|end_of_video|>{% elif item.type == 'image' or 'image' in item %}
<|begin_of_image|><|image|><|end_of_image|>{% elif item.type == 'text' %}
{{ item.text }}
{%- endif %}
{%- endfor %}
{%- endif %}
{{- '/nothink' if (enable_thinking is defined and not enable_thinking and not visible_text(m.content).endswith("/nothink")) else '' -}}
{%- elif m.role == 'assistant' -%}
<|assistant|>
{%- set reasoning_content = '' %}
{%- set content = visible_text(m.content) %}
{%- if m.reasoning_content is string %}
    {%- set reasoning_content = m.reasoning_content %}
{%- else %}
    {%- if '</think>' in content %}
        {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
        {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
    {%- endif %}
{%- endif %}
{%- if loop.index0 > ns.last_user_index and reasoning_content -%}
{{ '\\n<think>' + reasoning_content.strip() +  '</think>'}}
{%- else -%}
{{ '\\n<think></think>' }}
{%- endif -%}
{%- if content.strip() -%}
{{ '\\n' + content.strip() }}
{%- endif -%}
{%- elif m.role == 'system' -%}
<|system|>
{{ visible_text(m.content) }}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
<|assistant|>
{{'<think></think>\\n' if (enable_thinking is defined and not enable_thinking) else ''}}
{%- endif -%}"""


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random GLM-4.5V and its processor (frames resized to about ``frame_size``, a multiple of 28).

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.text_config.n_routed_experts, model.config.vision_config.hidden_size
    ('Glm4vProcessor', 4, 32)
    """
    from transformers import Glm4vImageProcessor, Glm4vMoeConfig, Glm4vMoeForConditionalGeneration, Glm4vProcessor, Glm4vVideoProcessor

    moe = {"moe_intermediate_size": hidden_size, "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1,
           "first_k_dense_replace": 1, "n_group": 1, "topk_group": 1, "norm_topk_prob": True, "attention_bias": True}
    return build_glm_v(Glm4vMoeConfig, Glm4vMoeForConditionalGeneration, (Glm4vProcessor, Glm4vImageProcessor, Glm4vVideoProcessor),
                       moe, hidden_size, num_layers, seed, frame_size, GLM45_SPECIAL_TOKENS, GLM45V_CHAT_TEMPLATE)
