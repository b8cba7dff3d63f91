"""The one OpenAI-compatible client setup both packages use: the key from the environment only,
the client's own retries off, and one rule for what is worth retrying and how long to wait.

Used by the ``openai:`` evaluation adapter and by ``panodpo prepare``'s OpenAI perturber.
The key is read here and handed to the client; it is never logged, recorded or returned.
"""

from __future__ import annotations

import os
import random
from typing import Any, Iterator


def make_client(base_url: str | None, timeout: float, who: str) -> Any:
    """An ``openai.OpenAI`` client. ``OPENAI_API_KEY`` from the environment; a local server
    (``base_url`` given) with no key gets the placeholder ``EMPTY``. ``who`` names the caller in
    the error when no key is set (``--perturber openai``, ``openai:``)."""
    import openai

    api_key = os.environ.get("OPENAI_API_KEY") or ("EMPTY" if base_url else None)
    if api_key is None:
        raise RuntimeError(f"{who}: set OPENAI_API_KEY in the environment (or give a base URL for a local server)")
    # The client's own retries are off: ours are explicit, bounded and tested.
    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)


def is_retryable(error: Exception) -> bool:
    """Rate limits, time-outs, connection errors and 5xx: worth another try; anything else is final."""
    import openai

    if isinstance(error, (openai.RateLimitError, openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError)):
        return True
    return isinstance(error, openai.APIStatusError) and error.status_code >= 500


def is_key_refusal(error: Exception) -> bool:
    """401 or 403: the key (or the account behind it) is refused; no retry, no later request can succeed."""
    import openai

    return isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError))


def backoff_delays(initial: float, maximum: float) -> Iterator[float]:
    """Seconds to wait before each retry: exponential from ``initial``, capped at ``maximum``, with
    jitter in [50%, 100%] so concurrent workers do not retry in lockstep.

    >>> delays = backoff_delays(1.0, 4.0)
    >>> [0.5 <= next(delays) <= cap for cap in (1, 2, 4, 4)]
    [True, True, True, True]
    """
    delay = initial
    while True:
        yield min(maximum, delay) * (0.5 + random.random() / 2)
        delay *= 2
