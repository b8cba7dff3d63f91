"""Shared video encoding: each video of a PanoDPO example is encoded once per step, not once per
sequence (chosen, rejected, rejected-video, rejected-question: up to 4 sequences share 2 videos).

- :func:`shared_video_encoder` finds the module whose ``get_video_features`` encodes videos and
  whose ``forward`` takes them back precomputed; :func:`features_per_sequence` repeats the
  features of the distinct videos for each sequence.
- :class:`FrozenEncoderReuse` records the frozen encoder modules' outputs during the reference
  forward and replays them in the policy forward of the same batch.

Used by :class:`panodpo.trainer.PanoDPOTrainer`; the plain path (``share_video_encoding=False``)
gives the same log-probs.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from panodpo.model_parts import find_model_parts

#: Fields of a video encoder's output that a model's forward reads from ``mm_encoder_outputs``.
FEATURE_FIELDS = ("pooler_output", "deepstack_features")


def shared_video_encoder(model: Any) -> torch.nn.Module | None:
    """The module whose ``get_video_features`` encodes videos and whose ``forward`` takes them back
    precomputed (``mm_encoder_outputs``), or None where the family has no such path (SmolVLM,
    InternVL and PerceptionLM feed video frames as images): the plain path then encodes the video
    of every sequence."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    found = None
    for _, module in base.named_modules():  # outer modules first: the last match is the innermost
        if callable(getattr(module, "get_video_features", None)) and "mm_encoder_outputs" in inspect.signature(module.forward).parameters:
            found = module
    return found


def frozen_encoder_modules(model: Any) -> list[torch.nn.Module]:
    """The outermost modules of the vision encoder(s) that hold no trainable parameter and no
    projector: their outputs are the same in the reference and the policy forward of a step."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    parts = find_model_parts(base)
    found: list[torch.nn.Module] = []

    def visit(name: str, module: torch.nn.Module) -> None:
        holds_projector = any(p == name or p.startswith(name + ".") for p in parts.projectors)
        if parts.in_projector(name):
            return
        if holds_projector or isinstance(module, (torch.nn.ModuleList, torch.nn.ModuleDict)) or any(p.requires_grad for p in module.parameters()):
            for child_name, child in module.named_children():
                visit(f"{name}.{child_name}", child)
            return
        found.append(module)

    for encoder in parts.encoders:
        visit(encoder, base.get_submodule(encoder))
    return found


class FrozenEncoderReuse:
    """Records the outputs of the frozen encoder modules during the reference forward and replays
    them, in call order, during the policy forward of the same batch: the frozen vision tower then
    runs once per step instead of twice (the projector, trained, runs in both). A call whose first
    tensor input differs in shape from the recorded one, or one past the recording, is computed."""

    def __init__(self, modules: list[torch.nn.Module]) -> None:
        self.modules = modules
        self.recorded: dict[int, list[tuple[Any, Any]]] = {}

    @staticmethod
    def _signature(args: tuple, kwargs: dict) -> Any:
        first = next((t for t in list(args) + list(kwargs.values()) if torch.is_tensor(t)), None)
        return None if first is None else tuple(first.shape)

    @contextlib.contextmanager
    def record(self):
        self.recorded = {id(m): [] for m in self.modules}
        handles = [m.register_forward_hook(
            lambda module, args, kwargs, output: self.recorded[id(module)].append((self._signature(args, kwargs), _shallow_copy(output))),
            with_kwargs=True)
            for m in self.modules]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    @contextlib.contextmanager
    def replay(self):
        originals = {}
        for module in self.modules:
            queue = list(self.recorded.get(id(module), []))
            compute = module.forward

            def forward(*args, _queue=queue, _compute=compute, **kwargs):
                if _queue and _queue[0][0] == self._signature(args, kwargs):
                    return _shallow_copy(_queue.pop(0)[1])
                return _compute(*args, **kwargs)

            originals[module] = module.__dict__.get("forward")  # an instance forward (accelerate's hooks) stays
            module.forward = forward
        try:
            yield
        finally:
            for module, own in originals.items():
                if own is None:
                    del module.forward
                else:
                    module.forward = own
            self.recorded = {}


def _shallow_copy(output: Any) -> Any:
    """A new container over the same tensors: callers reassign fields of an encoder's output (Kimi-K2.5's
    ``get_image_features`` replaces the tower's ``pooler_output`` with the projected, per-video split
    features), which must not change what was recorded, nor what a later replay returns."""
    from transformers.utils import ModelOutput

    if isinstance(output, ModelOutput):
        return type(output)(**dict(output.items()))
    if isinstance(output, tuple) and hasattr(output, "_fields"):  # a named tuple
        return type(output)(*output)
    if isinstance(output, (tuple, list)):
        return type(output)(output)
    return output


def features_per_sequence(features: Any, index: torch.Tensor) -> Any:
    """``features`` of the distinct videos (``get_video_features`` output) repeated for each sequence
    (``index``: each sequence's video; every distinct video is used). Per-video (or per-frame: a
    whole number of rows per video) lists and tensors are indexed by video; tensors concatenated
    over videos (Qwen-VL's tokens of all videos, Qwen3-VL's deep-stack features) are split by the
    per-video sizes of ``pooler_output`` first."""
    videos = int(index.max()) + 1
    pooled = features.pooler_output
    sizes = [p.shape[0] for p in pooled] if isinstance(pooled, (list, tuple)) and len(pooled) == videos else None
    order = index.tolist()

    def rows(count: int) -> list[int]:
        per = count // videos
        return [v * per + j for v in order for j in range(per)]

    def pick(value: Any) -> Any:
        if isinstance(value, (list, tuple)) and value and all(torch.is_tensor(v) for v in value) and len(value) % videos == 0 and (
            sizes is None or [v.shape[0] for v in value] == sizes
        ):
            return tuple(value[i] for i in rows(len(value)))
        if torch.is_tensor(value) and sizes is not None and value.shape[0] == sum(sizes):
            parts = value.split(sizes)
            return torch.cat([parts[i] for i in order])
        if torch.is_tensor(value) and sizes is None and value.shape[0] % videos == 0:
            return value[torch.tensor(rows(value.shape[0]), device=value.device)]
        if isinstance(value, (list, tuple)):  # e.g. one tensor per deep-stack layer
            return type(value)(pick(v) for v in value)
        raise ValueError(f"cannot map video features of shape {getattr(value, 'shape', type(value))} to sequences")

    out = type(features)()
    for name in FEATURE_FIELDS:
        value = getattr(features, name, None)
        if value is not None:
            out[name] = pick(value)
    return out

