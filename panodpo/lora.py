"""The paper's trainable set: LoRA on the language model, the projector fully trained, the
vision tower frozen (parts found from the model's structure: :mod:`panodpo.model_parts`)."""

from __future__ import annotations

from typing import Any

from panodpo.model_parts import find_model_parts, language_model_lora_targets


def projector_modules(model: Any) -> list[str]:
    """Full names of the vision-language projector modules (PEFT's ``modules_to_save`` matches them)."""
    return list(find_model_parts(model).projectors)


def default_lora_config(model: Any, r: int = 16, alpha: int = 32, dropout: float = 0.05) -> Any:
    """A ``peft.LoraConfig`` on every linear layer of the language model (and its MoE experts'
    fused weights), none in the vision tower, with the projector in ``modules_to_save`` (trained
    in full). MoE models get ``lora_dropout=0`` (PEFT's expert LoRA takes no dropout).

    >>> from temrobbench.tiny_models import build_tiny_qwen2vl
    >>> config = default_lora_config(build_tiny_qwen2vl(vision_dim=32)[0])
    >>> config.modules_to_save, config.target_modules
    (['model.visual.merger'], '^model\\\\.language_model\\\\.(.*\\\\.)?(down_proj|gate_proj|k_proj|o_proj|q_proj|up_proj|v_proj)$')
    """
    from peft import LoraConfig

    target, experts = language_model_lora_targets(model)
    if experts:
        # PEFT's LoRA on fused expert weights (ParamWrapper) refuses dropout: drop it for the whole
        # adapter rather than leave the experts, most of an MoE model's weights, without LoRA.
        dropout = 0.0
    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target, target_parameters=experts or None,
        modules_to_save=projector_modules(model), task_type="CAUSAL_LM",
    )
