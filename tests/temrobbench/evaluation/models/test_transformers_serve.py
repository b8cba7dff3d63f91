"""openai: against a real OpenAI-compatible server: ``transformers serve`` with a tiny saved Qwen2-VL on 127.0.0.1.

The model is random, so its answers are mostly unparseable: what is proven is the wire (frames
reach the model as images, records are complete and resumable) and that likelihood scoring never
makes answers up from a server that returns no log-probabilities.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from temrobbench import evaluate_temporal_robustness
from temrobbench.evaluation.models.openai_api import DIRECT_ANSWER_TOKENS, OpenAIVideoLM
from temrobbench.evaluation.records import read_records
from temrobbench.evaluation.requests import VideoLMRequest

STARTUP_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_tiny_qwen2vl(tmp_path_factory):
    """``(model path, base_url)`` of ``transformers serve`` running a tiny Qwen2-VL; always stopped."""
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"transformers serve needs {', '.join(missing)}: pip install 'transformers[serving]' (in the dev extra)")
    from temrobbench.tiny_models import save_tiny_qwen2vl

    root = tmp_path_factory.mktemp("served")
    path = save_tiny_qwen2vl(root / "tiny-qwen2vl")
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    log = open(root / "serve.log", "wb")
    command = [sys.executable, "-c", "import sys; from transformers.cli.transformers import main; sys.exit(main())",
               "serve", str(path), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                tail = (root / "serve.log").read_text(errors="replace")[-800:]
                pytest.skip(f"transformers serve exited with {process.returncode} before serving: {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.skip(f"transformers serve did not answer /health within {STARTUP_TIMEOUT:.0f}s")
            time.sleep(0.5)
        yield str(path), f"http://127.0.0.1:{port}/v1"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and anything it started
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
        log.close()


def test_generate_end_to_end_resumable(served_tiny_qwen2vl, tiny_benchmark, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs none
    path, base_url = served_tiny_qwen2vl
    spec = f"openai:{path}@{base_url}"
    kwargs = dict(num_frames=2, limit=1, configs=("intrinsic",), output_dir=tmp_path, progress=False)
    report = evaluate_temporal_robustness(spec, tiny_benchmark, model_kwargs={"max_concurrency": 2}, **kwargs)
    records = read_records(tmp_path / "records.jsonl")
    assert len(records) == 5 and report.num_errors == 0
    assert all(isinstance(r["output"], str) and r["role"] in ("correct", "shortcut", "incorrect", "invalid") for r in records)
    assert report.metrics["intrinsic"]["n"] == 1
    # The budget went as max_completion_tokens and the server kept to it; usage and finish reason are recorded.
    assert all(r["finish_reason"] in ("stop", "length") and 0 < r["usage"]["completion_tokens"] <= DIRECT_ANSWER_TOKENS for r in records)
    assert report.summary["requests"] == 5 and report.summary["usage"]["prompt_tokens"] > 0
    assert report.summary["truncated"] == sum(r["finish_reason"] == "length" for r in records)

    # Frames reach the model as images: the same question costs more prompt tokens with them.
    model = OpenAIVideoLM(path, base_url)
    frame = __import__("numpy").full((56, 56, 3), 127, dtype="uint8")
    request = VideoLMRequest(item_id="x", video_id="v", perturbation="intrinsic", category="light", setting="clean", round=0,
                             frames=[frame, frame], prompt="Which is first?\nA. a\nB. b", options=["a", "b"], letters=["A", "B"], roles=["correct", "incorrect"])
    with_frames = model._call(request, logprobs=False)[0].usage.prompt_tokens
    without = model._call(dataclasses.replace(request, frames=[]), logprobs=False)[0].usage.prompt_tokens
    assert with_frames >= without + 2 * 4  # each 56x56 frame is at least 4 visual tokens

    # Resume: drop two records (an interrupted run) and rerun: exactly those two are asked again.
    lines = (tmp_path / "records.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "records.jsonl").write_text("".join(lines[:3]))
    model = OpenAIVideoLM(path, base_url, max_concurrency=2)
    evaluate_temporal_robustness(model, tiny_benchmark, **kwargs)
    assert model.requests_sent == 2
    again = read_records(tmp_path / "records.jsonl")
    assert len(again) == 5 and not any(r["error"] for r in again)


def test_likelihood_fails_with_one_line_instead_of_inventing_answers(served_tiny_qwen2vl, tiny_benchmark, tmp_path, monkeypatch, capsys):
    from temrobbench.cli import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path, base_url = served_tiny_qwen2vl
    rc = main(["eval", "--data", str(tiny_benchmark), "--model", f"openai:{path}@{base_url}", "--out", str(tmp_path),
               "--scoring", "likelihood", "--frames", "2", "--configs", "intrinsic", "--limit", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and err[-1].startswith("error: the server returned no log-probabilities") and err[-1].endswith(": use --scoring generate")
    records = read_records(Path(tmp_path) / "records.jsonl")
    assert records and all(r["choice"] is None and r["role"] == "invalid" and "no log-probabilities" in r["error"] for r in records)
    assert len(records) <= 4  # the first video's batch, not the whole benchmark
