"""Evaluation of video LMMs on TemRobBench (docs/design.md, "Evaluation protocol")."""

from temrobbench.evaluation.evaluate import evaluate_temporal_robustness
from temrobbench.evaluation.models import VideoLM, register_model, resolve_model
from temrobbench.evaluation.report.tables import EvalReport
from temrobbench.evaluation.requests import VideoLMRequest

__all__ = ["EvalReport", "VideoLM", "VideoLMRequest", "evaluate_temporal_robustness", "register_model", "resolve_model"]
