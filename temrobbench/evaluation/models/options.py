"""``--model-args k=v,...``: adapter options from the command line, as keyword arguments."""

from __future__ import annotations

import json
import re
from typing import Any

_SPLIT = re.compile(r",(?=\s*[A-Za-z_]\w*=)")  # commas inside a JSON value do not split


def coerce(value: str) -> Any:
    """``"8192"`` -> 8192, ``"0.5"`` -> 0.5, ``true``/``false``/``none``, JSON objects and lists, else the string.

    >>> [coerce(v) for v in ("8192", "0.5", "True", "none", '{"top_k": 20}', "high")]
    [8192, 0.5, True, None, {'top_k': 20}, 'high']
    """
    text = value.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if text[:1] in ("{", "["):
        return json.loads(text)
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_model_args(text: str | None) -> dict[str, Any]:
    """``"max_new_tokens=8192,reasoning_effort=low,extra_body={"a": 1, "b": 2}"`` as kwargs.

    >>> parse_model_args('max_new_tokens=8192,reasoning=true,extra_body={"a": 1, "b": 2}')
    {'max_new_tokens': 8192, 'reasoning': True, 'extra_body': {'a': 1, 'b': 2}}
    >>> parse_model_args("temperature")
    Traceback (most recent call last):
    ...
    ValueError: --model-args: 'temperature' is not key=value
    """
    kwargs: dict[str, Any] = {}
    for part in _SPLIT.split(text or ""):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"--model-args: {part.strip()!r} is not key=value")
        try:
            kwargs[key.strip()] = coerce(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"--model-args: {key.strip()}: not valid JSON ({err})") from None
    return kwargs


def model_args_type(text: str) -> dict[str, Any]:
    """``parse_model_args`` as an argparse ``type``: a bad value is a one-line usage error."""
    import argparse

    try:
        return parse_model_args(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--model-args: ")) from None
