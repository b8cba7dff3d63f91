"""panodpo prepare, q' the paper's way: a caption per distinct video (openai: or hf: captioner),
cached and resumable, then the perturbation from caption, question and answer; and the template
perturber's capitalisation and what prepare says when no captioner is used."""

from __future__ import annotations

import hashlib
import json
import shutil

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from panodpo.cli import main as panodpo_main
from panodpo.data.captions import CAPTION_PROMPT, parse_captioner
from panodpo.data.misleading_questions import TemplateMisleadingQuestions, lower_first_word
from panodpo.data.prepare import PrepareConfig, prepare_dpo_data
from panodpo.data.sharegptvideo import DpoRow
from tests.support.fault_injection import hook_dir, run_command
from tests.support.openai_server import FakeOpenAIServer, key_refused_body
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

ROW = {"prompt": "<video>\nWhat happens first?", "chosen": "The bread is cut first.", "rejected": "Ham is added first.", "answer": "cut bread"}
KEY = "sk-caption-secret-0123456789"


@pytest.fixture()
def source(tiny_benchmark, tmp_path):
    """ShareGPTVideo's shape: ids `<video>_<n>`; 6 rows over 3 distinct videos (a frames folder
    with 3 rows, a.mp4 with 2 rows, one written ./a.mp4, b.mp4 with 1)."""
    media = tmp_path / "media"
    media.mkdir()
    clips = sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))
    shutil.copy(clips[0], media / "a.mp4")
    shutil.copy(clips[1], media / "b.mp4")
    frames = media / "v_f"
    frames.mkdir()
    for i in range(6):
        cv2.imwrite(str(frames / f"f_{i}.jpg"), np.full((48, 64, 3), 30 * i, np.uint8))
    rows = [{"id": f"v_f_{n}", "video": "v_f", **ROW} for n in range(3)]
    rows += [{"id": "a_0", "video": "a.mp4", **ROW}, {"id": "a_1", "video": "./a.mp4", **ROW}, {"id": "b_0", "video": "b.mp4", **ROW}]
    jsonl = tmp_path / "dpo.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return jsonl, media


VIDEO_OF = {"v_f_0": "v_f", "v_f_1": "v_f", "v_f_2": "v_f", "a_0": "a.mp4", "a_1": "a.mp4", "b_0": "b.mp4"}


def is_caption_request(body: dict) -> bool:
    return isinstance(body["messages"][-1]["content"], list)  # frames as images: the captioner


def reply(body: dict) -> str:
    """A caption named after the frames it was shown (so each video has its own), or a q' that
    quotes the caption it was given (so the test sees which caption reached which row)."""
    content = body["messages"][-1]["content"]
    if is_caption_request(body):
        images = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
        return f"Caption {hashlib.sha1(''.join(images).encode()).hexdigest()[:8]}: a person works at a table."
    caption = content.split("Video caption: ")[1].split("\n")[0] if "Video caption: " in content else "none"
    question = content.split("Question: ")[1].split("\n")[0]
    return f"After [{caption}] the person adds ham first. {question}"


def shard_rows(out) -> dict[str, dict]:
    return {r["id"]: r for shard in sorted((out / "data").glob("train-*.parquet")) for r in pq.read_table(shard).to_pylist()}


def config(server, **kwargs) -> PrepareConfig:
    kwargs.setdefault("caption_frames", 3)
    return PrepareConfig(perturber="openai", base_url=server.base_url, max_concurrency=1, initial_backoff=0.001, **kwargs)


# ----------------------------------------------------------------------------------------------
# openai: captioner
# ----------------------------------------------------------------------------------------------


