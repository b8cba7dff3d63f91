"""panodpo prepare: bad rows reported by id, template and OpenAI misleading questions, resume, Hub layout."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from tests.support.dataset_loading import load_fresh
from tests.support.openai_server import FakeOpenAIServer
from panodpo.cli import main as panodpo_main
from panodpo.data.prepare import PrepareConfig, prepare_dpo_data
from panodpo.data.misleading_questions import validate_misleading
from temrobbench.cli.commands.push import push_folder
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture


@pytest.fixture()
def source(tiny_benchmark, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    videos = sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))
    shutil.copy(videos[0], media / "a.mp4")
    shutil.copy(videos[1], media / "b.mp4")
    frames = media / "frames_c"  # ShareGPTVideo layout: a folder of frames
    frames.mkdir()
    for i in range(12):
        cv2.imwrite(str(frames / f"c_{i}.jpg"), np.full((48, 64, 3), 20 * i, np.uint8))
    rows = [
        {"id": "a", "video": "a.mp4", "prompt": "<video>\nWhat is done first?", "chosen": "The bread is cut first.", "rejected": "Ham is added first.", "answer": "cut bread", "chosen_score": 5, "rejected_score": 1},
        {"id": "b", "video": "b.mp4", "prompt": "What tool is used?", "chosen": "A welder.", "rejected": "A hammer."},
        {"id": "c", "video": "frames_c", "prompt": "<video>\nHow does the light change?", "chosen": "It gets brighter.", "rejected": "It gets darker."},
        {"id": "no-chosen", "video": "a.mp4", "prompt": "Q?", "rejected": "x"},
        {"id": "no-media", "video": "missing.mp4", "prompt": "Q?", "chosen": "y", "rejected": "x"},
        {"id": "empty", "video": "a.mp4", "prompt": "Q?", "chosen": "  ", "rejected": "x"},
        {"id": "corrupt", "video": "corrupt.mp4", "prompt": "Q?", "chosen": "y", "rejected": "x"},
        {"id": "no-frames", "video": "empty_folder", "prompt": "Q?", "chosen": "y", "rejected": "x"},
    ]
    (media / "corrupt.mp4").write_bytes(b"not a video at all" * 100)
    (media / "empty_folder").mkdir()
    jsonl = tmp_path / "dpo.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    return jsonl, media


def test_template_prepare_layout_and_bad_rows(source, tmp_path):
    jsonl, media = source
    out = tmp_path / "prepared"
    report = prepare_dpo_data(jsonl, media, out, PrepareConfig(materialize_rejected_videos=True), progress=False)
    assert report["num_rows_prepared"] == 3
    assert report["skipped"] == {"bad_json": 1, "empty_response": 1, "missing_field": 1, "missing_media": 1, "unreadable_media": 2}
    by_id = {r["id"]: r for r in report["skipped_rows"]}
    assert "chosen" in by_id["no-chosen"]["message"] and "missing.mp4" in by_id["no-media"]["message"] and "dpo.jsonl:9: not JSON" in by_id["line 9"]["message"]
    assert "corrupt.mp4" in by_id["corrupt"]["message"] and "no frame images" in by_id["no-frames"]["message"]
    ds = load_fresh(out, None, "train")
    rows = {r["id"]: r for r in ds}
    assert set(rows) == {"a", "b", "c"}
    assert rows["a"]["prompt"] == "What is done first?" and rows["a"]["chosen_score"] == 5.0
    assert rows["a"]["rejected_prompt"] == "In the video, ham is added first. What is done first?"
    assert rows["c"]["video"].metadata.num_frames == 12  # frame folder encoded once as a video
    assert rows["b"]["rejected_video"].metadata.num_frames == 8
    assert (out / "README.md").read_text().startswith("---") and (out / "rejected_videos" / "a.mp4").is_file()
    plan = push_folder(out, "me/panodpo-data", dry_run=True)
    assert "data/train-00000-of-00001.parquet" in plan and not any(p.startswith(".prepare") for p in plan)


def test_rerun_reuses_finished_rows(source, tmp_path):
    jsonl, media = source
    out = tmp_path / "prepared"
    prepare_dpo_data(jsonl, media, out, progress=False)
    cache = (out / ".prepare" / "rejected_prompts.jsonl").read_text()
    with open(out / ".prepare" / "rejected_prompts.jsonl", "a") as f:
        f.write('{"id": "torn')  # a run killed mid-write
    report = prepare_dpo_data(jsonl, media, out, progress=False)
    assert report["num_rows_prepared"] == 3
    assert (out / ".prepare" / "rejected_prompts.jsonl").read_text() == cache  # nothing redone, torn line dropped


def test_openai_perturber_with_failures_validation_and_cache(source, tmp_path, monkeypatch):
    jsonl, media = source
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-perturber")

    def reply(body):
        question = body["messages"][1]["content"].split("Question: ")[1].split("\n")[0]
        if "tool" in question:
            return question  # invalid: the question unchanged, every time
        return f"The person is clearly painting a wall. {question}"

    fails = {0: 500, 1: 429}
    with FakeOpenAIServer(reply=reply, fail=lambda n: fails.get(n)) as server:
        config = PrepareConfig(perturber="openai", captioner="none", base_url=server.base_url, max_retries=3, max_concurrency=1)
        import panodpo.data.misleading_questions as perturbers

        original = perturbers.OpenAIMisleadingQuestions.__init__

        def fast(self, *args, **kwargs):
            original(self, *args, **kwargs)
            self.initial_backoff = 0.001

        monkeypatch.setattr(perturbers.OpenAIMisleadingQuestions, "__init__", fast)
        report = prepare_dpo_data(jsonl, media, tmp_path / "out", config, progress=False)
        first_run_requests = server.count
    assert report["num_rows_prepared"] == 2 and report["skipped"]["perturbation_failed"] == 1
    failed = [r for r in report["skipped_rows"] if r["reason"] == "perturbation_failed"]
    assert failed[0]["id"] == "b" and "same as the question" in failed[0]["message"]
    system = server.requests[-1]["messages"][0]["content"]
    assert "false premise" in system and "Keep the original question" in system
    assert first_run_requests == 3 + 4 + 1  # a: 500, 429, success; b: 4 invalid tries; c: success
    for path in (tmp_path / "out").rglob("*.json*"):
        assert "sk-secret-perturber" not in path.read_text(errors="ignore")
    with FakeOpenAIServer(reply=lambda body: "x") as server:
        config = PrepareConfig(perturber="openai", captioner="none", base_url=server.base_url, max_retries=0)
        prepare_dpo_data(jsonl, media, tmp_path / "out", config, progress=False)
        assert server.count == 1  # only b is retried; a and c come from the cache


def test_openai_perturber_stops_on_a_refused_key_and_keeps_finished_rows(source, tmp_path, monkeypatch, capsys):
    jsonl, media = source
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key")
    out = tmp_path / "out"
    with FakeOpenAIServer(reply=lambda body: "The man is painting. " + body["messages"][1]["content"].split("Question: ")[1].split("\n")[0],
                          fail=lambda n: None if n == 0 else 401) as server:
        code = panodpo_main(["prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(out), "--perturber", "openai",
                             "--captioner", "none", "--base-url", server.base_url, "--max-concurrency", "1"])
        assert server.count == 2  # one row done, then one refused request: no retries, no more rows
    assert code == 2
    error = capsys.readouterr().err
    assert "AuthenticationError" in error and "OPENAI_API_KEY" in error and "sk-wrong-key" not in error
    cached = [json.loads(line) for line in (out / ".prepare" / "rejected_prompts.jsonl").read_text().splitlines()]
    assert [c["id"] for c in cached] == ["a"]  # kept for the next run


def test_openai_perturber_requests_run_concurrently_within_the_bound(source, tmp_path, monkeypatch):
    import threading
    import time

    jsonl, media = source
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def reply(body):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.3)
        with lock:
            state["now"] -= 1
        return "The man is painting a wall. " + body["messages"][1]["content"].split("Question: ")[1].split("\n")[0]

    with FakeOpenAIServer(reply=reply) as server:
        report = prepare_dpo_data(jsonl, media, tmp_path / "out", PrepareConfig(perturber="openai", captioner="none", base_url=server.base_url, max_concurrency=2), progress=False)
    assert report["num_rows_prepared"] == 3 and state["most"] == 2  # 3 rows, at most (and at once) 2 requests in flight


def test_validation_rules():
    assert validate_misleading("What color is the car?", "") == "empty"
    assert validate_misleading("What color is the car?", "The car is parked. Where is it?") == "does not keep the question asked"
    assert validate_misleading("What color is the car?", "In the video the car is painted green. What color is the car?") is None


def test_cli_prepare_and_train_on_prepared_data(source, tmp_path):
    jsonl, media = source
    out = tmp_path / "prepared"
    assert panodpo_main(["prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(out)]) == 0
    from temrobbench.tiny_models import save_tiny_qwen2vl

    model_dir = save_tiny_qwen2vl(tmp_path / "tiny")
    code = panodpo_main(["train", "--model", str(model_dir), "--data", str(out), "--output_dir", str(tmp_path / "adapter"), "--max_steps", "1",
                         "--per_device_train_batch_size", "2", "--num_frames", "2", "--report_to", "none", "--gradient_checkpointing", "false",
                         "--video_loss_weight", "0.5", "--rejected_video_strategy", "replace", "--lora_r", "4", "--dtype", "float32", "--save_strategy", "no"])
    assert code == 0
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert "| video loss weight (lambda_v) | 0.5 |" in (tmp_path / "adapter" / "README.md").read_text()
