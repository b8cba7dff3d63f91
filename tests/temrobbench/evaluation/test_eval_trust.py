"""An eval output folder can be trusted: it belongs to one run of one benchmark and one model, has
one writer, keeps valid records, and fails in one line (through the console script, in subprocesses).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.openai_server import FakeOpenAIServer, key_refused_body
from temrobbench import evaluate_temporal_robustness
from temrobbench.evaluation.data import benchmark_digest, load_items
from temrobbench.evaluation.records import read_records
from temrobbench.evaluation.run_file import RunMismatchError

BIN = Path(sys.executable).parent
SECRET = "local-key-7f3a9c2e1b5d"  # no sk- shape: redacted because it is the key in use
EVAL = ["eval", "--model", "random", "--frames", "2"]
SLOW_MODEL = '''
import os, time
from temrobbench.evaluation.models.base import VideoLM
from temrobbench.evaluation.models.registry import register_model

class Slow(VideoLM):
    name = "slow"
    def __init__(self, seconds):
        self.seconds = seconds
    def generate(self, requests):
        time.sleep(self.seconds * len(requests))
        return ["A"] * len(requests)

@register_model("slow", "slow:<seconds>")
def load(argument, **options):
    return Slow(float(argument or 1))
'''


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """Two builds of the same videos with other answers (seed 0 and 1), and a plugin folder."""
    from temrobbench.build.pipeline import BuildConfig, build_benchmark
    from temrobbench.source.synth import SynthConfig, synthesize_coin

    root = tmp_path_factory.mktemp("trust")
    coin = synthesize_coin(root / "src", SynthConfig(num_videos=2, seed=7), progress=False)
    for seed in (0, 1):
        build_benchmark(coin, root / "src" / "videos", root / f"bench_seed{seed}", BuildConfig(num_videos=2, seed=seed), progress=False)
    assert benchmark_digest(load_items(root / "bench_seed0")) != benchmark_digest(load_items(root / "bench_seed1"))
    (root / "plugins").mkdir()
    (root / "plugins" / "sitecustomize.py").write_text(SLOW_MODEL)
    (root / "hf-home").mkdir()
    return root


def _env(ws: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OPENAI_", "TEMROBBENCH_"))}
    env.update(HF_HOME=str(ws / "hf-home"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(ws / "plugins"))
    env.update(extra)
    return env


def tb(ws: Path, *argv: str, prefix: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess:
    """One ``temrobbench`` run."""
    return subprocess.run([*prefix, str(BIN / "temrobbench"), *argv], capture_output=True, text=True, env=_env(ws, **env), cwd=ws, timeout=300)


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one line a failure prints (progress bars aside), checked to be the only one."""
    lines = [line for line in result.stderr.splitlines() if line.strip() and "it/s]" not in line and "query/s]" not in line and "%|" not in line]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file but the lock (our own bookkeeping, rewritten by each try) with its size, time and bytes' digest."""
    import hashlib

    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def short(folder: Path, name: str = "run.json") -> str:
    return json.loads((folder / name).read_text())["benchmark"]["sha256"][:12]


# --------------------------------------------------------------------------- one run per folder