def test_captions_once_per_distinct_video_reach_the_perturbation_and_are_stored(source, tmp_path):
    jsonl, media = source
    out = tmp_path / "prepared"
    with FakeOpenAIServer(reply=reply) as server:
        report = prepare_dpo_data(jsonl, media, out, config(server), progress=False)
        captions = [b for b in server.requests if is_caption_request(b)]
        perturbations = [b for b in server.requests if not is_caption_request(b)]
    assert report["num_rows_prepared"] == 6 and report["skipped"] == {}
    assert len(captions) == 3  # one per distinct video, not one per row (6)
    assert len(perturbations) == 6
    first = captions[0]["messages"][0]["content"]
    assert sum(part["type"] == "image_url" for part in first) == 3 and first[-1]["text"] == CAPTION_PROMPT
    assert all(b["model"] == "gpt-4o" for b in server.requests)  # the paper's GPT-4o, for both steps by default

    rows = shard_rows(out)
    by_video: dict[str, set[str]] = {}
    for row_id, row in rows.items():
        assert row["caption"].startswith("Caption ")
        assert f"[{row['caption']}]" in row["rejected_prompt"]  # the caption reached this row's perturbation request
        by_video.setdefault(VIDEO_OF[row_id], set()).add(row["caption"])
    assert all(len(c) == 1 for c in by_video.values()) and len(set.union(*by_video.values())) == 3  # one caption per video

    lines = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
    assert sorted((line["video"], sorted(line["rows"])) for line in lines) == [
        ("a.mp4", ["a_0", "a_1"]), ("b.mp4", ["b_0"]), ("v_f", ["v_f_0", "v_f_1", "v_f_2"])]
    assert all(line["source"] == "captioner" and line["caption"] == rows[line["rows"][0]]["caption"] for line in lines)

    identity = report["captions"]["captioner"]
    assert identity["name"] == "openai:gpt-4o" and identity["base_url"] == server.base_url
    assert identity["num_frames"] == 3 and identity["prompt"] == CAPTION_PROMPT and identity["max_new_tokens"] == 512
    assert report["perturber"] == "openai:gpt-4o" and report["captions"]["rows_with_captioner_caption"] == 6
    saved = json.loads((out / "prepare_report.json").read_text())
    assert saved["captions"]["captioner"] == identity
    card = (out / "README.md").read_text()
    assert "captioned by `openai:gpt-4o`" in card and "the paper's way" in card

    # A rerun asks nothing: every q' and every caption is cached.
    with FakeOpenAIServer(reply=reply) as server:
        again = prepare_dpo_data(jsonl, media, out, config(server), progress=False)
        assert server.count == 0
    assert again["num_rows_prepared"] == 6 and shard_rows(out) == rows
    # Without the q' cache, the q' are asked again, the captions still not.
    (out / ".prepare" / "rejected_prompts.jsonl").unlink()
    with FakeOpenAIServer(reply=reply) as server:
        prepare_dpo_data(jsonl, media, out, config(server), progress=False)
        assert server.count == 6 and not any(is_caption_request(b) for b in server.requests)
    assert shard_rows(out) == rows


def test_damaged_or_foreign_cache_lines_are_not_used(source, tmp_path):
    jsonl, media = source
    out = tmp_path / "prepared"
    with FakeOpenAIServer(reply=reply) as server:
        prepare_dpo_data(jsonl, media, out, config(server), progress=False)
    cache = out / ".prepare" / "captions.jsonl"
    lines = cache.read_text().splitlines()
    kept = json.loads(lines[0])
    other = dict(json.loads(lines[1]), captioner=dict(kept["captioner"], name="openai:other-model"))
    cache.write_text("\n".join([lines[0], "{not json", json.dumps(["a list"]), json.dumps(other)]) + "\n" + '{"video": "v_f", "capt')
    (out / ".prepare" / "rejected_prompts.jsonl").unlink()
    with FakeOpenAIServer(reply=reply) as server:
        report = prepare_dpo_data(jsonl, media, out, config(server), progress=False)
        asked = sum(is_caption_request(b) for b in server.requests)
    assert report["num_rows_prepared"] == 6
    assert asked == 2  # the damaged and the other model's lines are asked again; the good line is reused
    assert not cache.read_text().endswith("capt")  # the torn line was cut before appending


def test_a_user_captions_file_spares_the_videos_it_covers(source, tmp_path):
    jsonl, media = source
    captions = tmp_path / "captions.jsonl"
    captions.write_text(json.dumps({"id": "a_0", "caption": "USER: bread is cut."}) + "\n" + json.dumps({"id": "a_1", "caption": "USER: bread is cut."}) + "\n"
                        + json.dumps({"id": "v_f_0", "caption": "USER: lights."}) + "\n")
    out = tmp_path / "prepared"
    with FakeOpenAIServer(reply=reply) as server:
        code = panodpo_main(["prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(out), "--perturber", "openai",
                             "--base-url", server.base_url, "--max-concurrency", "1", "--captions", str(captions), "--caption-frames", "2"])
        asked = [b for b in server.requests if is_caption_request(b)]
    assert code == 0
    assert len(asked) == 2  # b.mp4 and v_f (only one of its 3 rows has a user caption); a.mp4 is covered
    rows = shard_rows(out)
    assert rows["a_0"]["caption"] == rows["a_1"]["caption"] == "USER: bread is cut." and "[USER: bread is cut.]" in rows["a_0"]["rejected_prompt"]
    assert rows["v_f_0"]["caption"] == "USER: lights." and rows["v_f_1"]["caption"].startswith("Caption ")
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["captions"]["rows_with_user_caption"] == 3 and report["captions"]["rows_with_captioner_caption"] == 3
    sources = sorted(json.loads(line)["source"] for line in (out / "captions.jsonl").read_text().splitlines())
    assert sources == ["captioner", "captioner", "user", "user"]  # v_f: its user caption (1 row) and the captioner's (2 rows)


