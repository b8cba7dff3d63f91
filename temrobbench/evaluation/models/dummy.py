"""Dummy models, with no weights: ``random`` (a seeded random letter, the 25% floor) and a plain
Python callable ``fn(request) -> str``."""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

from temrobbench.evaluation.requests import VideoLMRequest
from temrobbench.evaluation.models.base import VideoLM, check_options


class RandomModel(VideoLM):
    """Answers a uniformly random letter, seeded per query (a reproducible floor: 25% accuracy)."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @property
    def model_identity(self) -> dict[str, Any]:
        """The seed is the model: ``random:1`` answers otherwise than ``random``."""
        return {"name": self.name, "seed": self.seed}

    def _rng(self, request: VideoLMRequest) -> random.Random:
        return random.Random(f"{self.seed}:{request.item_id}:{request.setting}:{request.round}")

    def generate(self, requests: Sequence[VideoLMRequest]) -> list[str]:
        return [self._rng(r).choice(r.letters) for r in requests]

    def letter_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[dict[str, float]]:
        scores = []
        for request in requests:
            rng = self._rng(request)  # one stream per query: each letter its own draw (no ties)
            scores.append({letter: -rng.random() for letter in request.letters})
        return scores

    def option_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[list[float]]:
        return [list(d.values()) for d in self.letter_logprobs(requests)]


class CallableModel(VideoLM):
    """Wraps ``fn(request) -> str``: users' own models, and tests that script exact behaviour."""

    def __init__(self, fn: Callable[[VideoLMRequest], str]) -> None:
        self.fn = fn
        self.name = getattr(fn, "__name__", "callable")

    def generate(self, requests: Sequence[VideoLMRequest]) -> list[str]:
        return [str(self.fn(r)) for r in requests]


def load_random(argument: str, **options) -> VideoLM:
    """``random[:seed]``."""
    check_options("random:", options, [])
    return RandomModel(seed=int(argument) if argument else 0)
