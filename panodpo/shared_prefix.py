"""The shared prefix of a PanoDPO example, computed once: a prefix forward, then the branches.

Three of an example's sequences (y_w|v,q; y_l|v,q; y_w|v,q') begin with the same chat header
and video block, about 1,000 visual tokens at 32 frames against a few dozen of question and
answer. Instead of running each of them in full, the language model runs

1. the **prefix** (everything the group's sequences have in common, up to one token before
   they first differ) once, as one row, recording each layer's keys and values;
2. the **branches** (each sequence's remaining tokens) as one batch that attends to the
   recorded prefix through a read-only KV cache.

Gradients flow from the branches into the prefix through the recorded keys and values, so the
log-probabilities and their gradients equal the plain forward's (tested over the family matrix,
with gradient checkpointing on and off). Vanilla DPO (both extra weights 0) shares the whole
prompt between chosen and rejected the same way. y_w|v',q is computed in full (its video differs),
unless VistaDPO's instance-level term adds y_l|v',q: the two then form a second group of the
example, sharing the v' prefix, so v' is run through the language model once as well.

Why a cache rather than a packed sequence with a tree attention mask: the model computes its own
positions from the cache (M-RoPE families keep their ``rope_deltas`` from the prefix forward), its
own masks (sliding windows included) and its own video-token scatter, exactly as it does when it
generates, so one mechanism serves every family whose cache is made of attention layers.

Why it survives gradient checkpointing: transformers drops a layer's cache under checkpointing,
because a writing cache would be written again when the backward pass replays the layer. Both
caches here are idempotent: the recording one overwrites (a replay records the same tensors
again), the branch one never writes (it returns the prefix concatenated with the new states). So
the layers are told they may keep them (``_can_checkpoint_with_cache``) for these forwards only.
Reentrant checkpointing replays under ``no_grad`` and would cut the prefix's gradients: it is
refused (the run falls back to the plain path with one logged line).
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Iterator, Sequence

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer

from temrobbench.rope_positions import full_forward_positions, rope_index_function  # noqa: F401 - re-exported for the trainer

__all__ = ["SharedPrefixUnsupported", "RecordingCache", "branch_cache", "keep_cache_under_checkpointing", "cache_kwarg",
           "unsupported_reason", "group_prefix_length", "tree_token_count"]


class SharedPrefixUnsupported(RuntimeError):
    """The model's cache or attention cannot be shared this way: the run uses the plain path."""


class _RecordingLayer(DynamicLayer):
    """Records the prefix's keys and values; a checkpoint replay records the same ones again."""

    def __init__(self, is_sliding: bool = False, sliding_window: int | None = None) -> None:
        super().__init__()
        self.is_sliding = is_sliding
        if sliding_window is not None:
            self.sliding_window = sliding_window

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        self.keys, self.values = key_states, value_states  # overwrite, never append: idempotent
        return key_states, value_states


class _BranchLayer(DynamicLayer):
    """The recorded prefix, read by every branch row: ``update`` returns prefix + new states
    and stores nothing, so a checkpoint replay sees the same cache."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, is_sliding: bool, sliding_window: int | None) -> None:
        super().__init__()
        self.device = keys.device
        self.keys, self.values, self.is_initialized = keys, values, True
        self.is_sliding = is_sliding
        if sliding_window is not None:
            self.sliding_window = sliding_window

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        rows = key_states.shape[0]
        keys = self.keys.expand(rows, *self.keys.shape[1:])
        values = self.values.expand(rows, *self.values.shape[1:])
        return torch.cat([keys, key_states], dim=-2), torch.cat([values, value_states], dim=-2)

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        # The whole prefix is kept (a sliding layer's mask still limits what each query sees).
        return self.keys.shape[-2] + query_length, 0


class RecordingCache(DynamicCache):
    """A cache for the prefix forward: one recording layer per decoder layer of ``config``."""

    def __init__(self, config: Any) -> None:
        super().__init__(config=config)
        layers = []
        for layer in self.layers:
            if type(layer) not in (DynamicLayer, DynamicSlidingWindowLayer):
                raise SharedPrefixUnsupported(f"its cache holds {type(layer).__name__} layers (recurrent or compressed "
                                              "states), which a read-only branch cannot share")
            sliding = type(layer) is DynamicSlidingWindowLayer
            layers.append(_RecordingLayer(sliding, getattr(layer, "sliding_window", None) if sliding else None))
        self.layers = layers
        if not layers:
            self.layer_class_to_replicate = _RecordingLayer


def branch_cache(cache: RecordingCache, num_layers: int | None = None) -> DynamicCache:
    """A read-only cache over ``cache``'s recorded prefix, for a batch of branch rows."""
    layers = [layer for layer in cache.layers if isinstance(layer, _RecordingLayer)]
    if not layers or any(not layer.is_initialized for layer in layers) or (num_layers is not None and len(layers) != num_layers):
        raise SharedPrefixUnsupported("the prefix forward did not fill the cache of every layer")
    branch = DynamicCache()
    branch.layers = [_BranchLayer(layer.keys, layer.values, layer.is_sliding, getattr(layer, "sliding_window", None)) for layer in layers]
    branch.layer_class_to_replicate = None
    return branch


