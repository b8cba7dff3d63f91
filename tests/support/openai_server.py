"""A local OpenAI-compatible chat-completions server on 127.0.0.1 for tests (bounded, self-stopping)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


def openai_error(message: str, param: str | None, code: str | None) -> dict:
    """The body of an OpenAI API error (as the real API shapes it)."""
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def reasoning_model_rules(body: dict) -> tuple[int, dict] | None:
    """What OpenAI's reasoning models (o-series, GPT-5) refuse, with the real API's 400 bodies."""
    if "max_tokens" in body:
        return 400, openai_error("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
    if "temperature" in body and body["temperature"] != 1:
        return 400, openai_error(f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. Only the default (1) value is supported.",
                                 "temperature", "unsupported_value")
    return None


def legacy_server_rules(body: dict) -> tuple[int, dict] | None:
    """A server that knows only ``max_tokens`` and says so with OpenAI's error shape."""
    if "max_completion_tokens" in body:
        return 400, openai_error("Unsupported parameter: 'max_completion_tokens'.", "max_completion_tokens", "unsupported_parameter")
    return None


def key_refused_body(status: int, headers: dict) -> dict:
    """A 401/403 body that quotes the key and the Authorization header back, as careless servers do."""
    auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
    key = auth.removeprefix("Bearer ")
    return {"error": {"message": f"Incorrect API key provided: {key}. You sent Authorization: {auth}", "type": "invalid_request_error",
                      "param": None, "code": "invalid_api_key"}}


class FakeOpenAIServer:
    """Answers ``POST /v1/chat/completions`` with ``reply(body)``: the text, or a dict with
    ``content`` and optionally ``reasoning_content``, ``finish_reason`` and ``usage`` (a reasoning
    model). ``fail(n) -> status`` makes the n-th request (0-based) fail with that HTTP status (or
    None to answer), with the error body ``fail_body(status, headers)`` (default: "injected
    failure"; e.g. :func:`key_refused_body`, which quotes the key as some servers do);
    ``reject(body) -> (status, error body) | None`` refuses a request by its parameters (e.g.
    :func:`reasoning_model_rules`). ``delay`` seconds before each answer keep requests in flight; ``port`` (default: a free one)
    restarts a server at an earlier one's address."""

    def __init__(self, reply: Callable[[dict], str | dict], fail: Callable[[int], int | None] = lambda n: None, logprobs: Callable[[dict], dict] | None = None,
                 reject: Callable[[dict], tuple[int, dict] | None] = lambda body: None,
                 fail_body: Callable[[int, dict], dict] | None = None, delay: float = 0.0, port: int = 0):
        self.reply, self.fail, self.logprobs, self.reject = reply, fail, logprobs, reject
        self.fail_body, self.delay = fail_body, delay
        self.rejected = 0
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.count = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    n = server.count
                    server.count += 1
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                status = server.fail(n)
                refusal = server.reject(body)
                if server.delay:
                    time.sleep(server.delay)
                if status is not None:
                    error = server.fail_body(status, dict(self.headers)) if server.fail_body else {"error": {"message": "injected failure", "type": "server_error"}}
                    payload = json.dumps(error).encode()
                    self.send_response(status)
                elif refusal is not None:
                    with server.lock:
                        server.rejected += 1
                    payload = json.dumps(refusal[1]).encode()
                    self.send_response(refusal[0])
                else:
                    answer = server.reply(body)
                    answer = answer if isinstance(answer, dict) else {"content": answer}
                    message = {"role": "assistant", "content": answer["content"]}
                    if "reasoning_content" in answer:
                        message["reasoning_content"] = answer["reasoning_content"]
                    choice = {"index": 0, "message": message, "finish_reason": answer.get("finish_reason", "stop")}
                    if body.get("logprobs") and server.logprobs:
                        top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in server.logprobs(body).items()]
                        choice["logprobs"] = {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"], "bytes": None, "top_logprobs": top}]}
                    payload = json.dumps({"id": f"c{n}", "object": "chat.completion", "created": 0, "model": body["model"], "choices": [choice],
                                          "usage": answer.get("usage", {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        # ``port``: a restarted server at the same address (the base URL is part of a run's model identity).
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAIServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
