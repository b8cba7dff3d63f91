"""kill -9 at chosen points of `temrobbench build` and `temrobbench eval`, then the same command
again: the rerun's outputs equal an uninterrupted run's, and the killed run's lock does not block it.

The kill points are real functions of the program, wrapped by a test-only ``sitecustomize``
(see fault_injection.py), so every point is hit deterministically, however fast the machine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.support.fault_injection import hook_dir, run_command

from temrobbench.utils.files import LOCK_NAME
from temrobbench.source.synth import SynthConfig, synthesize_coin

NUM_VIDEOS = 4


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill_source")
    coin = synthesize_coin(root, SynthConfig(num_videos=NUM_VIDEOS, seed=11), progress=False)
    return coin, root / "videos"


def build_argv(source, out: Path) -> list[str]:
    coin, videos = source
    return ["temrobbench", "build", "--coin", str(coin), "--videos", str(videos), "--out", str(out), "--num-videos", str(NUM_VIDEOS)]


@pytest.fixture(scope="module")
def reference(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("kill_reference") / "bench"
    result = run_command(build_argv(source, out))
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def _published(out: Path) -> dict[str, object]:
    """Everything a user of the build sees, in comparable form: shard names and their rows read
    with pyarrow (embedded video bytes included), the report, the card and the video files."""
    state: dict[str, object] = {}
    for shard in sorted((out / "data").rglob("*.parquet")):
        state[shard.relative_to(out).as_posix()] = pq.read_table(shard).to_pylist()
    state["build_report.json"] = json.loads((out / "build_report.json").read_text())
    state["README.md"] = (out / "README.md").read_text()
    state["videos"] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "videos").rglob("*")) if p.is_file()}
    return state


def _leftovers(out: Path) -> list[str]:
    return [p.relative_to(out).as_posix() for p in out.rglob(".partial-*")]


BUILD_POINTS = {
    # after the first video's marker is written: one video done, the others not begun
    "after-first-video": ("temrobbench.build.pipeline:process_video:after:1", lambda out: len(list((out / ".build" / "videos").glob("*.json"))) == 1),
    # inside a video: its second clip file written, its marker not
    "mid-video": ("temrobbench.build.pipeline:concat_clips:after:2", lambda out: not list((out / ".build" / "videos").glob("*.json"))),
    # during shard writing: a Parquet file half written under its temporary name
    "mid-shard": ("pyarrow.parquet:ParquetWriter.write_table:after:3", lambda out: any(p.parent.parent.name == "data" for p in out.rglob(".partial-*"))),
    # the report written, the card not yet
    "before-card": ("temrobbench.build.pipeline:write_card:before:1", lambda out: (out / "build_report.json").is_file() and not (out / "README.md").exists()),
}


SLOW_POINTS = {"after-first-video", "mid-video"}  # test_build.py kills after a first video too


@pytest.mark.parametrize("point", [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_POINTS else p for p in BUILD_POINTS])
def test_build_killed_then_rerun_equals_an_uninterrupted_build(point, source, reference, tmp_path):
    kill_at, state_at_kill = BUILD_POINTS[point]
    out = tmp_path / "bench"
    argv = build_argv(source, out)
    killed = run_command(argv, kill_at, hook_dir(tmp_path))
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    assert state_at_kill(out), f"the kill did not happen at {point}"
    assert (out / LOCK_NAME).is_file()  # the dead run's lock file stays; its flock died with it

    rerun = run_command(argv)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _leftovers(out) == []
    assert _published(out) == _published(reference)
    # And a finished build reruns to the same outputs.
    assert run_command(argv).returncode == 0 and _published(out) == _published(reference)


# ----------------------------------------------------------------------------------------------
# eval --model random
# ----------------------------------------------------------------------------------------------


def eval_argv(bench: Path, out: Path) -> list[str]:
    return ["temrobbench", "eval", "--data", str(bench), "--model", "random", "--out", str(out), "--frames", "2"]


def _records(out: Path) -> list[str]:
    lines = (out / "records.jsonl").read_text().splitlines()
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in lines)


def _metrics(out: Path) -> object:
    return json.loads((out / "metrics.json").read_text())["metrics"]


@pytest.fixture(scope="module")
def eval_reference(reference, tmp_path_factory):
    out = tmp_path_factory.mktemp("kill_eval_reference") / "eval"
    result = run_command(eval_argv(reference, out))
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.mark.slow  # about 15 s a run (imports, the HTML report), three runs a case
@pytest.mark.parametrize("nth", [1, 30])
def test_eval_killed_then_rerun_equals_an_uninterrupted_eval(nth, reference, eval_reference, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(reference, bench)  # its own copy: eval may write beside the benchmark
    out = tmp_path / "eval"
    argv = eval_argv(bench, out)
    total = len(_records(eval_reference))
    assert total > nth
    killed = run_command(argv, f"temrobbench.utils.files:JsonlAppender.write:after:{nth}", hook_dir(tmp_path))
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    assert 0 < len((out / "records.jsonl").read_text().splitlines()) < total
    assert not (out / "metrics.json").exists()

    rerun = run_command(argv)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _records(out) == _records(eval_reference)
    assert _metrics(out) == _metrics(eval_reference)
