"""Tiny Qwen4-Exp (``Qwen4ExpForConditionalGeneration``), built offline.

Real: the model class with every part of its text model that touches the cache: layer 0 a linear-attention
layer (gated delta net: causal conv1d + recurrent state) with Per-Layer Embedding (PLE: hashed 2- and 3-gram
embeddings of the token ids and a dilated depthwise convolution, both kept as extra conv states of the
layer's cache), layer 1 an *indexed* attention layer (QSA: a token indexer scores blocks of
``indexer_compress_ratio`` keys and each query attends only to the ``indexer_budget`` tokens of its best
blocks plus the incomplete tail; its keys are cached as a ``DynamicIndexedLayer``'s indexer keys, and the
3-D M-RoPE positions of the whole sequence are kept on that layer too); hyper-connections (``hc_count``
residual streams mixed by gated residuals); a sparse MoE block with fused expert weights and a shared
expert in every layer (4 experts, top-2 here; 512 experts, top-10 in the checkpoint); the Qwen3.5-style
vision tower; ``Qwen3VLProcessor`` (``AutoProcessor`` maps ``qwen4_exp`` to it) with
``Qwen2VLImageProcessor`` and ``Qwen3VLVideoProcessor``; Qwen's special tokens. Tiny: byte-level
tokenizer, 16-wide text model, 2 hyper-connection streams, a 32-token indexer budget in blocks of 2
(a benchmark prompt is ~290 tokens here, so each query attends to a selection, as with real lengths;
with a 4-token budget the random model's answer no longer saw the video), n-gram heads of ~13 rows
(20M in the checkpoint), 32-wide 2-block ViT, frames resized to 64x64.

The chat template: ``Qwen/Qwen4-Exp`` ships the Qwen3.5 tokenizer class (``Qwen3_5Tokenizer``) and processor;
no copy of its own template is available offline, so the Qwen3.5 hub template (``trl``'s
``qwen3_5_think.jinja``) stands in for it (thinking by default, ``<|vision_start|><|video_pad|><|vision_end|>``).

What differs about the family:
- new cache kinds: ``LinearAttentionLayer`` (3 conv states with PLE + a recurrent state) and
  ``DynamicIndexedLayer`` (keys, values, indexer keys and the sequence's 3-D positions). Neither is a plain
  ``DynamicLayer``: ``hf:`` copies the prefix cache per query (a deep copy carries the indexer keys and
  positions); PanoDPO's shared prefix cannot read-only share recurrent state and falls back to the plain path;
- the model's hidden state is ``hc_count`` times the text width inside the decoder layers (hyper-connections),
  mixed back to the text width before the final norm;
- PLE reads the token ids (``ple_input_ids``) even when the model is fed ``inputs_embeds``.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen3_5 import build_qwen3_5_family, hybrid_layer_types


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random Qwen4-Exp (a linear-attention layer with PLE, then an indexed-attention layer; 4 experts) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, model.config.text_config.num_experts, model.config.vision_config.hidden_size
    (['linear_attention', 'indexed_attention'], 4, 32)
    """
    from transformers import Qwen4ExpConfig, Qwen4ExpForConditionalGeneration

    extra = {
        "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": hidden_size,
        "shared_expert_intermediate_size": hidden_size,
        "hc_count": 2, "hc_lowrank": 8,
        # QSA: one key head; rotary width (head_dim 32 x 0.25 = 8) fits the index head
        "indexer_n_heads": 2, "indexer_kv_heads": 1, "indexer_head_dim": 8, "indexer_budget": 32, "indexer_compress_ratio": 2,
        # PLE on the first (linear-attention) layer, with a tiny hashed n-gram table
        "ple_layer_ids": [1], "ple_embed_dim": hidden_size, "ngram_size": 3, "heads_per_ngram": 2,
        "ngram_vocab_size_base": 13, "make_ngram_vocab_size_divisible_by": 8, "split_ngram_parts": 2,
    }
    return build_qwen3_5_family(Qwen4ExpConfig, Qwen4ExpForConditionalGeneration, extra, hybrid_layer_types(num_layers, "indexed_attention"),
                                hidden_size, num_layers, seed, frame_size)
