"""End-to-end build on a synthetic COIN source: layout, rows, videos, determinism, resume, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from tests.support.dataset_loading import load_fresh as load_dataset

import temrobbench.build.pipeline as build_module
from temrobbench.build.pipeline import BuildConfig, build_benchmark
from temrobbench.hub.builder import TemRobBench
from temrobbench.cli import main as cli_main
from temrobbench.cli.commands.push import push_folder
from temrobbench.source.synth import SynthConfig, synthesize_coin
from temrobbench.build.video_io import read_frames

NUM_VIDEOS = 8


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("source")
    coin = synthesize_coin(root, SynthConfig(num_videos=NUM_VIDEOS, seed=3), progress=False)
    return coin, root / "videos"


@pytest.fixture(scope="module")
def built(source, tmp_path_factory):
    coin, videos = source
    out = tmp_path_factory.mktemp("bench")
    return build_benchmark(coin, videos, out, BuildConfig(num_videos=6, seed=0), progress=False)


def _table(out: Path, config: str, split: str):
    files = sorted((out / "data" / config).glob(f"{split}-*.parquet"))
    return pq.read_table(files).sort_by("id")


def _assert_same_rows(a: Path, b: Path) -> None:
    """Byte-identical rows, embedded video bytes included."""
    for config in ("intrinsic", "extrinsic"):
        for split in ("clean", "adversarial"):
            assert _table(a, config, split).equals(_table(b, config, split)), (config, split)


@pytest.mark.parametrize("config", ["intrinsic", "extrinsic"])
def test_load_dataset_rows(built, config):
    out = str(built.out_dir)
    clean = load_dataset(out, config, split="clean")
    adversarial = load_dataset(out, config, split="adversarial")
    assert sorted(clean["id"]) == sorted(adversarial["id"]) and len(set(clean["id"])) == clean.num_rows
    for row in adversarial:
        assert row["setting"] == "adversarial" and row["perturbation"] == config
        assert row["option_roles"].count("correct") == 1 and row["option_roles"].count("shortcut") == 1
        assert row["answer"] == "ABCD"[row["option_roles"].index("correct")]
        assert row["shortcut"] == "ABCD"[row["option_roles"].index("shortcut")]
        assert (row["descriptions"] == []) == (config == "intrinsic")
        assert len(row["segments"]) == len(row["events"]) == len(row["order"])
        decoder = row["video"]
        assert decoder.metadata.num_frames == pytest.approx(row["duration"] * row["fps"], abs=1)
    for row in clean:
        assert row["shortcut"] is None and row["option_roles"].count("correct") == 1
        assert row["order"] == list(range(len(row["events"])))


def test_adversarial_video_is_the_clean_clips_reordered(built):
    out = built.out_dir
    rows = load_dataset(str(out), "intrinsic", split="adversarial").cast_column("video", __import__("datasets").Video(decode=False))
    for row in rows:
        clean = read_frames(out / f"videos/{row['video_id']}/clean.mp4")
        edited = read_frames(out / row["video"]["path"])
        counts = [max(1, round((end - start) * row["fps"])) for start, end in row["segments"]]
        bounds = np.cumsum([0] + counts)
        clips = [clean[bounds[i] : bounds[i + 1]] for i in range(len(counts))]
        expected = [frame for i in row["order"] for frame in clips[i]]
        assert len(edited) == len(expected) == len(clean)
        # Remuxed from the same packets: bit-identical frames, only their order differs.
        assert all(np.array_equal(a, b) for a, b in zip(edited, expected))
        assert row["order"] != list(range(len(counts)))


def test_builder_class_matches_load_dataset(built, tmp_path):
    builder = TemRobBench(config_name="extrinsic", data_dir=str(built.out_dir), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    ds = builder.as_dataset(split="adversarial")
    reference = load_dataset(str(built.out_dir), "extrinsic", split="adversarial")
    assert sorted(ds["id"]) == sorted(reference["id"])
    assert ds.features == reference.features


def test_same_seed_gives_identical_rows(source, built, tmp_path):
    coin, videos = source
    again = build_benchmark(coin, videos, tmp_path / "again", BuildConfig(num_videos=6, seed=0, workers=2), progress=False)
    other = build_benchmark(coin, videos, tmp_path / "other", BuildConfig(num_videos=6, seed=1), progress=False)
    _assert_same_rows(built.out_dir, again.out_dir)
    assert not _table(built.out_dir, "intrinsic", "adversarial").equals(_table(other.out_dir, "intrinsic", "adversarial"))


def test_interrupted_build_resumes_without_redoing_finished_videos(source, built, tmp_path, monkeypatch):
    coin, videos = source
    out = tmp_path / "bench"
    real = build_module.process_video
    done = []

    def crash_after_three(job):
        if len(done) == 3:
            raise KeyboardInterrupt  # the build is killed while working on the fourth video
        done.append(job.video.video_id)
        return real(job)

    monkeypatch.setattr(build_module, "process_video", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        build_benchmark(coin, videos, out, BuildConfig(num_videos=6), progress=False)
    markers = sorted((out / ".build" / "videos").glob("*.json"))
    assert [m.stem for m in markers] == sorted(done)
    assert not (out / "data").exists()
    # A half-written file from the crash and a truncated marker must not count as done.
    (out / ".build" / "videos" / ".partial-x.json").write_text("{")
    truncated = markers[0]
    truncated.write_text(truncated.read_text()[:50])
    stamps = {m.name: m.stat().st_mtime_ns for m in markers[1:]}

    redone = []
    monkeypatch.setattr(build_module, "process_video", lambda job: redone.append(job.video.video_id) or real(job))
    build_benchmark(coin, videos, out, BuildConfig(num_videos=6), progress=False)
    assert sorted(redone) == sorted([truncated.stem] + [v for v in _selected(built) if v not in done])
    assert {m.name: m.stat().st_mtime_ns for m in markers[1:]} == stamps
    _assert_same_rows(out, built.out_dir)

    redone.clear()
    build_benchmark(coin, videos, out, BuildConfig(num_videos=6), progress=False)
    assert redone == []  # a finished build reruns without redoing anything


def _selected(built) -> list[str]:
    return sorted(p.name for p in (built.out_dir / "videos").iterdir())


def test_killed_subprocess_build_resumes(tmp_path):
    src = tmp_path / "src"
    coin = synthesize_coin(src, SynthConfig(num_videos=6, seed=5, width=320, height=240, fps=25), progress=False)
    out = tmp_path / "bench"
    command = [sys.executable, "-m", "temrobbench.cli", "build", "--coin", str(coin), "--videos", str(src / "videos"), "--out", str(out), "--num-videos", "6"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker_dir = out / ".build" / "videos"
    deadline = time.time() + 60
    while time.time() < deadline and not list(marker_dir.glob("*.json")):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before = len(list(marker_dir.glob("*.json")))
    assert 1 <= finished_before < 6 or (out / "build_report.json").exists()
    assert subprocess.run(command, capture_output=True).returncode == 0
    reference = build_benchmark(coin, src / "videos", tmp_path / "ref", BuildConfig(num_videos=6), progress=False)
    _assert_same_rows(out, reference.out_dir)


def test_bad_videos_are_counted_not_fatal(tmp_path):
    src = tmp_path / "src"
    coin_path = synthesize_coin(src, SynthConfig(num_videos=6, seed=1), progress=False)
    database = json.loads(coin_path.read_text())["database"]
    ids = sorted(database)
    videos = src / "videos"
    entry = lambda i: database[ids[i]]  # noqa: E731
    (videos / entry(0)["recipe_type"] / f"{ids[0]}.mp4").unlink()  # missing file
    (videos / entry(1)["recipe_type"] / f"{ids[1]}.mp4").write_bytes(os.urandom(4000))  # corrupt file
    # Annotations that run past the real end of the file (the file is shorter than stated).
    entry(2)["annotation"][-1]["segment"][1] += 30
    entry(2)["duration"] += 40
    database["a/b"] = entry(3)  # path separator in the id
    database["-leading-dash"] = entry(3)  # a legal YouTube id: built like any other
    shutil.copy(videos / entry(3)["recipe_type"] / f"{ids[3]}.mp4", videos / "-leading-dash.mp4")
    coin_path.write_text(json.dumps({"database": database}))

    result = build_benchmark(coin_path, videos, tmp_path / "out", BuildConfig(num_videos=10), progress=False)
    report = result.report
    assert report["skipped_videos"] == {"bad_video_id": 1, "missing_video": 1, "undecodable_video": 2}
    examples = " ".join(sum(report["skip_examples"].values(), []))
    for video_id in (ids[0], ids[1], ids[2], "a/b"):
        assert video_id in examples
    assert "ends at" in examples
    assert report["num_videos_built"] == 4
    assert "-leading-dash" in load_dataset(str(result.out_dir), "intrinsic", split="clean")["video_id"]


def test_cli_reports_malformed_coin_json(tmp_path, capsys):
    bad = tmp_path / "COIN.json"
    bad.write_text(json.dumps({"data": {}}))
    code = cli_main(["build", "--coin", str(bad), "--videos", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "COIN.json" in capsys.readouterr().err


def test_push_dry_run_plan_and_card(built, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    plan = push_folder(built.out_dir, "my-org/temrobbench", dry_run=True)
    assert "README.md" in plan and "build_report.json" in plan
    assert any(p.startswith("data/intrinsic/adversarial-") for p in plan)
    assert not any(p.startswith(".build/") for p in plan)
    card = (built.out_dir / "README.md").read_text()
    assert 'load_dataset("my-org/temrobbench", "intrinsic", split="adversarial")' in card
    assert "hf_secret_token_value" not in card


def test_push_calls_the_hub_with_the_plan(built, monkeypatch):
    import fnmatch

    import huggingface_hub

    calls = {}

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls["create_repo"] = (repo_id, kwargs)

        def upload_folder(self, **kwargs):
            calls["upload_folder"] = kwargs

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    plan = push_folder(built.out_dir, "my-org/bench", private=True)
    assert calls["create_repo"] == ("my-org/bench", {"repo_type": "dataset", "private": True, "exist_ok": True})
    upload = calls["upload_folder"]
    assert upload["repo_id"] == "my-org/bench" and upload["repo_type"] == "dataset"
    assert Path(upload["folder_path"]) == built.out_dir
    # What upload_folder would send (all files minus ignore patterns) is exactly the plan.
    every_file = [p.relative_to(built.out_dir).as_posix() for p in built.out_dir.rglob("*") if p.is_file()]
    sent = [f for f in every_file if not any(fnmatch.fnmatch(f, pat) for pat in upload["ignore_patterns"])]
    assert sorted(sent) == sorted(plan)
