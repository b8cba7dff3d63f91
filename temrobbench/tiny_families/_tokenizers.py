"""Tokenizers built in code for the tiny families (no download)."""

from __future__ import annotations

from typing import Sequence


def byte_level_tokenizer(
    special_tokens: Sequence[str],
    *,
    eos: str,
    pad: str,
    bos: str | None = None,
    unk: str | None = None,
    chat_template: str | None = None,
    padding_side: str = "right",
    tokenizer_class: str | None = None,
    **extra_named_tokens: str,
):
    """A byte-level BPE tokenizer (256 byte tokens, no merges) plus ``special_tokens``.

    The default ``padding_side`` is right, as most hub processors ship: the adapters must ask
    for left padding themselves where they need it. ``extra_named_tokens`` become attributes of
    the tokenizer (``image_token="<image>"``), as some processors read them.

    >>> tok = byte_level_tokenizer(["<|im_end|>", "<pad>"], eos="<|im_end|>", pad="<pad>")
    >>> tok.decode(tok("héllo")["input_ids"]), tok.padding_side
    ('héllo', 'right')
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(byte_chars))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    named = {"eos_token": eos, "pad_token": pad}
    if bos:
        named["bos_token"] = bos
    if unk:
        named["unk_token"] = unk
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **named, extra_special_tokens=dict(extra_named_tokens) or None)
    fast.add_special_tokens({"additional_special_tokens": list(dict.fromkeys(list(special_tokens) + list(extra_named_tokens.values())))})
    if chat_template:
        fast.chat_template = chat_template
    fast.padding_side = padding_side
    return fast