def test_another_benchmark_is_refused_and_overwrite_starts_over(ws, tmp_path):
    out = tmp_path / "E"
    first = tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out))
    assert first.returncode == 0, first.stderr[-2000:]
    old_hash = short(out)
    (out / "notes.txt").write_text("the user's own file")
    before = snapshot(out)

    refused = tb(ws, *EVAL, "--data", str(ws / "bench_seed1"), "--out", str(out))
    line = error_line(refused)
    new_hash = benchmark_digest(load_items(ws / "bench_seed1"))[:12]
    assert refused.returncode == 2 and "another run" in line and f"benchmark {old_hash} vs {new_hash}" in line and "--overwrite" in line
    assert snapshot(out) == before, "a refused run changed the folder"

    again = tb(ws, *EVAL, "--data", str(ws / "bench_seed1"), "--out", str(out), "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]
    assert short(out) == new_hash and (out / "notes.txt").read_text() == "the user's own file"
    # Exactly the records of a fresh run on the new benchmark: nothing of the old one was kept.
    fresh = tmp_path / "fresh"
    assert tb(ws, *EVAL, "--data", str(ws / "bench_seed1"), "--out", str(fresh)).returncode == 0
    strip = lambda rs: sorted(json.dumps(r, sort_keys=True) for r in rs)  # noqa: E731
    assert strip(read_records(out / "records.jsonl")) == strip(read_records(fresh / "records.jsonl"))
    assert json.loads((out / "metrics.json").read_text())["metrics"] == json.loads((fresh / "metrics.json").read_text())["metrics"]


def test_a_rebuild_in_place_and_another_seed_are_refused(ws, tmp_path):
    bench, out = tmp_path / "bench", tmp_path / "E"
    shutil.copytree(ws / "bench_seed0", bench)
    assert tb(ws, *EVAL, "--data", str(bench), "--out", str(out)).returncode == 0
    before = snapshot(out)
    shutil.rmtree(bench)
    shutil.copytree(ws / "bench_seed1", bench)  # the same path, another build
    refused = tb(ws, *EVAL, "--data", str(bench), "--out", str(out))
    assert refused.returncode == 2 and "benchmark" in error_line(refused) and snapshot(out) == before
    shutil.rmtree(bench)
    shutil.copytree(ws / "bench_seed0", bench)
    other_seed = tb(ws, "eval", "--model", "random:1", "--frames", "2", "--data", str(bench), "--out", str(out))
    assert other_seed.returncode == 2 and "model random (seed 0) vs random (seed 1)" in error_line(other_seed)
    other_frames = tb(ws, *EVAL[:-1], "4", "--data", str(bench), "--out", str(out))
    assert other_frames.returncode == 2 and "num_frames 2 vs 4" in error_line(other_frames)
    assert snapshot(out) == before
    # The same run resumes: nothing asked again, exit 0.
    assert tb(ws, *EVAL, "--data", str(bench), "--out", str(out)).returncode == 0


def test_a_resaved_hf_model_folder_is_another_model(ws, tmp_path):
    from temrobbench.tiny_models import save_tiny_qwen2vl

    model, out = tmp_path / "model", tmp_path / "E"
    save_tiny_qwen2vl(model, seed=0)
    argv = ["eval", "--model", f"hf:{model}", "--scoring", "likelihood", "--frames", "2", "--limit", "1", "--configs", "intrinsic",
            "--data", str(ws / "bench_seed0"), "--out", str(out)]
    first = tb(ws, *argv)
    assert first.returncode == 0, first.stderr[-2000:]
    fingerprint = json.loads((out / "run.json").read_text())["model_identity"]["fingerprint"]
    before = snapshot(out)
    save_tiny_qwen2vl(model, seed=1)  # the same folder, other weights
    refused = tb(ws, *argv)
    line = error_line(refused)
    assert refused.returncode == 2 and f"fingerprint {fingerprint[:12]}" in line and "model hf:" in line and snapshot(out) == before


def test_a_run_json_without_identity_is_refused_with_the_remedy(ws, tmp_path):
    out = tmp_path / "E"
    assert tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out)).returncode == 0
    settings = json.loads((out / "run.json").read_text())
    legacy = {k: settings[k] for k in ("model", "scoring", "num_frames", "rounds", "system_prompt")}  # as written before identities
    (out / "run.json").write_text(json.dumps(legacy))
    before = snapshot(out)
    refused = tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out))
    line = error_line(refused)
    assert refused.returncode == 2 and "older temrobbench" in line and "pass --overwrite" in line and snapshot(out) == before
    assert tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out), "--overwrite").returncode == 0
    assert "model_identity" in json.loads((out / "run.json").read_text())


def test_the_function_refuses_and_overwrites_alike(ws, tmp_path):
    evaluate_temporal_robustness("random", ws / "bench_seed0", num_frames=2, output_dir=tmp_path, progress=False)
    records = (tmp_path / "records.jsonl").read_bytes()
    with pytest.raises(RunMismatchError, match="holds records of another run") as refused:
        evaluate_temporal_robustness("random", ws / "bench_seed1", num_frames=2, output_dir=tmp_path, progress=False)
    assert isinstance(refused.value, ValueError) and (tmp_path / "records.jsonl").read_bytes() == records
    report = evaluate_temporal_robustness("random", ws / "bench_seed1", num_frames=2, output_dir=tmp_path, progress=False, overwrite=True)
    assert report.num_records == len(read_records(tmp_path / "records.jsonl")) == len(load_items(ws / "bench_seed1")) * 5
    # In-memory datasets have an identity too (computed from the rows, not from a path).
    import datasets

    from temrobbench.hub.layout import read_local_split

    memory = {c: {s: datasets.Dataset.from_list(read_local_split(ws / "bench_seed1", c, s)) for s in ("clean", "adversarial")} for c in ("intrinsic", "extrinsic")}
    evaluate_temporal_robustness("random", memory, num_frames=2, output_dir=tmp_path, progress=False)  # same items: resumes
    with pytest.raises(RunMismatchError):
        evaluate_temporal_robustness("random", ws / "bench_seed0", num_frames=2, output_dir=tmp_path, progress=False)


