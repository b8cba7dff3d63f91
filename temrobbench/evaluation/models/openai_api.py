"""``openai:<model>[@base_url]``: GPT-4o or any OpenAI-compatible server (vLLM, SGLang...).

Frames go as base64 JPEG images in one user message, before the question. Requests run
concurrently (bounded), and 429, 5xx, timeouts and connection errors are retried with
exponential backoff and jitter. Likelihood scoring reads the option letters among the first
token's ``top_logprobs``; a letter outside them has no score (``None``), and a server that returns
no log-probabilities at all stops the run with one line (``transformers serve`` is one). Reasoning
models get a reasoning-sized budget and no temperature (see :class:`OpenAIVideoLM`). The key comes
from ``OPENAI_API_KEY`` only and is never logged or recorded (a server's error text that quotes it
is redacted wherever it lands); a local server with no key gets the placeholder ``EMPTY``. A 401 or
403 stops the run at the first one: the requests still queued are never sent
(:class:`APIKeyRefusedError`).
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from temrobbench.evaluation.answers.picking import UnscorableResponseError
from temrobbench.utils.openai_client import backoff_delays, is_key_refusal, is_retryable, make_client
from temrobbench.utils.redaction import redact
from temrobbench.evaluation.requests import VideoLMRequest
from temrobbench.evaluation.models.base import FatalModelError, VideoLM, check_options


NO_LOGPROBS = "the server returned no log-probabilities: use --scoring generate"


class APIKeyRefusedError(FatalModelError):
    """A 401 or 403: every later request would be refused the same way, so the run stops at the
    first one (the requests still queued are never sent) and nothing is recorded as an answer."""

    def __init__(self, error: Exception, base_url: str) -> None:
        status = getattr(error, "status_code", None)
        super().__init__("the server refused the API key", f"{status} {type(error).__name__} from {base_url}",
                         "set OPENAI_API_KEY to a key this server accepts, then rerun (finished work is kept)")
        #: The server's own words, secrets redacted (they may quote the key or the header).
        self.server_message = redact(str(error))[:500]


def frame_to_data_url(frame: np.ndarray, quality: int = 85) -> str:
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode a frame as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


#: Model names that reason before answering (OpenAI o-series and GPT-5, "-thinking"/"think"
#: checkpoints such as Qwen3-VL-Thinking, DeepSeek-R1 and its distills, QwQ, Gemini 2.5+).
REASONING_MODEL_PATTERN = re.compile(
    r"(^|[/_.-])(o[134]|gpt-5(?!-chat)|r1|qwq|reasoner)([/_.:-]|$)|think|gemini-(2\.5|[3-9])", re.IGNORECASE
)
DIRECT_ANSWER_TOKENS = 32  # "B" or "The answer is (B)." with room to spare
REASONING_TOKENS = 8192  # reasoning plus the answer; what a reasoning model is billed for


def is_reasoning_model(model: str) -> bool:
    """Whether ``model``'s name says it reasons before answering (``reasoning=None`` uses this).

    >>> [is_reasoning_model(m) for m in ("gpt-5-mini", "o3", "o4-mini", "Qwen/Qwen3-VL-8B-Thinking", "deepseek-r1", "gemini-2.5-flash")]
    [True, True, True, True, True, True]
    >>> [is_reasoning_model(m) for m in ("gpt-4o", "gpt-5-chat-latest", "Qwen/Qwen2-VL-7B-Instruct", "gemini-2.0-flash", "octo-1b")]
    [False, False, False, False, False]
    """
    return bool(REASONING_MODEL_PATTERN.search(model))


class Generation(str):
    """Generated text that carries the query's ``details`` (finish reason, usage, requests): the
    evaluator records them beside the answer."""

    details: dict[str, Any]

    def __new__(cls, text: str, details: dict[str, Any]) -> "Generation":
        obj = super().__new__(cls, text)
        obj.details = details
        return obj


class LetterScores(dict):
    """Letter log-probabilities with the query's ``details``, like :class:`Generation`."""

    def __init__(self, scores: dict[str, float | None], details: dict[str, Any]) -> None:
        super().__init__(scores)
        self.details = details


# Request parameters a server may refuse with 400 unsupported_parameter/unsupported_value, and
# what the adapter does instead for the rest of the run.
ADAPTABLE = ("max_tokens", "max_completion_tokens", "temperature")


