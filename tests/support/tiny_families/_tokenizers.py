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


def _sentencepiece_like_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Llama-2's layout in miniature: ``<unk> <s> </s>``, the 256 ``<0xNN>`` byte pieces, then pieces.

    The pieces are ``▁``, every printable ASCII character and ``▁`` + each letter or digit (merged
    by BPE, so ``" Which"`` starts with the piece ``▁W`` as real SentencePiece vocabularies do).
    """
    vocab: dict[str, int] = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    vocab["▁"] = len(vocab)
    for code in range(0x21, 0x7F):
        vocab.setdefault(chr(code), len(vocab))
    merges = []
    for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        vocab["▁" + ch] = len(vocab)
        merges.append(("▁", ch))
    return vocab, merges


def sentencepiece_like_tokenizer(
    special_tokens: Sequence[str] = (),
    *,
    pad: str | None = None,
    chat_template: str | None = None,
    padding_side: str = "right",
    **extra_named_tokens: str,
):
    """A Llama-2-like SentencePiece tokenizer built offline (``LlamaTokenizerFast``, non-legacy).

    As Llama-2's ``tokenizer.json``: a BPE model with byte fallback (``<0x0A>`` for a newline) and
    ``<unk>`` for unknown pieces, a ``Metaspace("▁", prepend_scheme="first")`` pre-tokenizer (a
    ``▁`` goes before the first piece of the input only, never after an added token), the decoder
    ``Replace("▁", " ") + ByteFallback + Fuse + Strip(1 left)``, ``<s>`` added by the post-processor
    and ``</s>`` as EOS. ``special_tokens`` (``<image>``, ``<video>``) are added after the vocabulary,
    as the hub checkpoints add them (ids 32000+ there). ``pad`` defaults to ``<unk>`` (what
    llava-hf checkpoints use); ``extra_named_tokens`` become tokenizer attributes (``image_token=``).

    The property that matters for prefix caching: a text after a special token gets no ``▁`` inside
    the full prompt, but does when tokenized on its own.

    >>> tok = sentencepiece_like_tokenizer(["<video>"])
    >>> tok.convert_ids_to_tokens(tok("\\nWhich", add_special_tokens=False)["input_ids"])
    ['▁', '<0x0A>', 'W', 'h', 'i', 'c', 'h']
    >>> tok.convert_ids_to_tokens(tok("USER: <video>\\nWhich")["input_ids"])
    ['<s>', '▁U', 'S', 'E', 'R', ':', '▁', '<video>', '<0x0A>', 'W', 'h', 'i', 'c', 'h']
    >>> tok.decode(tok("héllo world")["input_ids"], skip_special_tokens=True), tok.padding_side
    ('héllo world', 'right')
    """
    from transformers import LlamaTokenizerFast

    vocab, merges = _sentencepiece_like_vocab()
    named = dict(extra_named_tokens)
    tok = LlamaTokenizerFast(
        vocab=vocab,
        merges=merges,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token=pad or "<unk>",
        legacy=False,
        add_prefix_space=True,
        add_bos_token=True,
        add_eos_token=False,
        padding_side=padding_side,  # an init kwarg, so that it is saved (LlamaTokenizer's default is left)
        extra_special_tokens=named or None,
    )
    added = list(dict.fromkeys(list(special_tokens) + list(named.values())))
    if added:
        tok.add_special_tokens({"additional_special_tokens": added})
    if pad and pad not in tok.get_vocab():
        tok.add_special_tokens({"pad_token": pad})
    if chat_template:
        tok.chat_template = chat_template
    tok.padding_side = padding_side
    return tok