@contextlib.contextmanager
def keep_cache_under_checkpointing(model: torch.nn.Module) -> Iterator[None]:
    """Let checkpointed layers keep the (idempotent) caches of this module for these forwards.

    The flag is read when a layer's forward starts; the replay in the backward pass reuses the
    arguments captured then, so restoring it afterwards is safe."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    saved = [m.__dict__.get("_can_checkpoint_with_cache", None) for m in layers]
    for m in layers:
        m._can_checkpoint_with_cache = True
    try:
        yield
    finally:
        for m, value in zip(layers, saved):
            if value is None:
                m.__dict__.pop("_can_checkpoint_with_cache", None)
            else:
                m._can_checkpoint_with_cache = value


def cache_kwarg(model: torch.nn.Module) -> str:
    """The forward argument a cache goes in: ``cache`` (transformers 5) or ``past_key_values``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def unsupported_reason(model: torch.nn.Module, gradient_checkpointing: bool, checkpointing_kwargs: dict | None) -> str | None:
    """Why the shared prefix cannot serve this model and set-up (None when it can, as far as can
    be told before running it; the first batch is also checked against the plain path)."""
    if gradient_checkpointing and (checkpointing_kwargs or {}).get("use_reentrant"):
        return "reentrant gradient checkpointing replays layers without gradients, which would cut the prefix's gradients " \
               "(use gradient_checkpointing_kwargs={'use_reentrant': False})"
    config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    try:
        RecordingCache(config)
    except SharedPrefixUnsupported as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - a config the cache cannot read: not shareable
        return f"its cache cannot be built from its config ({type(err).__name__}: {err})"
    return None


def group_prefix_length(input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_mask: torch.Tensor, rows: Sequence[int],
                        forbidden_ids: Sequence[int] = (), token_types: Sequence[torch.Tensor] = ()) -> int:
    """Tokens the rows of a group share before they differ, never reaching into a response; when
    they share their whole prompt, one token less (a branch then keeps the prompt's last token,
    whose logits score the response's first). 0 when the group cannot share: a multimodal token
    (one of ``forbidden_ids``, or a nonzero entry of a per-token type tensor such as
    ``mm_token_type_ids``) would fall in a branch, away from the rest of its block.

    >>> ids = torch.tensor([[5, 6, 7, 1, 2], [5, 6, 7, 3, 0], [5, 6, 8, 4, 0]])
    >>> mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 0]])
    >>> completion = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0]])
    >>> group_prefix_length(ids, mask, completion, [0, 1]), group_prefix_length(ids, mask, completion, [0, 1, 2])
    (2, 2)
    >>> video = torch.tensor([[0, 1, 1, 0, 0]] * 3)  # positions 1-2 a video block, cut by the branch
    >>> group_prefix_length(ids, mask, completion, [0, 1, 2], token_types=[video])
    0
    >>> group_prefix_length(ids, mask, completion, [0, 1, 2], forbidden_ids=[8])
    0
    """
    rows = list(rows)
    block = input_ids[rows]
    same = (block == block[:1]).all(dim=0) & attention_mask[rows].bool().all(dim=0)
    common = int(same.long().cumprod(dim=0).sum())
    prompt = int((attention_mask[rows].bool() & ~completion_mask[rows].bool()).sum(dim=1).min())
    length = min(common, prompt)
    if length == prompt:
        length -= 1
    if length <= 0:
        return 0
    valid = attention_mask[rows, length:].bool()
    if forbidden_ids and (torch.isin(block[:, length:], torch.tensor(list(forbidden_ids), device=block.device)) & valid).any():
        return 0
    if any(((types[rows, length:] != 0) & valid).any() for types in token_types):
        return 0
    return length


def tree_token_count(attention_mask: torch.Tensor, groups: Sequence[Sequence[int]], prefix_lengths: Sequence[int], solo_rows: Sequence[int]) -> int:
    """Positions the language model processes for one batch on the shared-prefix path: each
    group's prefix once, its branch rows padded to the group's longest, and the solo rows padded
    to theirs (the count a forward hook sees; the plain path processes every row at full width).

    >>> mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]])
    >>> tree_token_count(mask, [[0, 1]], [2], [2])
    8
    """
    lengths = attention_mask.sum(dim=1)
    total = 0
    for rows, prefix in zip(groups, prefix_lengths):
        total += prefix + len(rows) * (int(lengths[list(rows)].max()) - prefix)
    if solo_rows:
        total += len(solo_rows) * int(lengths[list(solo_rows)].max())
    return total


def branch_position_ids(rope_index: Any, rows_inputs: dict[str, torch.Tensor], prefix: dict[str, Any], rows: int, start: int) -> torch.Tensor | None:
    """Positions of the branch tokens (from ``start``), as the plain forward over the full rows
    computes them (:func:`temrobbench.rope_positions.full_forward_positions`): a model continuing
    from a cache would derive its own, which transformers 5.24's Qwen2.5-VL places differently
    after a long video."""
    return full_forward_positions(rope_index, rows_inputs, prefix, rows, start)