class OpenAIVideoLM(VideoLM):
    """A chat-completions model shown sampled frames as images.

    Options (``--model-args k=v,...`` on the command line; recorded in the run's settings so a
    resumed run cannot mix them): ``max_new_tokens`` (the completion budget, reasoning included;
    default 32, or 8192 for a reasoning model), ``temperature`` (default 0; not sent to reasoning
    models, which accept only their default), ``reasoning`` (None: from the model name, see
    :func:`is_reasoning_model`), ``reasoning_effort`` (sent only when given) and ``extra_body``
    (a dict, or its JSON, merged into every request, e.g. vLLM's ``chat_template_kwargs``).

    The budget goes as ``max_completion_tokens``; a server that refuses it gets ``max_tokens``,
    and one that refuses ``temperature`` gets none: each adaptation is made once for the whole run
    and said in one line on stderr. Each answer carries its finish reason and token usage.
    """


    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        reasoning: bool | None = None,
        reasoning_effort: str | None = None,
        extra_body: dict[str, Any] | str | None = None,
        token_parameter: str = "max_completion_tokens",
        max_concurrency: int = 8,
        max_retries: int = 6,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float | None = None,
        image_quality: int = 85,
        max_tokens: int | None = None,
    ) -> None:
        if max_tokens is not None:  # the older name of the option
            max_new_tokens = max_new_tokens if max_new_tokens is not None else max_tokens
        if token_parameter not in ("max_completion_tokens", "max_tokens"):
            raise ValueError(f"openai: token_parameter must be max_completion_tokens or max_tokens, not {token_parameter!r}")
        if isinstance(extra_body, str):
            extra_body = json.loads(extra_body)
        self.model = model
        self.name = f"openai:{model}" + (f"@{base_url}" if base_url else "")
        self.identity = f"openai:{model}"
        self.reasoning = is_reasoning_model(model) if reasoning is None else bool(reasoning)
        self.max_new_tokens = int(max_new_tokens) if max_new_tokens is not None else (REASONING_TOKENS if self.reasoning else DIRECT_ANSWER_TOKENS)
        self.temperature = None if temperature is None and self.reasoning else (0.0 if temperature is None else float(temperature))
        self.reasoning_effort = reasoning_effort
        self.extra_body = dict(extra_body or {})
        if timeout is None:
            timeout = 600.0 if self.reasoning else 120.0
        self.client = make_client(base_url, timeout, "openai:")
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.image_quality = image_quality
        # What the server accepts, learnt once per run (see _adapt).
        self.token_parameter = token_parameter
        self.send_temperature = self.temperature is not None
        self.adaptations: list[str] = []
        self._refused: set[str] = set()
        self._lock = threading.Lock()
        self.retries = 0  # retried calls, for reports and tests
        self.requests_sent = 0  # HTTP requests, retries included
        self._no_logprobs = False  # set by the first response without log-probabilities
        self._key_refused: APIKeyRefusedError | None = None  # set by the first 401/403: nothing more is sent

    @property
    def base_url(self) -> str:
        """Where requests go (``OPENAI_BASE_URL`` or the official API when no ``@base_url``)."""
        return str(self.client.base_url).rstrip("/")

    @property
    def model_identity(self) -> dict[str, Any]:
        """The model name and the server answering for it; never the key."""
        return {"name": self.identity, "base_url": self.base_url}

    @property
    def run_options(self) -> dict[str, Any]:
        """What changes the answers, as resolved (defaults included): part of the run's settings."""
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "reasoning": self.reasoning,
                "reasoning_effort": self.reasoning_effort, "extra_body": self.extra_body}

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

    def _kwargs(self, messages: list[dict[str, Any]], logprobs: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, self.token_parameter: 1 if logprobs else self.max_new_tokens}
        if self.send_temperature:
            kwargs["temperature"] = self.temperature
        if self.reasoning_effort:
            kwargs["reasoning_effort"] = self.reasoning_effort
        if logprobs:
            kwargs.update(logprobs=True, top_logprobs=20)
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        return kwargs

    def _adapt(self, error: Exception, sent: dict[str, Any]) -> bool:
        """After a 400 that refuses one of ADAPTABLE: change what every later request sends, once,
        and say so. True when the request should be sent again."""
        import openai

        if not isinstance(error, openai.BadRequestError):
            return False
        param, code = getattr(error, "param", None), getattr(error, "code", None)
        if param not in ADAPTABLE or code not in ("unsupported_parameter", "unsupported_value"):
            return False
        with self._lock:
            if param == "temperature":
                if "temperature" not in sent:
                    return False
                if self.send_temperature:
                    self.send_temperature = False
                    self._say(f"the server refuses temperature={sent['temperature']} ({code}): sending none (the model's default) for the rest of the run")
                return True
            if param not in sent:
                return False
            other = "max_tokens" if param == "max_completion_tokens" else "max_completion_tokens"
            self._refused.add(param)
            if other in self._refused:
                return False  # the server refuses both names: a real error, not a naming difference
            if self.token_parameter == param:
                self.token_parameter = other
                self._say(f"the server refuses {param} ({code}): sending the budget as {other} for the rest of the run")
            return True

    def _say(self, message: str) -> None:
        self.adaptations.append(message)
        print(f"{self.name}: {message}", file=sys.stderr)

    def _call(self, request: VideoLMRequest, logprobs: bool) -> tuple[Any, int]:
        """The response and the number of HTTP requests it took (retries and adaptations included)."""
        messages = self._messages(request)
        delays = backoff_delays(self.initial_backoff, self.max_backoff)
        sent = 0
        attempt = adaptations = 0
        while True:
            kwargs = self._kwargs(messages, logprobs)
            try:
                with self._lock:
                    self.requests_sent += 1
                sent += 1
                return self.client.chat.completions.create(**kwargs), sent
            except Exception as error:  # noqa: BLE001 - classified below
                if adaptations < len(ADAPTABLE) and self._adapt(error, kwargs):
                    adaptations += 1
                    continue
                if attempt == self.max_retries or not is_retryable(error):
                    raise
                attempt += 1
                with self._lock:
                    self.retries += 1
                time.sleep(next(delays))

    def _details(self, response: Any, requests: int) -> dict[str, Any]:
        """Finish reason, token usage (reasoning tokens where the server reports them) and requests."""
        choice = response.choices[0]
        details: dict[str, Any] = {"finish_reason": choice.finish_reason, "requests": requests}
        usage = getattr(response, "usage", None)
        if usage is not None:
            counts = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
            reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None)
            if reasoning is not None:
                counts["reasoning_tokens"] = reasoning
            details["usage"] = {k: v for k, v in counts.items() if v is not None}
        return details

    def _guarded(self, fn: Callable[[VideoLMRequest], Any]) -> Callable[[VideoLMRequest], Any]:
        """``fn`` that sends nothing once the key was refused, and turns the first 401/403 into
        :class:`APIKeyRefusedError` for every request of the run."""

        def call(request: VideoLMRequest) -> Any:
            if self._key_refused is not None:
                raise self._key_refused
            try:
                return fn(request)
            except Exception as error:
                if not is_key_refusal(error):
                    raise
                with self._lock:
                    if self._key_refused is None:
                        self._key_refused = APIKeyRefusedError(error, self.base_url)
                raise self._key_refused from None

        return call

    def _map(self, fn: Callable[[VideoLMRequest], Any], requests: Sequence[VideoLMRequest]) -> list[Any]:
        """``fn`` over ``requests``, concurrently (bounded), results in order; the first failure
        (in order) is raised once all have run. Every request is sent (``pool.map`` would cancel
        the unstarted ones at the first failure, a count that depended on thread timing), except
        after a refused key: the requests still queued then fail at once, unsent (see
        :meth:`_guarded`), so a refused key costs one request, or the few already in flight."""
        call = self._guarded(fn)
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(requests)))) as pool:
            futures = [pool.submit(call, request) for request in requests]
            wait(futures)
        return [future.result() for future in futures]

    def generate(self, requests: Sequence[VideoLMRequest]) -> list[str]:
        def one(request: VideoLMRequest) -> Generation:
            # Only ``content`` is the answer: a separate ``reasoning_content`` (vLLM, DeepSeek) is
            # the thinking; ``<think>`` blocks inside the content are left to parse_answer.
            response, sent = self._call(request, logprobs=False)
            return Generation(response.choices[0].message.content or "", self._details(response, sent))

        return self._map(one, requests)

    def letter_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[dict[str, float | None]]:
        def one(request: VideoLMRequest) -> LetterScores:
            if self._no_logprobs:  # queued behind a response without log-probabilities: not sent
                raise UnscorableResponseError(NO_LOGPROBS)
            response, sent = self._call(request, logprobs=True)
            choice = response.choices[0]
            if not (choice.logprobs and choice.logprobs.content):
                self._no_logprobs = True
                raise UnscorableResponseError(NO_LOGPROBS)
            found: dict[str, float] = {}
            for entry in choice.logprobs.content[0].top_logprobs or []:
                letter = entry.token.strip().strip("(").upper()
                if letter in request.letters and letter not in found:
                    found[letter] = entry.logprob
            # A letter outside the top list has no score: unknown, never a made-up floor.
            return LetterScores({letter: found.get(letter) for letter in request.letters}, self._details(response, sent))

        return self._map(one, requests)


def load_openai(argument: str, **options: Any) -> VideoLM:
    """``openai:<model>[@base_url]``."""
    model, _, base_url = argument.partition("@")
    if not model:
        raise ValueError("openai: needs a model name, e.g. openai:gpt-4o or openai:Qwen/Qwen2-VL-7B-Instruct@http://localhost:8000/v1")
    import inspect

    check_options("openai:", options, [n for n in inspect.signature(OpenAIVideoLM.__init__).parameters if n not in ("self", "model", "base_url")])
    return OpenAIVideoLM(model, base_url or None, **options)
