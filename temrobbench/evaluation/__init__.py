"""Evaluation of video LMMs on TemRobBench (DESIGN.md §2)."""

from .evaluate import evaluate_temporal_robustness
from .models import VideoLM, register_model, resolve_model
from .report import EvalReport
from .requests import VideoLMRequest

__all__ = ["EvalReport", "VideoLM", "VideoLMRequest", "evaluate_temporal_robustness", "register_model", "resolve_model"]
