"""The hf: adapter checks its fast paths against the plain path at run time.

On the first video a scoring takes a fast path on, HFVideoLM also scores one query by a full forward
(likelihood, choice) or generates the batch one query at a time (generate). A model whose cached or
batched path is deliberately wrong must switch the run to the plain path with one line on stderr,
record the outcome, and give the plain path's answers; a correct model (the tiny Qwen2-VL) must
pass silently and answer exactly as the unchecked adapter does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from temrobbench import evaluate_temporal_robustness
from temrobbench.evaluation.models.hf import HFVideoLM
from temrobbench.evaluation.records import read_records
from temrobbench.evaluation.requests import VideoLMRequest
from temrobbench.evaluation.run_file import RUN_FILE, differences
from temrobbench.tiny_models import build_tiny_qwen2vl

from tests.support.torch_threads import one_torch_thread  # noqa: F401


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_qwen2vl()


class WrongCache(HFVideoLM):
    """A model whose continuation from the KV cache is off (as a new cache kind could be)."""

    def _continue(self, prefix, cache, ids, offset=0):
        logits, cache = super()._continue(prefix, cache, ids, offset)
        return logits * 1.5, cache


class WrongCachedDecoding(HFVideoLM):
    """Decoding from the cache picks other tokens (the logits reversed over the vocabulary)."""

    def _continue(self, prefix, cache, ids, offset=0):
        logits, cache = super()._continue(prefix, cache, ids, offset)
        return logits.flip(-1), cache


def _requests(keys=("v", "w"), n=3, frames=4):
    video = list(np.random.RandomState(0).randint(0, 255, (frames, 48, 64, 3), dtype=np.uint8))
    prompts = ["Which order?\nA. a -> b\nB. b -> a\nC. c\nD. d\nAnswer.", "Descriptions:\n1. x\nWhich?\nA. 1\nB. 2\nC. 3\nD. 4", "Short"]
    return [
        VideoLMRequest(item_id=f"{key}{i}", video_id=key, perturbation="intrinsic", category="light", setting="clean", round=0, frames=video,
                       prompt=prompts[i % 3], options=("a -> b", "b -> a", "c", "d"), letters=tuple("ABCD"), video_key=key)
        for key in keys for i in range(n)
    ]


def _score(adapter: HFVideoLM, scoring: str, requests):
    if scoring == "likelihood":
        return adapter.letter_logprobs(requests)
    if scoring == "choice":
        return adapter.option_logprobs(requests)
    return adapter.generate(requests)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("scoring", ["likelihood", "choice", "generate"])
def test_a_correct_model_passes_silently_and_answers_as_today(tiny, capsys, scoring):
    model, processor = tiny
    requests = _requests()
    checked, unchecked = HFVideoLM(model, processor, max_new_tokens=3), HFVideoLM(model, processor, max_new_tokens=3, self_check=False)
    assert _score(checked, scoring, requests) == _score(unchecked, scoring, requests)  # exactly today's answers
    assert capsys.readouterr().err == ""
    outcome = checked.fast_path_check[scoring]
    assert outcome["checked"] and outcome["passed"] and outcome["switched_off"] == [] and outcome["path"] == "prefix reuse"
    assert outcome["model_class"] == "Qwen2VLForConditionalGeneration" and outcome["video_key"] == "v" and outcome["dtype"] == "float32"
    assert checked.reuse_prefix and checked.batch_generation and unchecked.fast_path_check == {}
    # The check's own work is counted apart: one query's full forward (one per option in choice
    # scoring) or one generate per query of the batch.
    assert checked.forward_calls == unchecked.forward_calls
    assert outcome["forward_calls"] == {"likelihood": 1, "choice": 4, "generate": 3}[scoring] and outcome["seconds"] >= 0
    if scoring != "generate":
        assert outcome["max_difference"] <= 1e-4


def test_batched_generation_of_a_correct_model_passes(tiny, capsys):
    model, processor = tiny
    batched = HFVideoLM(model, processor, max_new_tokens=3, reuse_prefix=False)
    answers = batched.generate(_requests())
    assert answers == HFVideoLM(model, processor, max_new_tokens=3, reuse_prefix=False, self_check=False).generate(_requests())
    assert capsys.readouterr().err == "" and batched.fast_path_check["generate"]["path"] == "batched generation"
    assert batched.fast_path_check["generate"]["passed"] and batched.batch_generation


@pytest.mark.parametrize("scoring", ["likelihood", "choice"])
def test_a_wrong_cached_path_switches_the_run_to_full_forwards(tiny, capsys, scoring):
    model, processor = tiny
    requests = _requests()
    wrong = WrongCache(model, processor)
    scores = _score(wrong, scoring, requests)
    plain = _score(HFVideoLM(model, processor, reuse_prefix=False), scoring, requests)
    assert scores == plain  # every video, the checked one included, scored by full forwards
    lines = _lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert "Qwen2VLForConditionalGeneration" in lines[0] and "differ from a full forward by" in lines[0] and "reuse_prefix=False" in lines[0]
    outcome = wrong.fast_path_check[scoring]
    assert outcome["checked"] and not outcome["passed"] and outcome["switched_off"] == ["reuse_prefix"]
    assert outcome["max_difference"] > outcome["tolerance"] and not wrong.reuse_prefix
    # Checked once per scoring: a second call neither checks nor prints again, and stays plain.
    assert _score(wrong, scoring, requests) == plain and capsys.readouterr().err == ""


def test_a_wrong_cached_decoding_switches_generate_to_one_by_one(tiny, capsys):
    model, processor = tiny
    requests = _requests()
    wrong = WrongCachedDecoding(model, processor, max_new_tokens=3)
    answers = wrong.generate(requests)
    assert answers == [HFVideoLM(model, processor, max_new_tokens=3, reuse_prefix=False).generate([r])[0] for r in requests]
    lines = _lines(capsys.readouterr().err)
    assert len(lines) == 1 and "Qwen2VLForConditionalGeneration" in lines[0] and "other tokens" in lines[0], lines
    outcome = wrong.fast_path_check["generate"]
    assert not outcome["passed"] and outcome["differing_queries"] >= 1 and outcome["switched_off"] == ["reuse_prefix", "batch_generation"]
    assert not wrong.reuse_prefix and not wrong.batch_generation


def test_a_wrong_batched_generation_switches_to_one_query_at_a_time(tiny, capsys, monkeypatch):
    model, processor = tiny
    requests = _requests()
    plain = [HFVideoLM(model, processor, max_new_tokens=3, reuse_prefix=False).generate([r])[0] for r in requests]
    original, batch_sizes = model.generate, []
    wrong_token = processor.tokenizer.convert_tokens_to_ids("Z")

    def wrong_when_batched(**inputs):
        output = original(**inputs)
        rows, length = inputs["input_ids"].shape
        batch_sizes.append(rows)
        if rows > 1:  # e.g. a family whose left padding shifts its positions
            output = output.clone()
            output[1:, length:] = wrong_token
        return output

    monkeypatch.setattr(model, "generate", wrong_when_batched)
    batched = HFVideoLM(model, processor, max_new_tokens=3, reuse_prefix=False)
    assert batched.generate(requests) == plain
    lines = _lines(capsys.readouterr().err)
    assert len(lines) == 1 and "batched generation" in lines[0] and "Qwen2VLForConditionalGeneration" in lines[0], lines
    outcome = batched.fast_path_check["generate"]
    assert outcome["path"] == "batched generation" and not outcome["passed"] and outcome["differing_queries"] == 2
    assert outcome["first_difference"]["query"] == 1 and outcome["first_difference"]["fast"][0] == wrong_token
    # The first video: one batch, then one generate per query (the check); the second: one per query.
    assert batch_sizes == [3, 1, 1, 1, 1, 1, 1]


def test_evaluate_records_the_check_beside_run_json_and_a_rerun_resumes(tiny, tiny_benchmark, tmp_path, capfd):
    model, processor = tiny
    out, plain_out = tmp_path / "wrong", tmp_path / "plain"
    kwargs = dict(num_frames=2, scoring="likelihood", limit=2, progress=False)
    evaluate_temporal_robustness(WrongCache(model, processor, name="tiny"), tiny_benchmark, output_dir=out, **kwargs)
    lines = _lines(capfd.readouterr().err)
    assert len(lines) == 1 and "Qwen2VLForConditionalGeneration" in lines[0], lines
    evaluate_temporal_robustness(HFVideoLM(model, processor, name="tiny", reuse_prefix=False), tiny_benchmark, output_dir=plain_out, **kwargs)
    scores = {(r["item_id"], r["setting"], r["round"]): r["letter_logprobs"] for r in read_records(out / "records.jsonl")}
    plain = {(r["item_id"], r["setting"], r["round"]): r["letter_logprobs"] for r in read_records(plain_out / "records.jsonl")}
    assert scores == plain and len(scores) == 20

    checks = json.loads((out / "fast_path_check.json").read_text())
    assert len(checks) == 1 and checks[0]["checked"] and not checks[0]["passed"] and checks[0]["switched_off"] == ["reuse_prefix"]
    assert json.loads((plain_out / "fast_path_check.json").read_text()) == [
        {"checked": False, "scoring": "likelihood", "reason": "no query took a fast path: every query ran the plain path"}]
    run = json.loads((out / RUN_FILE).read_text())
    assert "fast_path_check" not in run and differences(run, json.loads((plain_out / RUN_FILE).read_text())) == []

    # A rerun resumes (the check's outcome is no part of the run's identity); one that has
    # queries left checks itself again on its first video and appends its outcome.
    evaluate_temporal_robustness(HFVideoLM(model, processor, name="tiny"), tiny_benchmark, output_dir=out, **kwargs)
    assert len(json.loads((out / "fast_path_check.json").read_text())) == 1  # nothing ran, nothing recorded
    lines = (out / "records.jsonl").read_text().splitlines(keepends=True)
    (out / "records.jsonl").write_text("".join(lines[:10]))
    evaluate_temporal_robustness(HFVideoLM(model, processor, name="tiny"), tiny_benchmark, output_dir=out, **kwargs)
    checks = json.loads((out / "fast_path_check.json").read_text())
    assert [c["passed"] for c in checks] == [False, True] and capfd.readouterr().err == ""
    assert len(read_records(out / "records.jsonl")) == 20

    # Starting over removes it with the other results.
    evaluate_temporal_robustness(HFVideoLM(model, processor, name="tiny"), tiny_benchmark, output_dir=out, overwrite=True,
                                 **dict(kwargs, num_frames=3))
    assert [c["passed"] for c in json.loads((out / "fast_path_check.json").read_text())] == [True]


def test_the_check_scales_its_tolerance_with_precision(tiny):
    model, processor = tiny
    adapter = HFVideoLM(model, processor)
    assert adapter._tolerance() == ("float32", 1e-4)
    half = HFVideoLM(model.to(torch.bfloat16), processor)
    try:
        assert half._tolerance() == ("bfloat16", 2e-2)
    finally:
        model.to(torch.float32)
