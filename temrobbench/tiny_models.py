"""The tiny Qwen2-VL built offline from a config: the quickstart's, the mini reproduction's and
the benchmarks' model (the other families' tiny models are test scaffolding, tests/support/tiny_families).

Nothing is downloaded: the tokenizer is byte-level and built in code, the chat template is the
Qwen2-VL one that ships inside the ``trl`` wheel, and the weights are random (seeded). The real
code paths load real checkpoints by hub id with the same classes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def qwen2vl_chat_template() -> str:
    """The Qwen2(.5)-VL chat template shipped in the ``trl`` wheel (handles video content)."""
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the tiny models take their chat template from the trl package: pip install trl")
    path = Path(list(spec.submodule_search_locations)[0]) / "chat_templates" / "qwen2_5_vl.jinja"
    return path.read_text(encoding="utf-8")


def build_byte_tokenizer():
    """A byte-level tokenizer (256 byte tokens, no merges) plus Qwen2-VL's special tokens.

    >>> tok = build_byte_tokenizer()
    >>> tok.decode(tok("héllo")["input_ids"])
    'héllo'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(byte_chars))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:2] + QWEN_SPECIAL_TOKENS[3:]),
    )
    fast.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS)})
    fast.chat_template = qwen2vl_chat_template()
    fast.padding_side = "left"
    return fast


def build_tiny_qwen2vl(
    hidden_size: int = 16,
    num_layers: int = 2,
    vision_depth: int = 2,
    vision_dim: int = 16,
    seed: int = 0,
    frame_size: int = 56,
) -> tuple[Any, Any]:
    """A random Qwen2-VL (``Qwen2VLForConditionalGeneration``) and its processor, on CPU.

    ``frame_size`` fixes the resolution frames are resized to (multiples of 28): 56 gives 4
    visual tokens per pair of frames; 224 gives 64, as real Qwen2-VL does at that size.

    >>> model, processor = build_tiny_qwen2vl()
    >>> model.config.text_config.hidden_size, model.config.text_config.num_hidden_layers
    (16, 2)
    """
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = build_byte_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    heads = 2
    head_dim = hidden_size // heads
    quarter = head_dim // 4
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": hidden_size * 2,
            "num_hidden_layers": num_layers,
            "num_attention_heads": heads,
            "num_key_value_heads": heads,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [quarter, quarter, head_dim // 2 - 2 * quarter]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": vision_depth,
            "embed_dim": vision_dim,
            "hidden_size": hidden_size,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).eval()
    pixels = frame_size * frame_size
    size = {"shortest_edge": pixels, "longest_edge": pixels}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size),
        video_processor=Qwen2VLVideoProcessor(size=size, do_sample_frames=False, cap_pixels_per_frame=False),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
    )
    return model, processor


def save_tiny_qwen2vl(path: str | Path, **kwargs: Any) -> Path:
    """Write a tiny Qwen2-VL with ``save_pretrained`` so ``hf:<path>`` and ``from_pretrained`` load it."""
    model, processor = build_tiny_qwen2vl(**kwargs)
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
