"""The small model interface and its registry of adapters, selected by a spec string."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

from ..requests import VideoLMRequest

SCORING_MODES = ("generate", "likelihood", "choice")


class VideoLM:
    """A video LMM as the evaluator sees it.

    Requests arrive grouped by video (all queries sharing ``video_key``), so an adapter can encode
    a video once and reuse it. ``generate`` answers with text; ``letter_logprobs`` returns, per
    request, the log-probability of each option letter as the first answer token (likelihood
    scoring); ``option_logprobs`` returns the log-likelihood of each option's text as the answer
    (choice scoring).
    """

    name: str = "model"
    #: What must match for a run to resume into existing records (defaults to ``name``).
    identity: str | None = None
    scoring_modes: ClassVar[tuple[str, ...]] = ("generate",)

    def generate(self, requests: Sequence[VideoLMRequest]) -> list[str]:
        raise NotImplementedError

    def letter_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[dict[str, float]]:
        raise NotImplementedError(f"{self.name} does not support likelihood scoring")

    def option_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[list[float]]:
        raise NotImplementedError(f"{self.name} does not support choice scoring")


_REGISTRY: dict[str, Callable[[str], VideoLM]] = {}
_HELP: dict[str, str] = {}


def register_model(prefix: str, usage: str) -> Callable:
    """Register a factory for specs ``<prefix>`` or ``<prefix>:<argument>``."""

    def decorator(factory: Callable[[str], VideoLM]) -> Callable[[str], VideoLM]:
        _REGISTRY[prefix] = factory
        _HELP[prefix] = usage
        return factory

    return decorator


def valid_specs() -> list[str]:
    _load_builtin_adapters()
    return [_HELP[p] for p in sorted(_HELP)] + ["a callable fn(request) -> str", "a VideoLM instance"]


def _load_builtin_adapters() -> None:
    from . import hf, openai_api, simple  # noqa: F401  (registration side effect)


def resolve_model(spec: Any, **kwargs: Any) -> VideoLM:
    """A :class:`VideoLM` from a spec string, a VideoLM, or a callable ``fn(request) -> str``.

    >>> resolve_model("random").name
    'random'
    >>> resolve_model("gpt5")
    Traceback (most recent call last):
    ...
    ValueError: unknown model spec 'gpt5'; valid: blind:<hf spec>, hf:<id-or-path>, openai:<model>[@base_url], random[:seed], a callable fn(request) -> str, a VideoLM instance
    """
    from .simple import CallableModel

    if isinstance(spec, VideoLM):
        return spec
    if callable(spec):
        return CallableModel(spec)
    if not isinstance(spec, str):
        raise TypeError(f"model must be a spec string, a VideoLM or a callable, not {type(spec).__name__}")
    _load_builtin_adapters()
    prefix, _, argument = spec.partition(":")
    if prefix not in _REGISTRY:
        raise ValueError(f"unknown model spec {spec!r}; valid: {', '.join(valid_specs())}")
    return _REGISTRY[prefix](argument, **kwargs)
