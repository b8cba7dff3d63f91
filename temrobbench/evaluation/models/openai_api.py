"""``openai:<model>[@base_url]``: GPT-4o or any OpenAI-compatible server (vLLM, SGLang...).

Frames go as base64 JPEG images in one user message, before the question. Requests run
concurrently (bounded), and 429, 5xx, timeouts and connection errors are retried with
exponential backoff and jitter. Likelihood scoring reads the option letters among the first
token's ``top_logprobs``; a letter outside them has no score (``None``), and a server that returns
no log-probabilities at all stops the run with one line (``transformers serve`` is one). The key comes from ``OPENAI_API_KEY`` only and is never logged or
recorded; a local server with no key gets the placeholder ``EMPTY``.
"""

from __future__ import annotations

import base64
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import cv2
import numpy as np

from ..picking import UnscorableResponseError
from ..requests import VideoLMRequest
from .base import VideoLM, register_model


NO_LOGPROBS = "the server returned no log-probabilities: use --scoring generate"


def frame_to_data_url(frame: np.ndarray, quality: int = 85) -> str:
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode a frame as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


def is_retryable(error: Exception) -> bool:
    import openai

    if isinstance(error, (openai.RateLimitError, openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError)):
        return True
    return isinstance(error, openai.APIStatusError) and error.status_code >= 500


class OpenAIVideoLM(VideoLM):
    """A chat-completions model shown sampled frames as images."""

    scoring_modes = ("generate", "likelihood")

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        max_concurrency: int = 8,
        max_retries: int = 6,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 120.0,
        max_tokens: int = 16,
        image_quality: int = 85,
    ) -> None:
        import openai

        self.model = model
        self.name = f"openai:{model}" + (f"@{base_url}" if base_url else "")
        self.identity = f"openai:{model}"  # a restarted server at another address may resume a run
        api_key = os.environ.get("OPENAI_API_KEY") or ("EMPTY" if base_url else None)
        if api_key is None:
            raise RuntimeError("openai: set OPENAI_API_KEY in the environment (or give @base_url for a local server)")
        # The client's own retries are off: ours are explicit, bounded and tested.
        self.client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_tokens = max_tokens
        self.image_quality = image_quality
        self.retries = 0  # retried calls, for reports and tests
        self.requests_sent = 0  # HTTP requests, retries included
        self._no_logprobs = False  # set by the first response without log-probabilities

    def _messages(self, request: VideoLMRequest) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        if request.frames:
            content.append({"type": "text", "text": f"These are {len(request.frames)} frames sampled uniformly from a video, in order."})
            content += [{"type": "image_url", "image_url": {"url": frame_to_data_url(f, self.image_quality)}} for f in request.frames]
        content.append({"type": "text", "text": request.prompt})
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        if request.system_prompt:
            messages.insert(0, {"role": "system", "content": request.system_prompt})
        return messages

    def _call(self, request: VideoLMRequest, logprobs: bool) -> Any:
        kwargs: dict[str, Any] = {"model": self.model, "messages": self._messages(request), "max_tokens": self.max_tokens, "temperature": 0}
        if logprobs:
            kwargs.update(logprobs=True, top_logprobs=20, max_tokens=1)
        delay = self.initial_backoff
        for attempt in range(self.max_retries + 1):
            try:
                self.requests_sent += 1
                return self.client.chat.completions.create(**kwargs)
            except Exception as error:  # noqa: BLE001 - classified below
                if attempt == self.max_retries or not is_retryable(error):
                    raise
                self.retries += 1
                time.sleep(min(self.max_backoff, delay) * (0.5 + random.random() / 2))
                delay *= 2
        raise AssertionError("unreachable")

    def _map(self, fn, requests: Sequence[VideoLMRequest]) -> list[Any]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(requests)))) as pool:
            return list(pool.map(fn, requests))

    def generate(self, requests: Sequence[VideoLMRequest]) -> list[str]:
        def one(request: VideoLMRequest) -> str:
            return self._call(request, logprobs=False).choices[0].message.content or ""

        return self._map(one, requests)

    def letter_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[dict[str, float | None]]:
        def one(request: VideoLMRequest) -> dict[str, float | None]:
            if self._no_logprobs:  # queued behind a response without log-probabilities: not sent
                raise UnscorableResponseError(NO_LOGPROBS)
            choice = self._call(request, logprobs=True).choices[0]
            if not (choice.logprobs and choice.logprobs.content):
                self._no_logprobs = True
                raise UnscorableResponseError(NO_LOGPROBS)
            found: dict[str, float] = {}
            for entry in choice.logprobs.content[0].top_logprobs or []:
                letter = entry.token.strip().strip("(").upper()
                if letter in request.letters and letter not in found:
                    found[letter] = entry.logprob
            # A letter outside the top list has no score: unknown, never a made-up floor.
            return {letter: found.get(letter) for letter in request.letters}

        return self._map(one, requests)


@register_model("openai", "openai:<model>[@base_url]")
def _openai(argument: str, **kwargs: Any) -> VideoLM:
    model, _, base_url = argument.partition("@")
    if not model:
        raise ValueError("openai: needs a model name, e.g. openai:gpt-4o or openai:Qwen/Qwen2-VL-7B-Instruct@http://localhost:8000/v1")
    return OpenAIVideoLM(model, base_url or None, **kwargs)
