"""Tiny MiniMax-M3 VL (``MiniMaxM3SparseForConditionalGeneration``), built offline.

Real: the model class and its config layout as ``MiniMaxAI/MiniMax-M3``: a LLaVA-style model
(``vision_tower`` + ``multi_modal_projector`` + ``language_model``) whose text model mixes
``minimax_m3_sparse`` layers (block-sparse attention: a "lightning indexer" scores key blocks of
``index_block_size`` slots and each query attends only its top ``index_topk_blocks`` blocks plus the
local one) with full-attention layers, Gemma-style QK norms and partial RoPE (``rotary_dim``), a dense
first MLP and MoE MLPs (fused ``gate_up_proj``/``down_proj`` experts, a shared expert, sigmoid router
with correction bias, SwiGLU-OAI); the vision tower (Qwen2.5-VL-style 3D patch embedding, rotary
CLIP-like blocks) and the projector (a per-patch GELU MLP, then 2x2 patches merged by a second MLP into
the text width); ``MiniMaxM3VLProcessor`` with ``MiniMaxM3VLImageProcessor``/``MiniMaxM3VLVideoProcessor``
and the processor's own tokens (``]<]video[>[`` placeholder, each temporal patch wrapped in
``]<]start of image[>[`` ... ``]<]end of image[>[``, preceded by ``]<]t.t seconds[>[`` when the frame
timing is known).
Tiny: byte-level tokenizer, 16-wide 2-layer text model (layer 0 sparse + dense MLP, layer 1 full +
MoE of 4 experts, 2 active), a 32-wide 1-block vision tower with 8-px patches (real 14: 48x64 frames
then divide the 16-px grid), indexer blocks of 8 slots with 2 kept (real 128 and 16), so the video
prompt (~100 tokens) is really sparse.

Chat template: written here after MiniMax-M3's turn layout (the hub ``chat_template.jinja`` could not be
read offline; the markers are MiniMax-M2's, which M3 keeps): ``]~!b[`` then a fixed ``]~b]system``
turn ("You are a helpful assistant."), the caller's system prompt as a ``]~b]developer`` turn, turns
closed by ``[e~[\n``, the answer opened by ``]~b]ai\n``. Its reasoning switches are not reproduced.

What differs about the family:
- the sparse layers' cache (``MiniMaxM3VLSparseCacheLayer``) also keeps the indexer's keys: the
  adapter copies the prefix cache per query; PanoDPO's shared prefix cannot record them and takes the
  plain path (one logged line);
- the indexer anchors blocks to absolute cache slots (left padding moves them: transformers' own
  TODO), and the text model reads no ``mm_token_type_ids``;
- the processor turns its video processor's resizing off (``videos_kwargs = {"do_resize": False}``:
  MiniMax's loader resizes frames to the patch grid); TemRobBench's frames come at source size, so
  :func:`temrobbench.processor_inputs.video_kwargs` asks for ``do_resize=True`` (the same
  ``smart_resize``).
"""

from __future__ import annotations

from typing import Any

#: MiniMax-M3's turn layout (``]~!b[`` BOS, ``]~b]<role>\\n ... [e~[\\n`` turns, a fixed
#: ``system`` turn, the caller's system prompt as a ``developer`` turn, ``]~b]ai\\n`` to answer).
MINIMAX_M3_TEMPLATE = (
    "{{- ']~!b[' + ']~b]system' + '\\n' + 'You are a helpful assistant.' + '[e~[' + '\\n' -}}"
    "{%- for message in messages -%}"
    "{%- set role = {'system': 'developer', 'user': 'user', 'assistant': 'ai', 'tool': 'tool'}[message['role']] -%}"
    "{{- ']~b]' + role + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'video' -%}{{- ']<]video[>[' -}}"
    "{%- elif part['type'] == 'image' -%}{{- ']<]image[>[' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '[e~[' + '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- ']~b]ai' + '\\n' -}}{%- endif -%}"
)
MINIMAX_M3_SPECIAL_TOKENS = ["]~!b[", "]~b]", "[e~[", "]!d~[", "]<]image[>[", "]<]video[>[", "]<]start of image[>[",
                             "]<]end of image[>[", "<mm:think>", "</mm:think>"]


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, sparse_block: int = 8) -> tuple[Any, Any]:
    """A random MiniMax-M3 VL (one block-sparse attention layer, MoE + dense MLPs) and its processor."""
    import torch
    from transformers import (
        MiniMaxM3SparseForConditionalGeneration,
        MiniMaxM3VLConfig,
        MiniMaxM3VLImageProcessor,
        MiniMaxM3VLProcessor,
        MiniMaxM3VLVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(MINIMAX_M3_SPECIAL_TOKENS, eos="[e~[", pad="]!d~[", bos="]~!b[",
                                     chat_template=MINIMAX_M3_TEMPLATE)
    tid = tokenizer.convert_tokens_to_ids
    heads, kv_heads = 4, 2
    patch, merge, temporal = 8, 2, 2
    vision_dim = 2 * hidden_size
    layer_types = ["minimax_m3_sparse" if i % 2 == 0 else "full_attention" for i in range(num_layers)]
    config = MiniMaxM3VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": hidden_size,
            "dense_intermediate_size": 2 * hidden_size,
            "shared_intermediate_size": hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": hidden_size // heads * 2,
            "rotary_dim": hidden_size // heads,
            "num_local_experts": 4,
            "num_experts_per_tok": 2,
            "max_position_embeddings": 4096,
            "layer_types": layer_types,
            "mlp_layer_types": ["dense"] + ["sparse"] * (num_layers - 1),
            "index_n_heads": kv_heads,
            "index_head_dim": 8,
            "index_block_size": sparse_block,
            "index_topk_blocks": 2,
            "index_local_blocks": 1,
            "pad_token_id": tid("]!d~["),
            "bos_token_id": tid("]~!b["),
            "eos_token_id": tid("[e~["),
        },
        vision_config={
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "patch_size": patch,
            "temporal_patch_size": temporal,
            "spatial_merge_size": merge,
        },
        projector_hidden_size=2 * hidden_size,
        image_token_index=tid("]<]image[>["),
        video_token_index=tid("]<]video[>["),
    )
    torch.manual_seed(seed)
    model = MiniMaxM3SparseForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = tid("[e~[")
    model.generation_config.pad_token_id = tid("]!d~[")
    pixels = dict(patch_size=patch, temporal_patch_size=temporal, merge_size=merge)
    processor = MiniMaxM3VLProcessor(
        image_processor=MiniMaxM3VLImageProcessor(**pixels),
        video_processor=MiniMaxM3VLVideoProcessor(**pixels, min_pixels=4 * 16 * 16, max_pixels=64 * 16 * 16),
        tokenizer=tokenizer,
        chat_template=MINIMAX_M3_TEMPLATE,
    )
    return model, processor
