"""The parts of a video LMM that PanoDPO treats differently, found from the model's structure.

The paper's trainable set is LoRA on the language model, the projector trained in full, and the
vision tower frozen. Which modules those are is read from the model itself, not from a list of
names that grows with every family:

- the **language model** is the outermost module whose ``config`` is the text sub-config
  (``model.config.get_text_config()``); the output head is ``get_output_embeddings()``;
- the **encoders** (vision tower; audio tower where a family has one) are the outermost modules
  whose ``config`` is one of the other sub-configs (``vision_config``...): transformers builds each
  tower from its own sub-config (Video-LLaVA's image and video towers share one);
- the **projector** is what maps encoder features into the language model's width: modules outside
  the language model and the encoders that hold parameters (LLaVA's ``multi_modal_projector``,
  VideoLLaMA3's ``projector``, Gemma's ``embed_vision``, SmolVLM's ``connector``), and, for families
  that build it into the vision tower (Qwen-VL's ``merger`` and deep-stack mergers, GLM-4.1V's
  ``downsample``/``merger``), the tower's direct children after its attention blocks whose last
  linear or convolution outputs the text width.

Encoder-free families (Gemma 4 unified) build no module from their vision sub-config: their vision
embedder outside the language model (``embed_vision``) stands in for the tower: its final projection
into the text width (``multimodal_embedder``) is the projector, the patch embedding before it is frozen.

Modules outside both that belong to another modality (Gemma's ``embed_audio``) are not projectors
of the video path, nor is an audio tower's own output projection (Qwen-Omni's ``audio_tower.proj``:
the tower is frozen whole); a bare parameter (LLaVA-NeXT's ``image_newline``, used for images only) neither.
A model where no vision encoder or no projector is found raises: training it silently with
nothing frozen, or nothing projected trained, would not be the paper's method.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class ModelParts:
    """Module names (as ``model.named_modules()`` gives them) of each part."""

    language_model: str
    encoders: tuple[str, ...]
    projectors: tuple[str, ...]
    output_head: str | None

    def in_encoder(self, name: str) -> bool:
        return any(_under(name, e) for e in self.encoders)

    def in_projector(self, name: str) -> bool:
        return any(_under(name, p) for p in self.projectors)


def _under(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def _unwrap(model: Any) -> Any:
    # A PEFT model: its base model holds the real module tree (with LoRA layers inside).
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _outermost(names: list[str]) -> list[str]:
    kept: list[str] = []
    for name in sorted(names, key=lambda n: (n.count("."), n)):
        if not any(_under(name, k) for k in kept):
            kept.append(name)
    return sorted(kept)


def _last_output_width(module: torch.nn.Module) -> int | None:
    width = None
    for sub in module.modules():
        if isinstance(sub, torch.nn.Linear):
            width = sub.out_features
        elif isinstance(sub, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
            width = sub.out_channels
    return width


def _has_attention(module: torch.nn.Module) -> bool:
    return any("attention" in type(sub).__name__.lower() for sub in module.modules())


def _encoder_free_embedders(base: torch.nn.Module, claimed: list[str], width: int) -> list[str]:
    """Vision embedders of encoder-free models, which build no module from their vision sub-config
    (Gemma 4 unified's ``embed_vision``: raw patches -> LayerNorm -> Linear -> LayerNorm + 2D position
    table -> ``multimodal_embedder`` into the text width): the outermost modules outside ``claimed``
    (the language model and head), not another modality's, with a direct child that outputs the text
    width and parameters before it (the patch embedding). That child is then found as the projector
    built into the "tower"; the patch embedding is what stays frozen."""
    found = []
    for name, module in base.named_modules():
        if not name or any(_under(name, c) or _under(c, name) for c in claimed) or "audio" in name.split(".")[-1]:
            continue
        children = list(module.named_children())
        into_text = [i for i, (_, child) in enumerate(children) if _last_output_width(child) == width]
        if not into_text:
            continue
        own = next(module.parameters(recurse=False), None) is not None
        before = any(next(child.parameters(), None) is not None for _, child in children[: into_text[-1]])
        if own or before:
            found.append(name)
    return _outermost(found)


def find_model_parts(model: Any) -> ModelParts:
    """The language model, encoders and projector of ``model`` (a transformers VLM, PEFT-wrapped or not).

    >>> from temrobbench.tiny_models import build_tiny_qwen2vl
    >>> find_model_parts(build_tiny_qwen2vl(vision_dim=32)[0])
    ModelParts(language_model='model.language_model', encoders=('model.visual',), projectors=('model.visual.merger',), output_head='lm_head')
    """
    base = _unwrap(model)
    config = base.config
    text_config = config.get_text_config()
    sub_configs = [getattr(config, key, None) for key in getattr(config, "sub_configs", {}) or {}]
    encoder_configs = [c for c in sub_configs if c is not None and c is not text_config]
    # Towers of another modality (Qwen-Omni's audio_config): frozen as encoders, never the video path's projector.
    audio_configs = [getattr(config, key, None) for key in getattr(config, "sub_configs", {}) or {} if "audio" in key]
    language, encoders = [], []
    for name, module in base.named_modules():
        module_config = getattr(module, "config", None)
        if not name or module_config is None:
            continue
        if module_config is text_config:
            language.append(name)
        elif any(module_config is c for c in encoder_configs):
            encoders.append(name)
    language, encoders = _outermost(language), _outermost(encoders)
    kind = type(base).__name__
    if len(language) != 1:
        raise ValueError(f"{kind}: cannot find its language model (modules built from the text config: {language or 'none'})")
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    head_name = next((n for n, m in base.named_modules() if head is not None and m is head), None)
    width = text_config.hidden_size
    if not encoders:  # encoder-free (Gemma 4 unified): the patch embedding stands in for the tower
        encoders = _encoder_free_embedders(base, language + ([head_name] if head_name else []), width)
    if not encoders:
        raise ValueError(f"{kind}: cannot find a vision encoder (no module is built from a vision sub-config); "
                         "PanoDPO would train it unfrozen")

    projectors = []
    # Projectors outside the towers: the outermost parameter-holding modules not inside (or around)
    # the language model, an encoder or the head.
    claimed = language + encoders + ([head_name] if head_name else [])
    for name, _ in base.named_parameters():
        if any(_under(name, c) for c in claimed):
            continue
        parts = name.split(".")[:-1]
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if not any(_under(c, prefix) for c in claimed):
                if "audio" not in prefix.split(".")[-1]:  # another modality's adapter, not the video path
                    projectors.append(prefix)
                break
    # Projectors built into a vision tower: children after its attention blocks (children are
    # registered in forward order) that map into the text width.
    for encoder in encoders:
        if any(getattr(base.get_submodule(encoder), "config", None) is a for a in audio_configs if a is not None):
            continue  # an audio tower's own projection (Qwen-Omni's audio_tower.proj) maps audio, not video
        children = list(base.get_submodule(encoder).named_children())
        last_block = max((i for i, (_, child) in enumerate(children) if _has_attention(child)), default=-1)
        for child_name, child in children[last_block + 1 :]:
            if _last_output_width(child) != width:
                continue
            if isinstance(child, torch.nn.ModuleList):  # PEFT wraps modules, not lists: name each entry
                projectors += [f"{encoder}.{child_name}.{i}" for i in range(len(child))]
            else:
                projectors.append(f"{encoder}.{child_name}")
    projectors = _outermost(projectors)
    if not projectors:
        raise ValueError(f"{kind}: cannot find the vision-language projector (no module outside the towers, and no "
                         f"tower child outputs the text width {width})")
    return ModelParts(language[0], tuple(encoders), tuple(projectors), head_name)


def language_model_lora_targets(model: Any) -> tuple[str, list[str]]:
    """LoRA targets covering the language model: a regex over its linear layers' full names, and
    its 3-D expert weights (MoE layers fuse experts into one parameter; PEFT reaches them through
    ``target_parameters``)."""
    base = _unwrap(model)
    parts = find_model_parts(base)
    lm = base.get_submodule(parts.language_model)
    leaf_names = sorted({name.split(".")[-1] for name, m in lm.named_modules() if isinstance(m, torch.nn.Linear)})
    regex = rf"^{re.escape(parts.language_model)}\.(.*\.)?({'|'.join(map(re.escape, leaf_names))})$"
    experts = sorted({
        f"{parts.language_model}.{name}" for name, p in lm.named_parameters()
        if p.ndim == 3 and "experts" in name.split(".")
    })
    return regex, experts


def freeze_vision_tower(model: torch.nn.Module) -> int:
    """Turn off gradients of the encoders (not of a projector built into them); returns parameters frozen."""
    parts = find_model_parts(model)
    base = _unwrap(model)
    frozen = 0
    for name, parameter in base.named_parameters():
        if parts.in_encoder(name) and not parts.in_projector(name) and parameter.requires_grad:
            parameter.requires_grad_(False)
            frozen += parameter.numel()
    return frozen


def lora_targets_missed(model: Any, target_modules: Any) -> list[str]:
    """Linear layers of the language model that ``target_modules`` (a LoRA config's, as the user
    gave it) names but that carry no LoRA once PEFT has wrapped ``model``.

    PEFT rewrites the targets of some MoE model types (its transformers v4-to-v5 conversion maps
    ``gate_proj``/``up_proj``/``down_proj`` onto fused expert weights, GLM-4.5V among them), which
    silently leaves dense and shared-expert MLPs untrained; the trainer refuses such a run.
    """
    if not target_modules:
        return []
    base = _unwrap(model)
    parts = find_model_parts(base)

    def named(name: str) -> bool:
        if isinstance(target_modules, str):
            return re.fullmatch(target_modules, name) is not None
        return any(name == t or name.endswith("." + t) for t in target_modules)

    missed = []
    for name, module in base.get_submodule(parts.language_model).named_modules():
        full = f"{parts.language_model}.{name}"
        if isinstance(module, torch.nn.Linear) and not name.endswith("base_layer") and not hasattr(module, "lora_A") and named(full):
            missed.append(full)
    return missed