def test_report_refuses_another_benchmark(ws, tmp_path):
    out = tmp_path / "E"
    assert tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out)).returncode == 0
    before = snapshot(out)
    refused = tb(ws, "report", str(out), "--data", str(ws / "bench_seed1"))
    line = error_line(refused)
    assert refused.returncode == 2 and f"--data {ws / 'bench_seed1'}" in line and short(out) in line and snapshot(out) == before
    assert tb(ws, "report", str(out), "--data", str(ws / "bench_seed0")).returncode == 0


def test_rounds_beyond_the_options_are_refused(ws, tmp_path):
    refused = tb(ws, *EVAL, "--rounds", "5", "--data", str(ws / "bench_seed0"), "--out", str(tmp_path / "E"))
    assert refused.returncode == 2 and "--rounds" in error_line(refused) and "at most 4" in refused.stderr
    assert not (tmp_path / "E").exists()
    with pytest.raises(ValueError, match="at most 4"):
        evaluate_temporal_robustness("random", ws / "bench_seed0", rounds=5, progress=False)


# --------------------------------------------------------------------------- one writer


def test_a_second_writer_is_refused_while_the_first_runs(ws, tmp_path):
    out = tmp_path / "E"
    argv = [str(BIN / "temrobbench"), "eval", "--model", "slow:0.4", "--batch-size", "1", "--frames", "2", "--data", str(ws / "bench_seed0"), "--out", str(out)]
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(ws), cwd=ws)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not ((out / "records.jsonl").exists() and (out / "records.jsonl").read_text().count("\n") >= 1):
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the test could race it"
        before = snapshot(out)
        started = time.time()
        second = subprocess.run(argv, capture_output=True, text=True, env=_env(ws), cwd=ws, timeout=120)
        line = error_line(second)
        assert second.returncode == 1 and f"pid {first.pid}: temrobbench eval" in line and str(out) in line
        assert first.poll() is None and time.time() - started < 60  # refused at once, while the first still runs
        assert set(before) <= set(snapshot(out))  # the second wrote nothing (the first keeps appending)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # kill -9 leaves no stale lock: the next run takes it and resumes.
    resumed = tb(ws, "eval", "--model", "slow:0", "--frames", "2", "--data", str(ws / "bench_seed0"), "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(read_records(out / "records.jsonl")) == len(load_items(ws / "bench_seed0")) * 5


# --------------------------------------------------------------------------- valid records


def test_a_damaged_line_is_moved_aside_and_its_query_rerun(ws, tmp_path):
    out = tmp_path / "E"
    assert tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out)).returncode == 0
    lines = (out / "records.jsonl").read_bytes().splitlines(keepends=True)
    total = len(lines)
    lost = json.loads(lines[2])
    lines[2] = b'{"item_id": "garbage, not JSON\n'  # a damaged line in the middle, not a torn tail
    lines[5] = b'{"note": "\xff not UTF-8"}\n'
    (out / "records.jsonl").write_bytes(b"".join(lines))
    rerun = tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    said = [line for line in rerun.stderr.splitlines() if "damaged" in line]
    assert len(said) == 1 and "2 damaged lines (3, 6)" in said[0] and "records.damaged.jsonl" in said[0]
    aside = [json.loads(line) for line in (out / "records.damaged.jsonl").read_text().splitlines()]
    assert [(d["file"], d["line"]) for d in aside] == [("records.jsonl", 3), ("records.jsonl", 6)] and "garbage" in aside[0]["text"]
    kept = (out / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert all(isinstance(json.loads(line), dict) for line in kept) and len(kept) == total  # 2 dropped, their 2 queries run again
    keys = {(r["item_id"], r["setting"], r["round"]) for r in read_records(out / "records.jsonl")}
    assert (lost["item_id"], lost["setting"], lost["round"]) in keys and len(keys) == total


# --------------------------------------------------------------------------- API keys


def test_a_refused_key_stops_the_run_at_once_and_is_never_shown(ws, tmp_path, monkeypatch):
    out = tmp_path / "E"
    with FakeOpenAIServer(reply=lambda body: "A", fail=lambda n: 401, fail_body=key_refused_body) as server:
        result = tb(ws, "eval", "--model", f"openai:m@{server.base_url}", "--frames", "2", "--data", str(ws / "bench_seed0"), "--out", str(out),
                    OPENAI_API_KEY=SECRET)
    line = error_line(result)
    assert result.returncode == 2 and line.startswith("error: the server refused the API key (401 AuthenticationError") and "OPENAI_API_KEY" in line
    assert SECRET not in result.stderr + result.stdout
    assert 1 <= server.count <= 8  # the first refusal, or the requests already in flight (max_concurrency 8), of 30
    assert not read_records(out / "records.jsonl")  # nothing recorded as an answer (or as anything)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(reply=lambda body: "A", fail=lambda n: 403, fail_body=key_refused_body) as server:
        with pytest.raises(Exception, match="the server refused the API key") as refused:
            evaluate_temporal_robustness(f"openai:m@{server.base_url}", ws / "bench_seed0", num_frames=2, output_dir=tmp_path / "F", progress=False,
                                         model_kwargs={"max_concurrency": 1})
    assert server.count == 1 and "403 PermissionDeniedError" in str(refused.value) and SECRET not in refused.value.server_message


def test_a_server_quoting_the_key_is_redacted_everywhere(ws, tmp_path):
    out = tmp_path / "E"
    with FakeOpenAIServer(reply=lambda body: "A", fail=lambda n: 400, fail_body=key_refused_body) as server:
        result = tb(ws, "eval", "--model", f"openai:m@{server.base_url}", "--frames", "2", "--limit", "1", "--configs", "intrinsic",
                    "--data", str(ws / "bench_seed0"), "--out", str(out), OPENAI_API_KEY=SECRET)
    line = error_line(result)
    assert result.returncode == 1 and "all 5 queries failed" in line and "[REDACTED]" in line and SECRET not in result.stderr
    records = read_records(out / "records.jsonl")
    assert len(records) == 5 and all("Incorrect API key provided: [REDACTED]" in r["error"] and "Authorization: [REDACTED]" in r["error"] for r in records)
    for path in out.iterdir():
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path.name
    assert "[REDACTED]" in (out / "report.html").read_text()


# --------------------------------------------------------------------------- the machine


def _no_override() -> tuple[str, ...]:
    """A command prefix under which permission bits bind (root ignores them): root without
    CAP_DAC_OVERRIDE; skips when that cannot be had here."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv to run without root's permission override")
    caps = "-dac_override,-dac_read_search"
    prefix = (setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--")
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"probe-{os.getpid()}"
    probe.mkdir(mode=0o555, exist_ok=True)
    try:
        denied = subprocess.run([*prefix, sys.executable, "-c", f"open({str(probe / 'x')!r}, 'w')"], capture_output=True).returncode != 0
    except OSError:
        denied = False
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    if not denied:
        pytest.skip("cannot drop root's permission override here")
    return prefix


def test_a_read_only_out_is_one_line_naming_the_path(ws, tmp_path):
    prefix = _no_override()
    out = tmp_path / "readonly"
    out.mkdir(mode=0o555)
    out.chmod(0o555)
    result = tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out), prefix=prefix)
    line = error_line(result)
    assert result.returncode == 1 and line.startswith("error: permission denied") and str(out) in line and "unexpected" not in line
    assert not any(out.iterdir())
    out.chmod(0o755)


def test_an_unwritable_records_file_is_one_line_naming_it(ws, tmp_path):
    prefix = _no_override()
    out = tmp_path / "E"
    assert tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out)).returncode == 0
    lines = (out / "records.jsonl").read_text().splitlines(keepends=True)
    (out / "records.jsonl").write_text("".join(lines[:-3]))  # three queries left to run
    (out / "records.jsonl").chmod(0o444)
    before = (out / "records.jsonl").read_bytes()
    result = tb(ws, *EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out), prefix=prefix)
    line = error_line(result)
    assert result.returncode == 1 and line.startswith("error: permission denied") and str(out / "records.jsonl") in line
    assert (out / "records.jsonl").read_bytes() == before


def test_a_full_disk_is_one_line_naming_the_file(ws, tmp_path, monkeypatch, capsys):
    """ENOSPC from a flush names no file: the line must still say where (the records file)."""
    import errno

    import temrobbench.utils.files
    from temrobbench.cli import main

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(temrobbench.utils.files.os, "fsync", full)
    out = tmp_path / "E"
    rc = main([*EVAL, "--data", str(ws / "bench_seed0"), "--out", str(out)])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 1 and line.startswith(f"error: no space left on the device ({out / 'records.jsonl'})") and "finished work is kept" in line


def test_another_server_address_is_another_model(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(reply=lambda body: "A") as first:
        evaluate_temporal_robustness(f"openai:m@{first.base_url}", ws / "bench_seed0", num_frames=2, limit=1, configs=("intrinsic",), output_dir=tmp_path, progress=False)
    assert json.loads((tmp_path / "run.json").read_text())["model_identity"] == {"name": "openai:m", "base_url": first.base_url}
    assert SECRET not in (tmp_path / "run.json").read_text()
    with FakeOpenAIServer(reply=lambda body: "A") as second:
        with pytest.raises(RunMismatchError, match=f"base_url {first.base_url}\\) vs openai:m \\(base_url {second.base_url}"):
            evaluate_temporal_robustness(f"openai:m@{second.base_url}", ws / "bench_seed0", num_frames=2, limit=1, configs=("intrinsic",), output_dir=tmp_path, progress=False)
    assert second.count == 0