def test_killed_while_captioning_then_rerun_asks_only_the_missing_videos(source, tmp_path):
    jsonl, media = source
    with FakeOpenAIServer(reply=reply) as server:
        reference = tmp_path / "reference"
        argv = ["panodpo", "prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--perturber", "openai", "--base-url", server.base_url,
                "--max-concurrency", "1", "--caption-frames", "2"]
        assert run_command(argv + ["--out", str(reference)]).returncode == 0
        out = tmp_path / "prepared"
        killed = run_command(argv + ["--out", str(out)], "panodpo.data.captions:CaptionCache.add:after:2", hook_dir(tmp_path))
        assert killed.returncode == -9, killed.stderr[-3000:]
        assert len((out / ".prepare" / "captions.jsonl").read_text().splitlines()) == 2 and not (out / ".prepare" / "rejected_prompts.jsonl").exists()
        before = server.count
        rerun = run_command(argv + ["--out", str(out)])
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        asked = [b for b in server.requests[before:] if is_caption_request(b)]
    assert len(asked) == 1  # 3 videos, 2 captioned before the kill
    assert shard_rows(out) == shard_rows(reference)
    assert (out / "captions.jsonl").read_text() == (reference / "captions.jsonl").read_text()


def test_a_refused_key_stops_captioning_with_one_error_line(source, tmp_path, monkeypatch, capsys):
    jsonl, media = source
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "prepared"
    with FakeOpenAIServer(reply=reply, fail=lambda n: 401, fail_body=key_refused_body) as server:
        code = panodpo_main(["prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(out), "--perturber", "openai",
                             "--base-url", server.base_url, "--max-concurrency", "1"])
        assert server.count == 1  # no retry, no other video, no perturbation request
    captured = capsys.readouterr()
    lines = [line for line in captured.err.replace("\r", "\n").splitlines() if line.strip() and "it/s]" not in line]  # progress bars aside
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: the server refused the API key"), captured.err
    assert KEY not in captured.err + captured.out
    assert all(KEY.encode() not in p.read_bytes() for p in out.rglob("*") if p.is_file())


def test_a_dead_captioner_server_gives_one_error_line(source, tmp_path, capsys):
    import socket

    jsonl, media = source
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    with FakeOpenAIServer(reply=reply) as server:
        code = panodpo_main(["prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(tmp_path / "o"), "--perturber", "openai",
                             "--base-url", server.base_url, "--captioner", f"openai:gpt-4o@{dead}"])
        assert server.count == 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(errors) == 1 and errors[0].startswith("error: cannot reach") and dead in errors[0]


def test_a_video_without_a_caption_skips_its_rows(source, tmp_path):
    jsonl, media = source
    out = tmp_path / "prepared"
    with FakeOpenAIServer(reply=reply, fail=lambda n: 400 if n == 0 else None) as server:  # the first video's request: refused
        report = prepare_dpo_data(jsonl, media, out, config(server), progress=False)
    assert report["skipped"] == {"caption_failed": 3} and report["num_rows_prepared"] == 3  # v_f's 3 rows, never a q' without caption
    assert {r["id"] for r in report["skipped_rows"]} == {"v_f_0", "v_f_1", "v_f_2"}
    assert all("BadRequestError" in r["message"] for r in report["skipped_rows"])
    with FakeOpenAIServer(reply=reply) as server:  # the rerun asks again for that video only
        report = prepare_dpo_data(jsonl, media, out, config(server), progress=False)
        assert sum(is_caption_request(b) for b in server.requests) == 1 and server.count == 4
    assert report["num_rows_prepared"] == 6


