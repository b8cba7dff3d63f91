"""Secrets never reach a file or a log: one redaction rule for every text that is written out.

A secret is the value of a known credential variable (``OPENAI_API_KEY``, ``HF_TOKEN``, ...),
any value registered at run time (``--hub_token``), an ``Authorization`` header's value, and
anything shaped like an OpenAI (``sk-...``) or Hugging Face (``hf_...``) key. Error texts of
servers and libraries go through :func:`redact` before they are printed, recorded or rendered.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

REDACTED = "[REDACTED]"
SECRET_ENV_VARS = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "HF_API_TOKEN", "WANDB_API_KEY")
# Field names whose values are secrets wherever they appear (argument dataclasses, JSON settings).
SECRET_FIELDS = ("hub_token", "push_to_hub_token", "api_key", "token", "authorization")
# (pattern, replacement): an Authorization value keeps its header name, a bare bearer token or
# key shape goes whole.
_PATTERNS = (
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:bearer\s+|basic\s+)?(?:\[REDACTED\]|[^\s'\",})\]]+)"), r"\g<1>" + REDACTED),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{8,}"), REDACTED),
)
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Redact ``value`` from every later text (e.g. a token given on the command line)."""
    if value and len(value) >= 4:
        _registered.add(value)


def _known_values() -> Iterable[str]:
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4 and value != "EMPTY":
            yield value
    yield from _registered


def redact(text: Any) -> str:
    """``text`` with every secret replaced by ``[REDACTED]``.

    >>> redact("401: Incorrect API key provided: sk-abcdefgh1234 (Authorization: Bearer sk-abcdefgh1234)")
    '401: Incorrect API key provided: [REDACTED] (Authorization: [REDACTED])'
    >>> import os; os.environ["OPENAI_API_KEY"] = "sk-abcdefgh1234"
    >>> redact("Authorization: Bearer sk-abcdefgh1234")  # the key's value first, then the header: one marker
    'Authorization: [REDACTED]'
    >>> del os.environ["OPENAI_API_KEY"]
    >>> redact("push with hf_AbCdEfGhIjKlMn failed")
    'push with [REDACTED] failed'
    """
    text = str(text)
    for value in sorted(set(_known_values()), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_tree(value: Any) -> Any:
    """A JSON-like value with secret fields emptied and every string redacted."""
    if isinstance(value, dict):
        return {k: (None if str(k).lower() in SECRET_FIELDS and v else redact_tree(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_tree(v) for v in value)
    return redact(value) if isinstance(value, str) else value
