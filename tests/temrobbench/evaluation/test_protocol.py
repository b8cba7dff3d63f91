"""evaluate_temporal_robustness with scripted callable models: protocol, metrics, resume, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from tests.support.dataset_loading import load_fresh
from temrobbench import evaluate_temporal_robustness
from temrobbench.evaluation.records import read_records
from temrobbench.prompt import TRUST_THE_VIDEO_SYSTEM_PROMPT


def pick(role):
    """A model that always answers the option of ``role`` (cheating on purpose, via request.roles)."""

    def answer(request):
        return f"The answer is {request.letters[request.roles.index(role)]}." if role in request.roles else "C"

    return answer


def test_always_correct(tiny_benchmark):
    report = evaluate_temporal_robustness(pick("correct"), tiny_benchmark, num_frames=4, progress=False)
    for name in ("intrinsic", "extrinsic", "light", "severe", "absolute", "relative"):
        m = report.metrics[name]
        assert (m["clean_acc"], m["adv_acc"], m["fr"], m["wfr"], m["t_acc"], m["invalid_rate"]) == (100, 100, 0, 0, 100, 0)
    assert report.metrics["intrinsic"]["n"] == 4 and report.metrics["extrinsic"]["n"] == 8


def test_shortcut_taker_flips_every_item(tiny_benchmark):
    def shortcut_when_adversarial(request):
        role = "shortcut" if request.setting == "adversarial" else "correct"
        return request.letters[request.roles.index(role)]

    m = evaluate_temporal_robustness(shortcut_when_adversarial, tiny_benchmark, num_frames=4, progress=False).metrics
    assert m["intrinsic"]["clean_acc"] == 100 and m["intrinsic"]["adv_acc"] == 0
    assert m["intrinsic"]["fr"] == 100 and m["extrinsic"]["wfr"] == 100 and m["extrinsic"]["t_acc"] == 0


def test_rounds_rotate_the_correct_option_through_every_letter(tiny_benchmark):
    seen = []

    def model(request):
        seen.append(request)
        return "A"  # always the first letter: right in exactly one of 4 rounds

    report = evaluate_temporal_robustness(model, tiny_benchmark, num_frames=4, progress=False)
    adversarial = [r for r in seen if r.setting == "adversarial"]
    by_item = {}
    for request in adversarial:
        by_item.setdefault(request.item_id, set()).add(request.letters[request.roles.index("correct")])
    assert all(letters == {"A", "B", "C", "D"} for letters in by_item.values())
    assert report.metrics["intrinsic"]["t_acc"] == 0.0
    assert Counter((r.setting, r.round) for r in seen) == {("clean", 0): 12, **{("adversarial", k): 12 for k in range(4)}}
    assert all(len(r.frames) == 4 and r.frames[0].ndim == 3 for r in seen)


def test_invalid_answers_are_counted_and_raw_output_kept(tiny_benchmark, tmp_path):
    report = evaluate_temporal_robustness(lambda r: "I am not sure", tiny_benchmark, num_frames=2, output_dir=tmp_path, progress=False)
    assert report.metrics["intrinsic"]["invalid_rate"] == 100 and report.metrics["intrinsic"]["clean_acc"] == 0
    records = read_records(tmp_path / "records.jsonl")
    assert len(records) == 60 and all(r["role"] == "invalid" and r["output"] == "I am not sure" for r in records)


def test_system_prompt_and_limit(tiny_benchmark):
    prompts = set()
    report = evaluate_temporal_robustness(lambda r: prompts.add(r.system_prompt) or "A", tiny_benchmark, num_frames=2, system_prompt=True, limit=1, progress=False)
    assert prompts == {TRUST_THE_VIDEO_SYSTEM_PROMPT}
    assert report.metrics["intrinsic"]["n"] == 1 and report.metrics["extrinsic"]["n"] == 1


def test_frames_are_decoded_once_per_video(tiny_benchmark, monkeypatch):
    import temrobbench.evaluation.evaluate as evaluate_module

    decoded = []
    real = evaluate_module.decode_frames
    monkeypatch.setattr(evaluate_module, "decode_frames", lambda video, n: decoded.append(video["path"]) or real(video, n))
    evaluate_temporal_robustness("random", tiny_benchmark, num_frames=4, progress=False)
    # 4 videos: each clean video once (ITS clean + both ETS items), each edited video once.
    assert len(decoded) == len(set(decoded)) == 8


def test_corrupt_video_fails_its_items_not_the_run(tiny_benchmark, tmp_path):
    import datasets

    data = {}
    for config in ("intrinsic", "extrinsic"):
        data[config] = {}
        for split in ("clean", "adversarial"):
            ds = load_fresh(tiny_benchmark, config, split).cast_column("video", datasets.Video(decode=False))
            first = ds[0]["video_id"]
            data[config][split] = ds.map(lambda row: {"video": {"bytes": b"not a video", "path": "broken.mp4"}} if row["video_id"] == first else {})
    report = evaluate_temporal_robustness(pick("correct"), data, num_frames=2, output_dir=tmp_path, progress=False)
    records = read_records(tmp_path / "records.jsonl")
    errors = [r for r in records if r["error"]]
    assert errors and all("cannot decode" in r["error"] and r["role"] == "invalid" for r in errors)
    assert report.num_errors == len(errors) and len(records) == 60
    assert any(r["role"] == "correct" for r in records)


SCRIPT = textwrap.dedent(
    """
    import sys, time
    from temrobbench import evaluate_temporal_robustness

    def slow(request):
        time.sleep(0.02)
        return request.letters[(len(request.item_id) + request.round) % 4]

    evaluate_temporal_robustness(slow, sys.argv[1], num_frames=2, output_dir=sys.argv[2], progress=False)
    """
)


def test_killed_run_resumes_to_exactly_the_uninterrupted_records(tiny_benchmark, tmp_path):
    script = tmp_path / "run_eval.py"
    script.write_text(SCRIPT)
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run([sys.executable, str(script), str(tiny_benchmark), str(reference)], check=True)
    process = subprocess.Popen([sys.executable, str(script), str(tiny_benchmark), str(resumed)])
    records = resumed / "records.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not records.exists() or records.read_text().count("\n") < 10):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = records.read_text().count("\n")
    assert 10 <= partial < 60
    with open(records, "a") as f:
        f.write('{"item_id": "torn')  # a write cut off by the kill
    subprocess.run([sys.executable, str(script), str(tiny_benchmark), str(resumed)], check=True)
    lines = records.read_text().splitlines()
    assert len(lines) == 60 and all(line.startswith("{") and line.endswith("}") for line in lines)
    strip = lambda rs: sorted(json.dumps(r, sort_keys=True) for r in rs)  # noqa: E731
    assert strip(read_records(records)) == strip(read_records(reference / "records.jsonl"))
    assert json.loads((resumed / "metrics.json").read_text())["metrics"] == json.loads((reference / "metrics.json").read_text())["metrics"]


def test_resume_refuses_other_settings(tiny_benchmark, tmp_path):
    evaluate_temporal_robustness("random", tiny_benchmark, num_frames=2, output_dir=tmp_path, limit=1, progress=False)
    with pytest.raises(ValueError, match="another run"):
        evaluate_temporal_robustness("random", tiny_benchmark, num_frames=4, output_dir=tmp_path, limit=1, progress=False)


def test_report_command_rerenders_from_records(tiny_benchmark, tmp_path, capsys):
    from temrobbench.cli import main

    evaluate_temporal_robustness("random", tiny_benchmark, num_frames=2, output_dir=tmp_path, progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    (tmp_path / "metrics.json").unlink()
    (tmp_path / "accuracy.png").unlink()
    assert main(["report", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"] == saved
    assert (tmp_path / "accuracy.png").stat().st_size > 1000
    assert "| Model | ITS Clean Acc" in capsys.readouterr().out


def test_unknown_model_lists_valid_specs(tiny_benchmark):
    with pytest.raises(ValueError, match=r"valid: .*hf:<id-or-path>.*openai:<model>\[@base_url\].*random"):
        evaluate_temporal_robustness("llama-video", tiny_benchmark, progress=False)


def test_sharded_ranks_merge_to_the_single_run(tiny_benchmark, tmp_path, monkeypatch):
    from temrobbench.evaluation.records import read_all_records

    def model(request):
        return request.letters[(len(request.item_id) + request.round) % 4]

    single = evaluate_temporal_robustness(model, tiny_benchmark, num_frames=2, output_dir=tmp_path / "single", progress=False)
    for rank in (1, 0):  # as under `accelerate launch --num_processes 2`; rank 0 merges
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        sharded = evaluate_temporal_robustness(model, tiny_benchmark, num_frames=2, output_dir=tmp_path / "sharded", progress=False)
    shards = [read_records(tmp_path / "sharded" / f"records.rank{r}.jsonl") for r in (0, 1)]
    keys = [{(r["item_id"], r["setting"], r["round"]) for r in shard} for shard in shards]
    assert keys[0] and keys[1] and not keys[0] & keys[1]  # each query on exactly one rank
    assert len(read_all_records(tmp_path / "sharded")) == 60
    assert sharded.metrics == single.metrics
