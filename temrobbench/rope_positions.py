"""Positions a full forward gives, for tokens fed after a cached prefix (M-RoPE and its relatives).

A model continuing from a KV cache derives the positions of the new tokens from what it kept of the
prefix (Qwen's ``rope_deltas``), and that is not always what a full forward over the same tokens
gives: transformers 5.24's Qwen2.5-VL places the text after a long video at the video's spatial
extent in a full forward, but after its last temporal position when continuing from a cache (the
two differ by up to 25 positions at 13 s per temporal grid). Evaluation (``hf:`` prefix reuse) and
training (the shared prefix) both promise the full forward's numbers, so both hand the model the
full forward's positions, computed by the model's own position function (``get_rope_index``).
Models without one number their tokens by index, and a cache continues that exactly.

>>> rope_index_function(object()) is None
True
"""

from __future__ import annotations

import inspect
from typing import Any

#: Inputs that are per token (one row per sequence), as opposed to the video's grids and timings.
PER_TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")

#: Processor outputs the model's forward hands its position function under another name (Qwen-Omni:
#: the processor's ``video_second_per_grid`` is ``get_rope_index``'s ``second_per_grids``).
ROPE_INDEX_ALIASES = {"video_second_per_grid": "second_per_grids"}


def rope_index_function(model: Any) -> Any:
    """The model's own multimodal position function (``get_rope_index``), or None for models whose
    positions are the token indices."""
    for owner in (getattr(model, "model", None), model):
        fn = getattr(owner, "get_rope_index", None) if owner is not None else None
        if callable(fn):
            return fn
    return None


def full_forward_positions(rope_index: Any, rows_inputs: dict[str, Any], media_inputs: dict[str, Any], rows: int, start: int) -> Any:
    """Positions of the tokens from ``start`` on, as a full forward over ``rows_inputs`` (per-token
    tensors of the full rows) computes them; ``media_inputs`` holds one video's grids and timings
    (the processor's output for the prefix), repeated for each of the ``rows``. None when the model
    numbers tokens by index (``rope_index`` None)."""
    if rope_index is None:
        return None
    import torch

    parameters = inspect.signature(rope_index).parameters
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    kwargs: dict[str, Any] = {k: v for k, v in rows_inputs.items() if k in parameters}
    for key, value in media_inputs.items():  # the one video's grids and timings, once per row
        if key in PER_TOKEN_KEYS or key.startswith("pixel_values") or not torch.is_tensor(value):
            continue
        name = key if key in parameters else ROPE_INDEX_ALIASES.get(key, key)
        if name in parameters or (takes_any and ("grid" in name or name.startswith("second_per_grid"))):
            kwargs[name] = torch.cat([value] * rows, dim=0)
    positions = rope_index(**kwargs)
    positions = positions[0] if isinstance(positions, tuple) else positions
    return positions[..., start:]


def first_text_position(rope_index: Any, prefix_inputs: dict[str, Any], text_token_id: int) -> Any:
    """Where a full forward places a text token appended to a one-row prefix (shape ``(..., 1, 1)``);
    the next text tokens follow one by one on every axis (text after the last video block is
    numbered consecutively). None for models that number tokens by index.

    Only for text: every query continues its prefix with text (the video is in the prefix)."""
    if rope_index is None:
        return None
    import torch

    ids = prefix_inputs["input_ids"]
    row = {"input_ids": torch.cat([ids, torch.full_like(ids[:, :1], text_token_id)], dim=1)}
    if "attention_mask" in prefix_inputs:
        mask = prefix_inputs["attention_mask"]
        row["attention_mask"] = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
    for key in ("mm_token_type_ids", "token_type_ids"):
        if key in prefix_inputs:
            types = prefix_inputs[key]
            row[key] = torch.cat([types, torch.zeros_like(types[:, :1])], dim=1)
    return full_forward_positions(rope_index, row, prefix_inputs, 1, ids.shape[1])
