"""openai: adapter with the real openai client against a local server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.openai_server import FakeOpenAIServer
from temrobbench import evaluate_temporal_robustness
from temrobbench.evaluation.models.openai_api import OpenAIVideoLM
from temrobbench.evaluation.records import read_records

SECRET = "sk-test-secret-0123456789"


def _last_text(body):
    return body["messages"][-1]["content"][-1]["text"]


def test_frames_prompt_retries_and_secrecy(tiny_benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # Every third request fails once with 500, 429 or 503 in turn: all must be retried.
    statuses = [500, 429, 503]
    with FakeOpenAIServer(reply=lambda body: "The answer is (B).", fail=lambda n: statuses[(n // 3) % 3] if n % 3 == 0 and n < 60 else None) as server:
        model = OpenAIVideoLM("gpt-4o-test", server.base_url, initial_backoff=0.001, max_concurrency=4)
        report = evaluate_temporal_robustness(model, tiny_benchmark, num_frames=3, output_dir=tmp_path, limit=1, system_prompt=True, progress=False)
    assert model.retries >= 5
    records = read_records(tmp_path / "records.jsonl")
    assert len(records) == 10 and not any(r["error"] for r in records)  # 1 ITS + 1 ETS item, 5 queries each
    assert all(r["choice"] == "B" for r in records)
    body = server.requests[-1]
    images = [c for c in body["messages"][-1]["content"] if c["type"] == "image_url"]
    assert len(images) == 3 and images[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert body["messages"][0]["role"] == "system"
    assert _last_text(body).endswith("Answer with the option's letter from the given choices directly.")
    assert {k.lower(): v for k, v in server.headers[0].items()}["authorization"] == f"Bearer {SECRET}"
    for path in Path(tmp_path).iterdir():
        if path.suffix in (".jsonl", ".json", ".md"):
            assert SECRET not in path.read_text()
    assert report.metrics["intrinsic"]["n"] == 1


def test_persistent_failures_are_recorded_and_retried_on_rerun(tiny_benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(reply=lambda body: "A", fail=lambda n: 500) as server:
        model = OpenAIVideoLM("m", server.base_url, initial_backoff=0.001, max_retries=2)
        report = evaluate_temporal_robustness(model, tiny_benchmark, num_frames=2, output_dir=tmp_path, limit=1, configs=("intrinsic",), progress=False)
    assert report.num_errors == 5 and server.count == 5 * 3  # each query: 1 try + 2 retries
    records = read_records(tmp_path / "records.jsonl")
    assert all(r["role"] == "invalid" and "InternalServerError" in r["error"] for r in records)
    port = server.httpd.server_address[1]  # the server restarted at its address: the same model, resumed
    with FakeOpenAIServer(reply=lambda body: "A", port=port) as server:
        model = OpenAIVideoLM("m", server.base_url, initial_backoff=0.001)
        report = evaluate_temporal_robustness(model, tiny_benchmark, num_frames=2, output_dir=tmp_path, limit=1, configs=("intrinsic",), progress=False)
    assert report.num_errors == 0 and server.count == 5
    assert len(read_records(tmp_path / "records.jsonl")) == 5


def test_client_errors_are_not_retried(tiny_benchmark, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(reply=lambda body: "A", fail=lambda n: 400) as server:
        model = OpenAIVideoLM("m", server.base_url, initial_backoff=0.001)
        report = evaluate_temporal_robustness(model, tiny_benchmark, num_frames=2, limit=1, configs=("intrinsic",), progress=False)
    assert server.count == 5 and report.num_errors == 5


def test_likelihood_scoring_from_top_logprobs(tiny_benchmark, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(reply=lambda body: "C", logprobs=lambda body: {"C": -0.1, "A": -2.5, " B": -3.0}) as server:
        report = evaluate_temporal_robustness(f"openai:m@{server.base_url}", tiny_benchmark, num_frames=2, scoring="likelihood", limit=1, configs=("intrinsic",), progress=False)
    records = report.records
    assert all(r["choice"] == "C" for r in records)
    # D is outside the top log-probs: unknown, not a made-up floor; margins only from known letters.
    assert records[0]["letter_logprobs"] == {"A": -2.5, "B": -3.0, "C": -0.1, "D": None}
    assert all(r.get("shortcut_margin") is None or isinstance(r["shortcut_margin"], float) for r in records)


def test_likelihood_without_logprobs_stops_the_run_with_one_line(tiny_benchmark, tmp_path, monkeypatch, capsys):
    """A server that ignores ``logprobs`` (transformers serve does) must not yield answers."""
    from temrobbench.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(reply=lambda body: "A") as server:
        spec = f"openai:m@{server.base_url}"
        with pytest.raises(ValueError, match="^the server returned no log-probabilities: use --scoring generate$"):
            evaluate_temporal_robustness(spec, tiny_benchmark, num_frames=2, scoring="likelihood", output_dir=tmp_path / "api", configs=("intrinsic",), progress=False, batch_size=4, model_kwargs={"max_concurrency": 1})
        assert server.count == 1  # stopped at the first response, the rest of the batch never sent
        records = read_records(tmp_path / "api" / "records.jsonl")
        # The first video's queries (its batch) are error records naming the cause; no other video was tried.
        assert 1 <= len(records) <= 4 and all(r["role"] == "invalid" and r["choice"] is None for r in records)
        assert all("no log-probabilities" in r["error"] for r in records)
        rc = main(["eval", "--data", str(tiny_benchmark), "--model", spec, "--out", str(tmp_path / "cli"), "--scoring", "likelihood", "--frames", "2", "--configs", "intrinsic"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and err[-1].startswith("error: the server returned no log-probabilities") and err[-1].endswith(": use --scoring generate")
    assert server.count <= 1 + 8  # at most the requests already in flight (max_concurrency)


@pytest.mark.parametrize(
    "top, reason",
    [({"The": -0.1, "answer": -0.5}, "no option letter among the returned log-probabilities"), ({"B": -0.7, " A": -0.7, "C": -2.0}, "tie between A, B at -0.7")],
)
def test_likelihood_without_letters_or_with_a_tie_is_invalid(tiny_benchmark, monkeypatch, top, reason):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(reply=lambda body: "B", logprobs=lambda body: top) as server:
        report = evaluate_temporal_robustness(f"openai:m@{server.base_url}", tiny_benchmark, num_frames=2, scoring="likelihood", limit=1, configs=("intrinsic",), progress=False)
    assert report.num_errors == 0 and len(report.records) == 5
    assert all(r["role"] == "invalid" and r["choice"] is None and r["invalid_reason"] == reason for r in report.records)
    assert report.metrics["intrinsic"]["invalid_rate"] == 100.0


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY"):
        OpenAIVideoLM("gpt-4o")
