"""The failure contract (docs/cli.md, "The contract"), driven through the console scripts in subprocesses.

Each bad invocation must exit with its status, print one stderr line ``error: ...`` naming the
input, show no traceback, and leave every file outside its intended output as it was. Network
cases use a closed port on 127.0.0.1 and ``HF_HUB_OFFLINE=1``, never the internet; missing extras
are simulated by a ``sitecustomize`` that makes the named packages unimportable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
BLOCKER = '''
import os, sys
from importlib.abc import MetaPathFinder

class _Block(MetaPathFinder):
    names = set(filter(None, os.environ.get("TEST_BLOCK_MODULES", "").split(",")))
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Block())
'''


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLOSED = _closed_port()
CLOSED_URL = f"http://127.0.0.1:{CLOSED}"


@dataclass
class Case:
    id: str
    argv: list[str]  # "{ws}" is the workspace folder, "{bench}" the built benchmark
    exit: int
    names: str  # what the error line must name (the input); "{ws}" substituted
    env: dict[str, str] = field(default_factory=dict)
    changes: tuple[str, ...] = ()  # workspace paths this case may write (its intended output)
    block: tuple[str, ...] = ()  # packages made unimportable


T, P = "temrobbench", "panodpo"
BUILD = [T, "build", "--coin", "{ws}/src/COIN.json", "--videos", "{ws}/src/videos", "--out", "{ws}/out"]
EVAL = [T, "eval", "--data", "{bench}", "--model", "random", "--out", "{ws}/out", "--frames", "2", "--limit", "1"]
PREP = [P, "prepare", "--dpo-jsonl", "{ws}/dpo.jsonl", "--media", "{ws}/src/videos", "--out", "{ws}/out"]
TRAIN = [P, "train", "--model", "{ws}/model", "--data", "{ws}/prepared", "--output_dir", "{ws}/out", "--max_steps", "1"]
OFFLINE = {"HF_HUB_OFFLINE": "1"}


def with_flag(base: list[str], flag: str, value: str | None = None) -> list[str]:
    """``base`` with ``flag`` set to ``value`` (replaced when present, appended otherwise)."""
    argv = list(base)
    if flag in argv:
        i = argv.index(flag)
        argv[i + 1 : i + 2] = [value] if value is not None else []
    else:
        argv += [flag] + ([value] if value is not None else [])
    return argv


CASES = [
    # -- paths of the wrong kind, refused before any work ------------------------------------
    Case("build-coin-missing", with_flag(BUILD, "--coin", "{ws}/nope.json"), 2, "--coin {ws}/nope.json"),
    Case("build-coin-is-folder", with_flag(BUILD, "--coin", "{ws}/empty"), 2, "--coin {ws}/empty"),
    Case("build-coin-not-json", with_flag(BUILD, "--coin", "{ws}/notes/notes.txt"), 2, "--coin {ws}/notes/notes.txt"),
    Case("build-videos-missing", with_flag(BUILD, "--videos", "{ws}/nope"), 2, "--videos {ws}/nope"),
    Case("build-videos-nothing-usable", with_flag(BUILD, "--videos", "{ws}/notes"), 2, "--videos {ws}/notes"),
    Case("build-out-is-file", with_flag(BUILD, "--out", "{ws}/notes/notes.txt"), 2, "--out {ws}/notes/notes.txt"),
    Case("eval-data-no-such-folder", with_flag(EVAL, "--data", "./nope/bench"), 2, "--data ./nope/bench"),
    Case("eval-data-not-a-benchmark", with_flag(EVAL, "--data", "{ws}/empty"), 2, "--data {ws}/empty"),
    Case("eval-hf-model-no-such-folder", with_flag(EVAL, "--model", "hf:./nope-model"), 2, "hf:./nope-model"),
    Case("eval-hf-model-not-a-model", with_flag(EVAL, "--model", "hf:{ws}/empty"), 2, "hf:{ws}/empty"),
    Case("report-no-such-folder", [T, "report", "{ws}/nope"], 2, "{ws}/nope"),
    Case("report-no-records", [T, "report", "{ws}/empty"], 2, "{ws}/empty"),
    Case("push-not-built", [T, "push", "{ws}/notes", "--repo-id", "org/name"], 2, "{ws}/notes"),
    Case("prepare-jsonl-missing", with_flag(PREP, "--dpo-jsonl", "{ws}/nope.jsonl"), 2, "--dpo-jsonl {ws}/nope.jsonl"),
    Case("prepare-media-nothing-usable", with_flag(PREP, "--media", "{ws}/notes"), 2, "--media {ws}/notes"),
    Case("prepare-captions-missing", with_flag(PREP, "--captions", "{ws}/nope.jsonl"), 2, "--captions {ws}/nope.jsonl"),
    Case("train-data-not-prepared", with_flag(TRAIN, "--data", "{ws}/notes"), 2, "--data {ws}/notes"),
    Case("train-data-is-a-benchmark", with_flag(TRAIN, "--data", "{bench}"), 2, "--data {bench}"),
    Case("train-model-no-such-folder", with_flag(TRAIN, "--model", "./nope-model"), 2, "--model ./nope-model"),
    # -- numbers and flag values --------------------------------------------------------------
    Case("build-num-videos-0", with_flag(BUILD, "--num-videos", "0"), 2, "--num-videos"),
    Case("build-crf-out-of-range", with_flag(BUILD, "--crf", "99"), 2, "--crf"),
    Case("eval-frames-0", with_flag(EVAL, "--frames", "0"), 2, "--frames"),
    Case("eval-batch-size-0", with_flag(EVAL, "--batch-size", "0"), 2, "--batch-size"),
    Case("eval-frames-not-a-number", with_flag(EVAL, "--frames", "many"), 2, "--frames"),
    Case("eval-unknown-model-spec", with_flag(EVAL, "--model", "gpt5"), 2, "gpt5"),
    Case("synth-num-videos-0", [T, "synth", "--out", "{ws}/out", "--num-videos", "0"], 2, "--num-videos"),
    Case("prepare-num-frames-0", with_flag(PREP, "--num-frames", "0"), 2, "--num-frames"),
    Case("prepare-bad-perturber", with_flag(PREP, "--perturber", "gpt"), 2, "--perturber"),
    Case("push-bad-repo-id", [T, "push", "{bench}", "--repo-id", "not an id"], 2, "--repo-id not an id"),
    Case("temrobbench-unknown-command", [T, "frobnicate"], 2, "frobnicate"),
    Case("panodpo-unknown-command", [P, "frobnicate"], 2, "frobnicate"),
    Case("panodpo-no-command", [P], 2, "panodpo"),
    # -- never write into someone else's non-empty folder ---------------------------------------
    Case("build-out-not-ours", with_flag(BUILD, "--out", "{ws}/notes"), 2, "--out {ws}/notes"),
    Case("synth-out-not-ours", [T, "synth", "--out", "{ws}/notes", "--num-videos", "2"], 2, "--out {ws}/notes"),
    Case("eval-out-not-ours", with_flag(EVAL, "--out", "{ws}/notes"), 2, "--out {ws}/notes"),
    Case("prepare-out-not-ours", with_flag(PREP, "--out", "{ws}/notes"), 2, "--out {ws}/notes"),
    Case("train-out-not-ours", with_flag(TRAIN, "--output_dir", "{ws}/notes"), 2, "--output_dir {ws}/notes"),
    Case("quickstart-out-not-ours", [T, "quickstart", "--out", "{ws}/notes"], 2, "--out {ws}/notes"),
    # -- keys, tokens, the Hub and servers, offline ------------------------------------------
    Case("eval-openai-no-key", with_flag(EVAL, "--model", "openai:gpt-4o"), 2, "openai:gpt-4o"),
    Case("prepare-openai-no-key", with_flag(PREP, "--perturber", "openai"), 2, "--perturber openai"),
    Case("push-no-token", [T, "push", "{bench}", "--repo-id", "org/name"], 2, "--repo-id org/name"),
    Case("push-offline", [T, "push", "{bench}", "--repo-id", "org/name"], 1, "--repo-id org/name", env={"HF_TOKEN": "hf_fake", **OFFLINE}),
    Case("push-hub-unreachable", [T, "push", "{bench}", "--repo-id", "org/name"], 1, "--repo-id org/name", env={"HF_TOKEN": "hf_fake"}),
    Case("eval-data-hub-offline", with_flag(EVAL, "--data", "org/bench"), 1, "--data org/bench", env=OFFLINE),
    Case("eval-data-hub-unreachable", with_flag(EVAL, "--data", "org/bench"), 1, "--data org/bench"),
    Case("eval-hf-model-hub-offline", with_flag(EVAL, "--model", "hf:org/model"), 1, "hf:org/model", env=OFFLINE),
    Case("eval-openai-server-down", with_flag(EVAL, "--model", f"openai:m@{CLOSED_URL}/v1"), 1, f"{CLOSED_URL}/v1"),
    Case("prepare-openai-server-down", with_flag(with_flag(PREP, "--perturber", "openai"), "--base-url", f"{CLOSED_URL}/v1"), 1, f"{CLOSED_URL}/v1"),
    Case("train-data-hub-offline", with_flag(TRAIN, "--data", "org/prefs"), 1, "--data org/prefs", env=OFFLINE),
    # -- missing optional packages name their extra ---------------------------------------------
    Case("train-without-trl", TRAIN, 2, "temrobbench[train]", block=("trl",)),
    Case("reproduce-without-trl", [T, "reproduce", "--out", "{ws}/out"], 2, "temrobbench[train]", block=("trl",)),
    Case("panodpo-quickstart-without-peft", [P, "quickstart", "--out", "{ws}/out"], 2, "temrobbench[train]", block=("peft",)),
    Case("eval-openai-without-openai", with_flag(EVAL, "--model", f"openai:m@{CLOSED_URL}/v1"), 2, "temrobbench[openai]", block=("openai",)),
    # -- runs where nothing succeeded: non-zero, the commonest cause named --------------------
    Case("build-zero-videos", with_flag(BUILD, "--min-steps", "40"), 1, "too few steps", changes=("out",)),
    Case("eval-every-query-failed", with_flag(EVAL, "--data", "{ws}/broken_bench"), 1, "cannot decode", changes=("out",)),
    Case("prepare-zero-rows", with_flag(PREP, "--dpo-jsonl", "{ws}/dpo_missing_media.jsonl"), 1, "missing_media", changes=("out",)),
]


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    state = {}
    for root in roots:
        for path in root.rglob("*"):
            key = str(path)
            if "hf-home" in path.parts:
                continue  # the Hugging Face cache of the runs, not a user's file
            state[key] = (path.stat().st_size, path.stat().st_mtime_ns) if path.is_file() else (-1, 0)
    return state


@pytest.fixture(scope="module")
def workspace(tiny_benchmark, tmp_path_factory):
    """Inputs of every case: a COIN source, a benchmark, prepared data, a user's own folder..."""
    from temrobbench.source.synth import SynthConfig, synthesize_coin

    ws = tmp_path_factory.mktemp("contract")
    synthesize_coin(ws / "src", SynthConfig(num_videos=2, seed=3), progress=False)
    (ws / "empty").mkdir()
    (ws / "notes").mkdir()
    (ws / "notes" / "notes.txt").write_text("a user's own file, not to be touched\n")
    (ws / "model").mkdir()
    (ws / "model" / "config.json").write_text("{}")
    videos = sorted((ws / "src" / "videos").rglob("*.mp4"))
    rows = [{"id": f"r{i}", "video": v.relative_to(ws / "src" / "videos").as_posix(), "prompt": "<video>\nWhat happens first?",
             "chosen": "The first step is cutting.", "rejected": "The first step is washing."} for i, v in enumerate(videos)]
    (ws / "dpo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (ws / "dpo_missing_media.jsonl").write_text("".join(json.dumps({**r, "video": f"gone/{r['id']}.mp4"}) + "\n" for r in rows))
    from panodpo.data.prepare import prepare_dpo_data

    prepare_dpo_data(ws / "dpo.jsonl", ws / "src" / "videos", ws / "prepared", progress=False)
    broken = ws / "broken_bench"
    shutil.copytree(tiny_benchmark, broken, ignore=shutil.ignore_patterns(".build"))
    for mp4 in (broken / "videos").rglob("*.mp4"):
        mp4.unlink()
        mp4.write_bytes(b"not a video" * 10)
    (ws / "block").mkdir()
    (ws / "block" / "sitecustomize.py").write_text(BLOCKER)
    (ws / "hf-home").mkdir()
    return ws


def run_cli(argv: list[str], ws: Path, env: dict[str, str] | None = None, block: tuple[str, ...] = (), **kwargs) -> subprocess.CompletedProcess:
    """One console-script run, isolated from the network, the user's tokens and keys."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OPENAI_", "TEMROBBENCH_"))}
    full_env.update(HF_HOME=str(ws / "hf-home"), HF_ENDPOINT=CLOSED_URL, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    if block:
        full_env.update(PYTHONPATH=str(ws / "block"), TEST_BLOCK_MODULES=",".join(block))
    full_env.update(env or {})
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, env=full_env, cwd=ws, timeout=300, **kwargs)


def _fill(text: str, ws: Path, bench: Path) -> str:
    return text.replace("{ws}", str(ws)).replace("{bench}", str(bench))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_invocation_is_one_line_and_touches_nothing(case, workspace, tiny_benchmark):
    ws, bench = workspace, tiny_benchmark
    shutil.rmtree(ws / "out", ignore_errors=True)
    before = _snapshot(ws, bench)
    result = run_cli([_fill(a, ws, bench) for a in case.argv], ws, case.env, case.block)
    after = _snapshot(ws, bench)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == case.exit, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert lines and lines[-1].startswith("error: "), result.stderr[-3000:]
    # Progress bars may precede it; the error itself is one line, and nothing else is said.
    assert [line for line in lines if not _is_progress(line)] == [lines[-1]], result.stderr
    assert _fill(case.names, ws, bench) in lines[-1]
    allowed = tuple(str(ws / c) for c in case.changes)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p) and not p.startswith(allowed)}
    assert not changed, f"files outside the intended output changed: {sorted(changed)[:5]}"
    if not case.changes:
        assert not (ws / "out").exists(), "a failed start left an output folder behind"


def _is_progress(line: str) -> bool:
    """A tqdm progress bar (they write to stderr too)."""
    return re.search(r"\[\d+:\d+|/s\]|\d+%\|", line) is not None


def test_nothing_succeeded_names_the_cause_and_the_report(workspace, tiny_benchmark):
    ws = workspace
    shutil.rmtree(ws / "out", ignore_errors=True)
    result = run_cli(_fill_all(with_flag(BUILD, "--min-steps", "40"), ws, tiny_benchmark), ws)
    line = result.stderr.strip().splitlines()[-1]
    assert "built 0 videos" in line and "2 of 2 videos" in line and "build_report.json" in line
    # The build's own earlier output is resumed, not refused: the same command fails the same way.
    again = run_cli(_fill_all(with_flag(BUILD, "--min-steps", "40"), ws, tiny_benchmark), ws)
    assert again.returncode == 1 and "built 0 videos" in again.stderr
    shutil.rmtree(ws / "out")


def _fill_all(argv: list[str], ws: Path, bench: Path) -> list[str]:
    return [_fill(a, ws, bench) for a in argv]


def test_overwrite_allows_a_foreign_folder(workspace, tiny_benchmark, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    argv = _fill_all(with_flag(EVAL, "--out", str(target)), workspace, tiny_benchmark)
    assert run_cli(argv, workspace).returncode == 2
    result = run_cli(argv + ["--overwrite"], workspace)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (target / "records.jsonl").is_file() and (target / "keep.txt").read_text() == "x"
    # Its own output is resumed without --overwrite.
    assert run_cli(argv, workspace).returncode == 0


def test_debug_shows_the_traceback(workspace, tiny_benchmark):
    argv = _fill_all(with_flag(BUILD, "--coin", "{ws}/nope.json"), workspace, tiny_benchmark)
    assert "Traceback" in run_cli(argv + ["--debug"], workspace).stderr
    assert "Traceback" in run_cli(argv, workspace, {"TEMROBBENCH_DEBUG": "1"}).stderr


def test_ctrl_c_is_one_line_and_130(workspace, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    process = subprocess.Popen([str(BIN / "temrobbench"), "synth", "--out", str(tmp_path / "src"), "--num-videos", "400"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**env, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not (tmp_path / "src" / "videos").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted (temrobbench)")


def test_eval_without_matplotlib_says_plots_were_not_written(workspace, tiny_benchmark, tmp_path):
    argv = _fill_all(with_flag(EVAL, "--out", str(tmp_path / "eval")), workspace, tiny_benchmark)
    result = run_cli(argv, workspace, block=("matplotlib",))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "plots not written" in result.stdout and "temrobbench[plots]" in result.stdout
    assert not (tmp_path / "eval" / "accuracy.png").exists()


def test_quickstart_skips_the_stage_whose_extra_is_missing(workspace, tmp_path):
    result = run_cli([T, "quickstart", "--out", str(tmp_path / "qs"), "--num-videos", "2", "--skip-eval"], workspace, block=("trl",))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped: needs trl" in result.stdout and "temrobbench[train]" in result.stdout


def test_prepare_with_the_template_perturber_needs_no_training_packages(workspace, tmp_path):
    argv = _fill_all(with_flag(PREP, "--out", str(tmp_path / "prep")), workspace, Path())
    result = run_cli(argv, workspace, block=("trl", "peft", "accelerate"))
    assert result.returncode == 0, result.stderr[-2000:]


def test_help_shows_defaults_and_subcommands(workspace):
    build_help = run_cli([T, "build", "--help"], workspace).stdout
    assert "(default: 562)" in build_help and "(default: 23)" in build_help
    assert "(default: 32)" in run_cli([T, "eval", "--help"], workspace).stdout
    panodpo_help = run_cli([P, "--help"], workspace)
    assert panodpo_help.returncode == 0
    assert all(f"  {name}" in panodpo_help.stdout for name in ("prepare", "train", "quickstart"))
    assert "(default: 8)" in run_cli([P, "prepare", "--help"], workspace).stdout
    train_help = run_cli([P, "train", "--help"], workspace).stdout
    assert train_help.index("--video_loss_weight") < len(train_help) and "--help-all" in train_help
    assert "--per_device_train_batch_size" not in train_help  # the full TRL list is behind --help-all
