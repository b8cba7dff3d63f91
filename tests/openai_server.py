"""A local OpenAI-compatible chat-completions server on 127.0.0.1 for tests (bounded, self-stopping)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class FakeOpenAIServer:
    """Answers ``POST /v1/chat/completions`` with ``reply(body) -> str``; ``fail(n) -> status``
    makes the n-th request (0-based) fail with that HTTP status (or None to answer)."""

    def __init__(self, reply: Callable[[dict], str], fail: Callable[[int], int | None] = lambda n: None, logprobs: Callable[[dict], dict] | None = None):
        self.reply, self.fail, self.logprobs = reply, fail, logprobs
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
                if status is not None:
                    payload = json.dumps({"error": {"message": "injected failure", "type": "server_error"}}).encode()
                    self.send_response(status)
                else:
                    text = server.reply(body)
                    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    if body.get("logprobs") and server.logprobs:
                        top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in server.logprobs(body).items()]
                        choice["logprobs"] = {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"], "bytes": None, "top_logprobs": top}]}
                    payload = json.dumps({"id": f"c{n}", "object": "chat.completion", "created": 0, "model": body["model"], "choices": [choice],
                                          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
