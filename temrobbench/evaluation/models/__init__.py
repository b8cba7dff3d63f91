"""Model adapters, registered by spec prefix: ``hf:``, ``blind:``, ``openai:``, ``random``."""

from temrobbench.evaluation.models.base import SCORING_MODES, VideoLM
from temrobbench.evaluation.models.registry import register_model, resolve_model, valid_specs

__all__ = ["SCORING_MODES", "VideoLM", "register_model", "resolve_model", "valid_specs"]
