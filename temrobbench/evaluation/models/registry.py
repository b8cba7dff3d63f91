"""The registry of model adapters, selected by a spec string (``hf:<id>``, ``openai:<model>``,
``random``, ...), lm-evaluation-harness style: ``register_model("mine", "mine:<path>")`` on a factory
``fn(argument, **options) -> VideoLM``; options come from ``temrobbench eval --model-args k=v,...``.

The built-in adapters are listed in :data:`BUILTIN_ADAPTERS` and imported only when their prefix
is used, so ``random`` never imports transformers and ``hf:`` never imports openai.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from temrobbench.evaluation.models.base import VideoLM
from temrobbench.evaluation.models.dummy import CallableModel

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

