"""The one request type every model adapter answers (lm-evaluation-harness style)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class VideoLMRequest:
    """One query: an item in one setting and round, with its frames and rendered prompt.

    A plain callable ``fn(request) -> str`` is a model: it answers with free text, which is
    parsed for an option letter like any model's output.
    """

    item_id: str
    video_id: str
    perturbation: str
    category: str
    setting: str  # "clean" | "adversarial"
    round: int
    frames: list[np.ndarray]  # H x W x 3 uint8, uniformly sampled, shared by the video's queries
    prompt: str  # the rendered item (temrobbench.prompt.render_prompt)
    options: tuple[str, ...]  # option texts in the order shown
    letters: tuple[str, ...]
    roles: tuple[str, ...] = field(repr=False, default=())  # never shown to the model
    system_prompt: str | None = None
    video_key: str = ""  # requests with equal keys share the same video (and frames)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> tuple[str, str, int]:
        """The record key: one record per item, setting and round."""
        return (self.item_id, self.setting, self.round)
