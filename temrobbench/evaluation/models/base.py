"""The small model interface every adapter implements (the registry is :mod:`.registry`).

Extending it (lm-evaluation-harness style):

1. Subclass :class:`VideoLM` and implement ``generate``; implement ``letter_logprobs`` (likelihood
   scoring) and/or ``option_logprobs`` (choice scoring) where your model can score. The scorings an
   adapter supports follow from what it implements (:attr:`VideoLM.scoring_modes`).
2. Pass an instance to ``evaluate_temporal_robustness``, or register a spec prefix for the command
   line: ``register_model("mine", "mine:<path>")`` on a factory ``fn(argument, **options) -> VideoLM``.
   Options come from ``temrobbench eval --model-args k=v,...``.

The built-in adapters are listed in :data:`temrobbench.evaluation.models.registry.BUILTIN_ADAPTERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

from temrobbench.evaluation.requests import VideoLMRequest
from temrobbench.utils.errors import UserError

SCORING_MODES = ("generate", "likelihood", "choice")


class VideoLM(ABC):
    """A video LMM as the evaluator sees it.

    Requests arrive grouped by video (all queries sharing ``video_key``), so an adapter can encode
    a video once and reuse it. ``generate`` answers with text; ``letter_logprobs`` returns, per
    request, the log-probability of each option letter as the first answer token (likelihood
    scoring; None for a letter the model gave no score); ``option_logprobs`` returns the
    log-likelihood of each option's text as the answer (choice scoring).
    """

    name: str = "model"
    #: What must match for a run to resume into existing records (defaults to ``name``).
    identity: str | None = None

    @property
    def model_identity(self) -> dict[str, Any]:
        """What identifies this model's answers, recorded in ``run.json`` so that a rerun with
        another model (other weights, another server, another seed) is refused instead of resumed:
        ``{"name": ...}`` plus, where an adapter knows them, a content ``fingerprint`` of a local
        folder, a Hub ``revision`` (None when unknown: only the name is then compared), a
        ``base_url`` or a ``seed``. Never a key or a token."""
        return {"name": self.identity or self.name}

    @abstractmethod
    def generate(self, requests: Sequence[VideoLMRequest]) -> list[str]:
        """Free-text answers, one per request (parsed for an option letter)."""

    def letter_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[dict[str, float | None]]:
        raise NotImplementedError(f"{self.name} does not support likelihood scoring")

    def option_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[list[float]]:
        raise NotImplementedError(f"{self.name} does not support choice scoring")

    @property
    def scoring_modes(self) -> tuple[str, ...]:
        """``generate``, plus ``likelihood``/``choice`` when this class implements their method.

        >>> class Letters(VideoLM):
        ...     def generate(self, requests): return ["A"] * len(requests)
        ...     def letter_logprobs(self, requests): return [{"A": 0.0} for _ in requests]
        >>> Letters().scoring_modes
        ('generate', 'likelihood')
        """
        cls = type(self)
        modes = ["generate"]
        if cls.letter_logprobs is not VideoLM.letter_logprobs:
            modes.append("likelihood")
        if cls.option_logprobs is not VideoLM.option_logprobs:
            modes.append("choice")
        return tuple(modes)


class FatalModelError(UserError):
    """A model failure that no later query would survive (e.g. a refused API key): the evaluation
    stops at once, records nothing for it, and the command line prints its one line."""
def check_options(adapter: str, given: dict[str, Any], known: Sequence[str]) -> None:
    """Refuse options an adapter does not take, naming the ones it does.

    >>> check_options("hf:", {"dtyp": "bfloat16"}, ["dtype", "max_new_tokens"])
    Traceback (most recent call last):
    ...
    ValueError: hf: unknown option dtyp; options: dtype, max_new_tokens
    """
    unknown = sorted(set(given) - set(known))
    if unknown:
        valid = f"options: {', '.join(known)}" if known else "it takes none"
        raise ValueError(f"{adapter} unknown option {', '.join(unknown)}; {valid}")
