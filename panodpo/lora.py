"""The paper's trainable set: LoRA on the language model, the projector fully trained, the
vision tower frozen."""

from __future__ import annotations

from typing import Any

LANGUAGE_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PROJECTOR_NAMES = ("multi_modal_projector", "merger", "mm_projector", "connector")


def projector_modules(model: Any) -> list[str]:
    """Names (as PEFT's ``modules_to_save`` matches them) of the vision-language projector."""
    found = []
    for name, _ in model.named_modules():
        last = name.split(".")[-1]
        if last in PROJECTOR_NAMES and not any(name.startswith(f + ".") for f in found):
            found.append(name)
    return sorted({name.split(".")[-1] for name in found})


def default_lora_config(model: Any, r: int = 16, alpha: int = 32, dropout: float = 0.05) -> Any:
    """A ``peft.LoraConfig`` on the language model's projections (none in the vision tower),
    with the projector in ``modules_to_save`` (trained in full).

    >>> from temrobbench.tiny_models import build_tiny_qwen2vl
    >>> config = default_lora_config(build_tiny_qwen2vl()[0])
    >>> config.modules_to_save
    ['merger']
    """
    from peft import LoraConfig

    # A regex on full module names: the language model's projections, never the vision tower's.
    target = r"^(?!.*\b(visual|vision_tower|vision_model)\b).*\.(" + "|".join(LANGUAGE_PROJECTIONS) + r")$"
    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target, modules_to_save=projector_modules(model), task_type="CAUSAL_LM"
    )