def test_captioner_none_and_flag_checks(source, tmp_path, capsys):
    jsonl, media = source
    with FakeOpenAIServer(reply=reply) as server:
        report = prepare_dpo_data(jsonl, media, tmp_path / "o", config(server, captioner="none"), progress=False)
        assert not any(is_caption_request(b) for b in server.requests)
    assert report["captions"]["captioner"] is None and "no captioner" in report["captions"]["note"]
    assert shard_rows(tmp_path / "o")["a_0"]["caption"] is None and not (tmp_path / "o" / "captions.jsonl").exists()
    base = ["prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(tmp_path / "p")]
    assert panodpo_main(base + ["--captioner", "openai:gpt-4o"]) == 2
    assert "template perturber reads no caption" in capsys.readouterr().err
    with FakeOpenAIServer(reply=reply) as server:
        assert panodpo_main(base + ["--perturber", "openai", "--base-url", server.base_url, "--captioner", "gpt4"]) == 2
        assert "not a captioner spec" in capsys.readouterr().err
        assert panodpo_main(base + ["--perturber", "openai", "--base-url", server.base_url, "--caption-frames", "0"]) == 2
        assert "--caption-frames" in capsys.readouterr().err
        assert server.count == 0
    assert not (tmp_path / "p").exists()  # nothing of the user's touched
    assert parse_captioner("none") == ("none", "")
    with pytest.raises(ValueError):
        parse_captioner("openai:@http://x")


# ----------------------------------------------------------------------------------------------
# hf: captioner (a tiny Qwen2-VL saved to disk)
# ----------------------------------------------------------------------------------------------


def test_hf_captioner_captions_each_distinct_video_once(source, tmp_path, monkeypatch):
    from temrobbench.evaluation.models.hf import HFVideoLM
    from tests.support.tiny_families import save_tiny

    jsonl, media = source
    model_dir = save_tiny("qwen2_vl", tmp_path / "tiny_qwen2_vl")
    calls = {"generate": 0, "load": 0}
    real_generate, real_load = HFVideoLM.generate, HFVideoLM.from_pretrained.__func__

    def generate(self, requests):
        calls["generate"] += len(requests)
        return real_generate(self, requests)

    def load(cls, *args, **kwargs):
        calls["load"] += 1
        return real_load(cls, *args, **kwargs)

    monkeypatch.setattr(HFVideoLM, "generate", generate)
    monkeypatch.setattr(HFVideoLM, "from_pretrained", classmethod(load))
    out = tmp_path / "prepared"
    spec = f"hf:{model_dir}"
    with FakeOpenAIServer(reply=reply) as server:
        report = prepare_dpo_data(jsonl, media, out, config(server, captioner=spec, caption_max_tokens=6, caption_frames=2), progress=False)
        assert server.count == 6 and not any(is_caption_request(b) for b in server.requests)  # captions from the local model
    assert calls == {"generate": 3, "load": 1}
    rows = shard_rows(out)
    assert report["num_rows_prepared"] + report["skipped"].get("caption_failed", 0) == 6
    for row_id, row in rows.items():
        assert row["caption"] and f"[{row['caption']}]" in row["rejected_prompt"]
    identity = report["captions"]["captioner"]
    assert identity["name"] == spec and len(identity["fingerprint"]) == 64 and identity["num_frames"] == 2 and identity["max_new_tokens"] == 6
    # A rerun loads no model and generates nothing.
    with FakeOpenAIServer(reply=reply) as server:
        prepare_dpo_data(jsonl, media, out, config(server, captioner=spec, caption_max_tokens=6, caption_frames=2), progress=False)
        assert server.count == 0
    assert calls == {"generate": 3, "load": 1}


# ----------------------------------------------------------------------------------------------
# template perturber
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rejected, premise", [
    ("A cup of coffee is poured first.", "a cup of coffee is poured first"),
    ("It is blue and parked.", "it is blue and parked"),
    ("I think the man cuts ham.", "I think the man cuts ham"),
    ("GPT writes the steps.", "GPT writes the steps"),
    ("COIN shows a welder.", "COIN shows a welder"),
    ("the dog runs! Then it sits.", "the dog runs"),
])
def test_template_capitalisation(rejected, premise):
    row = DpoRow("r", "v.mp4", "<video>\nWhat happens first?", "x", rejected)
    assert TemplateMisleadingQuestions().misleading_question(row) == f"In the video, {premise}. What happens first?"


def test_lower_first_word_keeps_acronyms_and_i():
    assert lower_first_word("I'm sure") == "I'm sure" and lower_first_word("McDonald sells") == "McDonald sells"
    assert lower_first_word("") == "" and lower_first_word("5 eggs") == "5 eggs"


def test_template_prepare_says_no_captioner_and_skips_a_premise_less_row(source, tmp_path):
    jsonl, media = source
    with open(jsonl, "a") as f:
        f.write(json.dumps({"id": "dots", "video": "b.mp4", **dict(ROW, rejected="...")}) + "\n")
    out = tmp_path / "prepared"
    report = prepare_dpo_data(jsonl, media, out, progress=False)
    assert report["num_rows_prepared"] == 6 and report["skipped"] == {"perturbation_failed": 1}
    assert report["captions"]["captioner"] is None and "no captioner" in report["captions"]["note"]
    assert report["captions"]["note"].count("not the paper's method") == 1
    card = (out / "README.md").read_text()
    assert "template perturber, not by the paper's method" in card and "No captioner was used" in card
    assert shard_rows(out)["a_0"]["rejected_prompt"] == "In the video, ham is added first. What happens first?"
