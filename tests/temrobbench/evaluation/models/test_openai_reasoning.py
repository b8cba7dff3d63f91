"""openai: with reasoning models (GPT-5 / o-series shapes, "thinking" checkpoints) on a local server.

The server emulates OpenAI's reasoning models: ``max_tokens`` and ``temperature=0`` are refused
with the real 400 bodies, the thinking comes as ``<think>`` text or ``reasoning_content``, usage
reports ``completion_tokens_details.reasoning_tokens``, and some answers stop at the length limit.
"""

from __future__ import annotations

import json
import threading

import pytest

from tests.support.openai_server import FakeOpenAIServer, legacy_server_rules, reasoning_model_rules
from temrobbench import evaluate_temporal_robustness
from temrobbench.evaluation.records import read_records


def _reasoning_reply():
    """Every fifth request runs out of budget while thinking; the others answer B after thinking
    about A (inside ``<think>`` or in ``reasoning_content``)."""
    lock, count = threading.Lock(), [0]

    def reply(body):
        with lock:
            n = count[0]
            count[0] += 1
        budget = body.get("max_completion_tokens") or body.get("max_tokens")
        if n % 5 == 4:
            content = "" if n % 2 == 0 else "<think>The frames show the onion cut first, so maybe A, but"
            return {"content": content, "finish_reason": "length",
                    "usage": {"prompt_tokens": 300, "completion_tokens": budget, "total_tokens": 300 + budget, "completion_tokens_details": {"reasoning_tokens": budget}}}
        usage = {"prompt_tokens": 300, "completion_tokens": 120, "total_tokens": 420, "completion_tokens_details": {"reasoning_tokens": 100}}
        if n % 2:
            return {"content": "<think>Option A looks first, but the frames say otherwise.</think>The answer is (B).", "usage": usage}
        return {"content": "B", "reasoning_content": "Option A? No: the water boils before anything else. A is wrong.", "usage": usage}

    return reply


