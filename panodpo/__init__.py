"""PanoDPO: panoramic direct preference optimization for video LMMs, on TRL.

Submodules load on first use, so ``import panodpo`` does not import TRL.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PanoDPOConfig": "panodpo.config",
    "PanoDPOTrainer": "panodpo.trainer",
    "PanoDPOCollator": "panodpo.collator",
    "panodpo_loss": "panodpo.loss",
    "default_lora_config": "panodpo.lora",
    "make_rejected_video": "panodpo.rejected_videos",
    "RejectedVideoSettings": "panodpo.rejected_videos",
    "PrepareConfig": "panodpo.data.prepare",
    "prepare_dpo_data": "panodpo.data.prepare",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'panodpo' has no attribute {name!r}")
