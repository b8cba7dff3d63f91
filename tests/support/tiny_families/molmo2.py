"""Tiny Molmo2 (``Molmo2ForConditionalGeneration``), built offline.

Real: the model class and its config layout (a SigLIP-like ViT whose features from several layers,
``adapter_config.vision_feature_layer``, are concatenated; an attention-pooling adapter that pools
``pooling_size`` windows of patches (3x3 for video frames, 2x2 for image crops) and an MLP
projector; a Qwen3-like text model with QK norm whose embedding has ``additional_vocab_size``
extra rows for the image tokens, which the LM head cannot emit), ``Molmo2Processor`` with
``Molmo2ImageProcessor`` and ``Molmo2VideoProcessor``, a byte-level BPE tokenizer (Qwen3's is
byte-level) with Molmo2's tokens (``<|endoftext|>`` pad and BOS, ``<|im_start|>``, ``<|im_end|>``
EOS, then ``<im_start>``, ``<im_end>``, ``<im_patch>``, ``<im_col>``, ``<low_res_im_start>``,
``<|image|>``, ``<im_low>``, ``<frame_start>``, ``<frame_end>``, ``<|video|>`` in the additional
vocabulary, as ``allenai/Molmo2-8B`` lays them out) and a ChatML chat template laid out as the
hub's (user/assistant turns only: the hub template rejects a system message; media placeholders
where the item is; the processor, not the template, prepends BOS)::

    <|im_start|>user\\n<|video|>{text}<|im_end|>\\n<|im_start|>assistant\\n

Tiny: 16-wide text model (1 head of 16), 32-wide 2-layer ViT (features of both layers), frames
resized to 56x56 (4x4 patches pooled 3x3 with padding -> 4 tokens per frame; the hub uses 378 px).

What differs about the family:
- timestamps in the prompt, per frame, as plain text before the frame: ``<|video|>`` becomes
  ``0.0 <frame_start><im_patch>*n<frame_end> 0.5 <frame_start>...`` (bare frames: the processor
  assumes ``max_fps`` = 2 with a warning; pass ``video_metadata`` for true times); one video per prompt;
- the processor prepends BOS (``<|endoftext|>``) to every text that does not start with it;
- the frames' pooling indices (``video_token_pooling``) and ``video_grids`` must reach the model
  along with ``pixel_values_videos``; plain ``DynamicCache``.
"""

from __future__ import annotations

from typing import Any

CHAT_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
# In the additional vocabulary (ids from ``text_config.vocab_size`` on), in the hub's order.
IMAGE_TOKENS = ["<im_start>", "<im_end>", "<im_patch>", "<im_col>", "<low_res_im_start>", "<|image|>", "<im_low>",
                "<frame_start>", "<frame_end>", "<|video|>"]

# allenai/Molmo2-8B's layout: ChatML, user/assistant only (a system message is refused), media
# placeholders where the items are, no BOS in the template (the processor prepends it).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ('user', 'assistant') or (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<|image|>' }}"
    "{%- elif item['type'] == 'video' -%}{{ '<|video|>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- if message['role'] == 'user' or not loop.last -%}{{ '<|im_end|>\\n' }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random Molmo2 and its processor (frames resized to ``frame_size``, a multiple of 14).

    >>> model, processor = build()
    >>> type(processor).__name__, processor.video_token, model.config.text_config.additional_vocab_size
    ('Molmo2Processor', '<|video|>', 10)
    """
    import torch
    from transformers import Molmo2Config, Molmo2ForConditionalGeneration, Molmo2ImageProcessor, Molmo2Processor, Molmo2VideoProcessor

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(CHAT_TOKENS + IMAGE_TOKENS, eos="<|im_end|>", pad="<|endoftext|>", bos="<|endoftext|>",
                                     chat_template=CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in CHAT_TOKENS + IMAGE_TOKENS}
    vocab_size = ids[IMAGE_TOKENS[0]]
    assert vocab_size + len(IMAGE_TOKENS) == len(tokenizer)
    vision_dim = 2 * hidden_size
    patch = 14
    config = Molmo2Config(
        vision_config={
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": vision_dim // 2,
            "image_size": [frame_size, frame_size],
            "patch_size": patch,
        },
        adapter_config={
            "vision_feature_layer": [-1, -2],  # as the hub's [-3, -9] of 27: two layers, concatenated
            "hidden_size": vision_dim,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": vision_dim // 2,
            "intermediate_size": 2 * hidden_size,
            "text_hidden_size": hidden_size,
        },
        text_config={
            "vocab_size": vocab_size,
            "additional_vocab_size": len(IMAGE_TOKENS),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 1,
            "num_key_value_heads": 1,
            "head_dim": hidden_size,
            "max_position_embeddings": 4096,
            "pad_token_id": ids["<|endoftext|>"],
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
        },
        image_start_token_id=ids["<im_start>"],
        low_res_image_start_token_id=ids["<low_res_im_start>"],
        image_end_token_id=ids["<im_end>"],
        image_patch_id=ids["<im_patch>"],
        frame_start_token_id=ids["<frame_start>"],
        frame_end_token_id=ids["<frame_end>"],
    )
    torch.manual_seed(seed)
    model = Molmo2ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    size = {"height": frame_size, "width": frame_size}
    processor = Molmo2Processor(
        image_processor=Molmo2ImageProcessor(size=size, max_crops=1, overlap_margins=[1, 1]),
        video_processor=Molmo2VideoProcessor(size=size, do_sample_frames=False),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
        use_single_crop_col_tokens=False,
    )
    return model, processor