def test_reasoning_model_budget_truncations_and_usage(tiny_benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer(reply=_reasoning_reply(), reject=reasoning_model_rules) as server:
        report = evaluate_temporal_robustness(f"openai:gpt-5-mini@{server.base_url}", tiny_benchmark, num_frames=2, limit=1, output_dir=tmp_path, progress=False)
    # The model name says it reasons: a reasoning budget as max_completion_tokens, no temperature.
    assert server.rejected == 0 and server.count == 10
    assert all(b["max_completion_tokens"] == 8192 and "max_tokens" not in b and "temperature" not in b for b in server.requests)
    records = read_records(tmp_path / "records.jsonl")
    assert len(records) == 10 and not any(r["error"] for r in records)
    truncated = [r for r in records if r.get("truncated")]
    answered = [r for r in records if not r.get("truncated")]
    assert len(truncated) == 2 and all(r["role"] == "invalid" and r["finish_reason"] == "length" and r["invalid_reason"].startswith("truncated") for r in truncated)
    assert all(r["choice"] == "B" and r["finish_reason"] == "stop" for r in answered)  # the answer after the thinking, not the A inside it
    assert all(r["usage"] == {"prompt_tokens": 300, "completion_tokens": 120, "reasoning_tokens": 100} and r["requests"] == 1 for r in answered)

    summary = report.summary
    assert summary["requests"] == 10 and summary["truncated"] == 2 and summary["truncated_invalid"] == 2
    assert summary["usage"] == {"prompt_tokens": 3000, "completion_tokens": 8 * 120 + 2 * 8192, "reasoning_tokens": 8 * 100 + 2 * 8192}
    assert summary["invalid_by_reason"] == {"truncated: the token budget ran out before an answer": 2}
    markdown = (tmp_path / "report.md").read_text()
    assert "2 answers were cut off at the token budget" in markdown and "Usage: 10 requests for 10 queries" in markdown
    assert json.loads((tmp_path / "metrics.json").read_text())["summary"]["usage"]["reasoning_tokens"] == 800 + 2 * 8192

    # The budget is part of the run's settings: a rerun with another one cannot mix into these records.
    settings = json.loads((tmp_path / "run.json").read_text())
    assert settings["model_options"]["max_new_tokens"] == 8192 and settings["model_options"]["reasoning"] is True
    port = server.httpd.server_address[1]  # restarted at its address (the base URL is part of the model's identity)
    with FakeOpenAIServer(reply=_reasoning_reply(), reject=reasoning_model_rules, port=port) as server:
        with pytest.raises(ValueError, match="holds records of another run"):
            evaluate_temporal_robustness(f"openai:gpt-5-mini@{server.base_url}", tiny_benchmark, num_frames=2, limit=1, output_dir=tmp_path, progress=False,
                                         model_kwargs={"max_new_tokens": 1024})
        # The same settings resume: nothing is asked again.
        evaluate_temporal_robustness(f"openai:gpt-5-mini@{server.base_url}", tiny_benchmark, num_frames=2, limit=1, output_dir=tmp_path, progress=False)
    assert server.count == 0


@pytest.mark.parametrize(
    "rules, kwargs, refused, then_sent",
    [
        (reasoning_model_rules, {}, ("temperature",), {"max_completion_tokens": 32}),  # a reasoning model under a name not known as one
        (reasoning_model_rules, {"token_parameter": "max_tokens"}, ("max_tokens", "temperature"), {"max_completion_tokens": 32}),
        (legacy_server_rules, {}, ("max_completion_tokens",), {"max_tokens": 32, "temperature": 0.0}),
    ],
)
def test_refused_parameters_are_adapted_once_for_the_run(tiny_benchmark, monkeypatch, capsys, rules, kwargs, refused, then_sent):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer(reply=lambda body: "The answer is B.", reject=rules) as server:
        report = evaluate_temporal_robustness(f"openai:acme-vlm@{server.base_url}", tiny_benchmark, num_frames=2, limit=1, configs=("intrinsic",), progress=False,
                                              model_kwargs={"max_concurrency": 2, **kwargs})
    assert report.num_errors == 0 and all(r["choice"] == "B" for r in report.records)
    lines = [line for line in capsys.readouterr().err.splitlines() if "refuses" in line]
    assert sorted(line.split("refuses ")[1].split(" ")[0].split("=")[0] for line in lines) == sorted(refused)  # each said once, not once per query
    assert 1 <= server.rejected <= 2 * len(refused)  # at most the requests in flight before each refusal
    last = server.requests[-1]
    assert {k: last.get(k) for k in then_sent} == then_sent and not set(refused) & set(last)


def test_rejected_both_token_names_is_an_error_not_a_loop(tiny_benchmark, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def refuse_both(body):
        return reasoning_model_rules(body) or legacy_server_rules(body)

    with FakeOpenAIServer(reply=lambda body: "B", reject=refuse_both) as server:
        report = evaluate_temporal_robustness(f"openai:o3@{server.base_url}", tiny_benchmark, num_frames=2, limit=1, configs=("intrinsic",), progress=False,
                                              model_kwargs={"max_concurrency": 1})
    assert report.num_errors == 5 and all("BadRequestError" in r["error"] and "Unsupported parameter" in r["error"] for r in report.records)
    assert server.count <= 5 * 2 + 1


def test_cli_model_args_reach_the_server_and_the_settings(tiny_benchmark, tmp_path, monkeypatch, capsys):
    from temrobbench.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer(reply=_reasoning_reply(), reject=reasoning_model_rules) as server:
        args = ["eval", "--data", str(tiny_benchmark), "--model", f"openai:o4-mini@{server.base_url}", "--out", str(tmp_path), "--frames", "2",
                "--limit", "1", "--configs", "intrinsic", "--model-args", 'max_new_tokens=2048,reasoning_effort=low,extra_body={"seed": 1, "top_k": 20}']
        assert main(args) == 0
        bad = main([*args[:-1], "max_new_tokens=2048,budget=3"])
    out, err = capsys.readouterr()
    assert "cut off at the token budget" in out and "Usage: 5 requests" in out
    body = server.requests[0]
    assert body["max_completion_tokens"] == 2048 and body["reasoning_effort"] == "low" and body["seed"] == 1 and body["top_k"] == 20
    options = json.loads((tmp_path / "run.json").read_text())["model_options"]
    assert options == {"max_new_tokens": 2048, "temperature": None, "reasoning": True, "reasoning_effort": "low", "extra_body": {"seed": 1, "top_k": 20}}
    assert bad == 2 and "unknown option budget" in err.strip().splitlines()[-1]
