"""The model card of a PanoDPO adapter, rendered from ``temrobbench/hub/templates/model_card.md.j2``."""

from __future__ import annotations

import os
import re
from typing import Any

from temrobbench.hub.card import render_card


def _base_model(trainer: Any) -> str:
    model = trainer.accelerator.unwrap_model(trainer.model)
    peft_config = getattr(model, "peft_config", None)
    if peft_config:
        base = next(iter(peft_config.values())).base_model_name_or_path
        if base:
            return base
    return getattr(model.config, "_name_or_path", "") or ""


def final_metrics(log_history: list[dict]) -> dict[str, float]:
    """The last logged value of each training metric."""
    metrics: dict[str, float] = {}
    for entry in log_history:
        for key, value in entry.items():
            if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                metrics[key] = float(value)
    return metrics


def epochs_run(trainer: Any) -> float:
    """Epochs actually trained (``state.epoch``: fractional for a run stopped by ``max_steps``), not
    the configured ``num_train_epochs``; the configured value only when nothing was logged yet."""
    epoch = getattr(trainer.state, "epoch", None)
    return round(float(epoch), 2) if epoch is not None else float(trainer.args.num_train_epochs)


def hub_repo_id(name: str | None) -> str | None:
    """``name`` when it reads as a Hub repository id (``ORG/NAME``, not a local folder), else None:
    only Hub ids belong in the card's ``base_model:`` and ``datasets:`` metadata.

    >>> hub_repo_id("ORG/sharegptvideo-panodpo"), hub_repo_id("/data/prepared"), hub_repo_id(None)
    ('ORG/sharegptvideo-panodpo', None, None)
    """
    if name and re.fullmatch(r"[\w.-]+/[\w.-]+", name) and not name.startswith(".") and not os.path.exists(name):
        return name
    return None


def render_model_card(trainer: Any, model_name: str | None = None, dataset_name: str | None = None, tags: Any = None) -> str:
    args = trainer.args
    tag_list = sorted(set(trainer._tag_names) | (set([tags] if isinstance(tags, str) else tags or [])))
    keys = ("dpo/loss", "dpo/reward_margin", "dpo/accuracy", "dpov/loss", "dpov/reward_margin", "dpov/accuracy", "dpot/loss", "dpot/reward_margin", "dpot/accuracy", "loss")
    metrics = final_metrics(trainer.state.log_history)
    base_model = _base_model(trainer)
    dataset_name = dataset_name or getattr(trainer, "dataset_name", None) or getattr(getattr(trainer.train_dataset, "info", None), "dataset_name", None)
    return render_card(
        "model_card.md.j2",
        model_name=model_name or args.hub_model_id or args.output_dir.rstrip("/").split("/")[-1],
        base_model=base_model or "a model built from its configuration",
        base_model_repo=hub_repo_id(base_model),
        base_model_load=base_model or "BASE_MODEL",
        dataset_name=dataset_name,
        dataset_repo=hub_repo_id(dataset_name),
        tags=tag_list,
        beta=args.beta,
        video_loss_weight=args.video_loss_weight,
        text_loss_weight=args.text_loss_weight,
        rejected_video_strategy=args.rejected_video_strategy,
        num_frames=args.num_frames,
        learning_rate=args.learning_rate,
        epochs=epochs_run(trainer),
        steps=trainer.state.global_step,
        metrics={k: metrics[k] for k in keys if k in metrics},
        hub_model_id=args.hub_model_id or "ORG/NAME",
    )
