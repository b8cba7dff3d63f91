"""The hf: adapter on tiny random Qwen2-VL and LLaVA-OneVision models built offline."""

from __future__ import annotations

import numpy as np
import pytest

from temrobbench import evaluate_temporal_robustness
from temrobbench.evaluation.models.hf import HFVideoLM
from temrobbench.evaluation.records import read_records
from temrobbench.evaluation.requests import VideoLMRequest
from temrobbench.tiny_models import build_tiny_qwen2vl, save_tiny_qwen2vl
from tests.support.tiny_families.llava_onevision import build_tiny_llava_onevision

BUILDERS = {"qwen2vl": build_tiny_qwen2vl, "llava_onevision": build_tiny_llava_onevision}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def tiny(request):
    return request.param, *BUILDERS[request.param]()


def _requests(n=3, video_key="v"):
    frames = list(np.random.RandomState(0).randint(0, 255, (6, 48, 64, 3), dtype=np.uint8))
    prompts = ["Which order?\nA. a -> b\nB. b -> a\nC. c\nD. d\nAnswer.", "Descriptions:\n1. x\nWhich?\nA. 1\nB. 2\nC. 3\nD. 4", "Short"]
    return [
        VideoLMRequest(item_id=f"i{i}", video_id="v", perturbation="intrinsic", category="light", setting="clean", round=0, frames=frames,
                       prompt=prompts[i % 3], options=("a -> b", "b -> a", "c", "d"), letters=tuple("ABCD"), video_key=video_key)
        for i in range(n)
    ]


def test_shared_video_prefix_scores_equal_full_forwards(tiny):
    _, model, processor = tiny
    cached, full = HFVideoLM(model, processor), HFVideoLM(model, processor, reuse_prefix=False)
    requests = _requests()
    a, b = cached.letter_logprobs(requests), full.letter_logprobs(requests)
    for x, y in zip(a, b):
        assert x == pytest.approx(y, abs=1e-4)
    assert cached.forward_calls == 1 + len(requests) and full.forward_calls == len(requests)
    assert np.allclose(cached.option_logprobs(requests), full.option_logprobs(requests), atol=1e-3)


def test_generate_and_blind(tiny):
    _, model, processor = tiny
    answers = HFVideoLM(model, processor, max_new_tokens=4).generate(_requests())
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    blind = HFVideoLM(model, processor, use_video=False)
    assert "video" not in str(blind._messages(_requests()[0]))
    assert len(blind.letter_logprobs(_requests())) == 3


@pytest.mark.parametrize("scoring", ["likelihood", "choice", "generate"])
def test_evaluate_tiny_models(tiny, tiny_benchmark, tmp_path, scoring):
    name, model, processor = tiny
    report = evaluate_temporal_robustness(HFVideoLM(model, processor, max_new_tokens=3, name=name), tiny_benchmark,
                                          num_frames=4, scoring=scoring, output_dir=tmp_path, limit=2, progress=False)
    records = read_records(tmp_path / "records.jsonl")
    assert len(records) == 4 * 5  # 2 ITS + 2 ETS items, 5 queries each
    assert report.metrics["intrinsic"]["n"] == 2 and report.metrics["extrinsic"]["n"] == 2
    if scoring == "likelihood":
        assert all(set(r["letter_logprobs"]) == set("ABCD") for r in records)
        margins = [r["shortcut_margin"] for r in records if r["setting"] == "adversarial"]
        assert len(margins) == 16 and report.metrics["intrinsic"]["shortcut_margin"] is not None
        assert (tmp_path / "shortcut_margin.png").stat().st_size > 1000
    if scoring == "choice":
        assert all(len(r["option_scores"]) == 4 and r["role"] != "invalid" for r in records)


def test_hf_spec_loads_a_saved_checkpoint(tmp_path, tiny_benchmark):
    path = save_tiny_qwen2vl(tmp_path / "tiny-qwen2vl")
    report = evaluate_temporal_robustness(f"hf:{path}", tiny_benchmark, num_frames=2, scoring="likelihood", limit=1, progress=False,
                                          model_kwargs={"dtype": "float32"})
    assert report.model == f"hf:{path}" and report.metrics["intrinsic"]["n"] == 1
    blind = evaluate_temporal_robustness(f"blind:hf:{path}", tiny_benchmark, num_frames=2, scoring="likelihood", limit=1, progress=False,
                                         model_kwargs={"dtype": "float32"})
    assert blind.model == f"blind:hf:{path}"
