"""The small model interface and its registry of adapters, selected by a spec string.

Extending it (lm-evaluation-harness style):

1. Subclass :class:`VideoLM` and implement ``generate``; implement ``letter_logprobs`` (likelihood
   scoring) and/or ``option_logprobs`` (choice scoring) where your model can score. The scorings an
   adapter supports follow from what it implements (:attr:`VideoLM.scoring_modes`).
2. Pass an instance to ``evaluate_temporal_robustness``, or register a spec prefix for the command
   line: ``register_model("mine", "mine:<path>")`` on a factory ``fn(argument, **options) -> VideoLM``.
   Options come from ``temrobbench eval --model-args k=v,...``.

The built-in adapters are listed in :data:`BUILTIN_ADAPTERS` and imported only when their prefix
is used, so ``random`` never imports transformers and ``hf:`` never imports openai.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence

from temrobbench.evaluation.requests import VideoLMRequest

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


#: Built-in spec prefixes: prefix -> (module, factory, usage). The one place they are declared.
BUILTIN_ADAPTERS: dict[str, tuple[str, str, str]] = {
    "hf": ("temrobbench.evaluation.models.hf", "load_hf", "hf:<id-or-path>"),
    "blind": ("temrobbench.evaluation.models.hf", "load_blind", "blind:<hf spec>"),
    "openai": ("temrobbench.evaluation.models.openai_api", "load_openai", "openai:<model>[@base_url]"),
    "random": ("temrobbench.evaluation.models.dummy", "load_random", "random[:seed]"),
}

Factory = Callable[..., VideoLM]
_REGISTERED: dict[str, tuple[Factory, str]] = {}


def register_model(prefix: str, usage: str, *, replace: bool = False) -> Callable[[Factory], Factory]:
    """Register a factory ``fn(argument, **options) -> VideoLM`` for specs ``<prefix>[:<argument>]``.

    A prefix already taken (built in or registered) is refused unless ``replace=True``.

    >>> register_model("hf", "hf:<mine>")
    Traceback (most recent call last):
    ...
    ValueError: model spec prefix 'hf' is taken (hf:<id-or-path>); pass replace=True to override it
    """
    taken = _REGISTERED.get(prefix, (None, BUILTIN_ADAPTERS.get(prefix, (None, None, None))[2]))[1]
    if taken and not replace:
        raise ValueError(f"model spec prefix {prefix!r} is taken ({taken}); pass replace=True to override it")

    def decorator(factory: Factory) -> Factory:
        _REGISTERED[prefix] = (factory, usage)
        return factory

    return decorator


def valid_specs() -> list[str]:
    usages = {prefix: entry[2] for prefix, entry in BUILTIN_ADAPTERS.items()}
    usages.update({prefix: usage for prefix, (_, usage) in _REGISTERED.items()})
    return [usages[p] for p in sorted(usages)] + ["a callable fn(request) -> str", "a VideoLM instance"]


def _factory(prefix: str) -> Factory | None:
    if prefix in _REGISTERED:
        return _REGISTERED[prefix][0]
    if prefix in BUILTIN_ADAPTERS:
        module, name, _ = BUILTIN_ADAPTERS[prefix]
        return getattr(importlib.import_module(module), name)
    return None


def resolve_model(spec: Any, **options: Any) -> VideoLM:
    """A :class:`VideoLM` from a spec string, a VideoLM, or a callable ``fn(request) -> str``;
    ``options`` go to the adapter's factory (``--model-args``).

    >>> resolve_model("random").name
    'random'
    >>> resolve_model("gpt5")
    Traceback (most recent call last):
    ...
    ValueError: unknown model spec 'gpt5'; valid: blind:<hf spec>, hf:<id-or-path>, openai:<model>[@base_url], random[:seed], a callable fn(request) -> str, a VideoLM instance
    """
    from temrobbench.evaluation.models.dummy import CallableModel

    if isinstance(spec, VideoLM):
        return spec
    if callable(spec):
        return CallableModel(spec)
    if not isinstance(spec, str):
        raise TypeError(f"model must be a spec string, a VideoLM or a callable, not {type(spec).__name__}")
    prefix, _, argument = spec.partition(":")
    factory = _factory(prefix)
    if factory is None:
        raise ValueError(f"unknown model spec {spec!r}; valid: {', '.join(valid_specs())}")
    return factory(argument, **options)


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
