"""panodpo trusts nothing it is given (issue 22), driven through the ``panodpo`` console script.

- paths from data never leave their root (``..``, absolute paths, symlinks, symlinked frames);
- a line with a non-UTF-8 byte is one skipped row, not the end of the file;
- one writer per output folder (two real processes), no stale lock after kill -9;
- secrets (``--hub_token``, the perturber's key quoted by a server) never reach a file or stderr;
- resume from the newest complete checkpoint, refusing to overwrite checkpoints silently;
- the run records its data and model identity and refuses other ones;
- ``--help-all`` works; environment failures (permissions, a torn shard) are one line naming the path.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.openai_server import FakeOpenAIServer, openai_error

BIN = Path(sys.executable).parent
TOKEN = "hf_PlantedHubToken0123456789"
KEY = "planted-key-0123456789abcdef"  # not shaped like sk-...: only redaction of the known value can catch it


def panodpo(*argv: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """One ``panodpo`` console-script run, offline and without the caller's tokens or keys."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OPENAI_", "TEMROBBENCH_", "RANK", "LOCAL_RANK", "WORLD_SIZE"))}
    full_env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", TQDM_DISABLE="1")
    full_env.update(env or {})
    return subprocess.run([str(BIN / "panodpo"), *argv], capture_output=True, text=True, env=full_env, timeout=600, **kwargs)


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line of a failed run (asserting it is the only thing said)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines and lines[-1].startswith("error: "), result.stderr[-3000:]
    assert [line for line in lines if line.startswith("error")] == [lines[-1]]
    return lines[-1]


def every_byte(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------------------------
# prepare: paths, encodings, secrets, one writer
# ----------------------------------------------------------------------------------------------

ROW = {"prompt": "<video>\nWhat is done first?", "chosen": "The bread is cut first.", "rejected": "Ham is added first."}


@pytest.fixture()
def source(tiny_benchmark, tmp_path):
    """A media folder with good rows and rows that point outside it, and a secret folder beside it."""
    videos = sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))
    media, secret = tmp_path / "media", tmp_path / "secret"
    media.mkdir()
    secret.mkdir()
    shutil.copy(videos[0], media / "a.mp4")
    shutil.copy(videos[1], secret / "private.mp4")
    cv2.imwrite(str(secret / "private.jpg"), np.full((48, 64, 3), 200, np.uint8))
    (media / "link.mp4").symlink_to(secret / "private.mp4")  # a symlink inside, pointing out
    frames = media / "frames_leaky"  # a frames folder whose last frame is a symlink out
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"f_{i}.jpg"), np.full((48, 64, 3), 20 * i, np.uint8))
    (frames / "f_3.jpg").symlink_to(secret / "private.jpg")
    rows = [
        {"id": "good", "video": "a.mp4", **ROW},
        {"id": "dotdot", "video": "../secret/private.mp4", **ROW},
        {"id": "absolute", "video": str(secret / "private.mp4"), **ROW},
        {"id": "symlink", "video": "link.mp4", **ROW},
        {"id": "frames", "video": "frames_leaky", **ROW},
    ]
    jsonl = tmp_path / "dpo.jsonl"
    lines = [json.dumps(r).encode() + b"\n" for r in rows]
    lines.insert(2, b'{"id": "latin1", "video": "a.mp4", "prompt": "Caf\xe9?", "chosen": "x", "rejected": "y"}\n')  # line 3
    jsonl.write_bytes(b"".join(lines))
    return jsonl, media, secret


def test_prepare_reads_nothing_outside_media_and_skips_undecodable_lines(source, tmp_path):
    jsonl, media, secret = source
    captions = tmp_path / "captions.jsonl"
    captions.write_bytes(b'{"id": "good", "caption": "bread"}\n{"id": "x", "caption": "\xff\xfe"}\n')
    out = tmp_path / "prepared"
    result = panodpo("prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(out), "--captions", str(captions))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["num_rows_prepared"] == 1 and report["num_rows_read"] == 6
    assert report["skipped"] == {"bad_encoding": 2, "outside_media": 4}
    by_id = {r["id"]: r for r in report["skipped_rows"]}
    assert {"dotdot", "absolute", "symlink", "frames"} <= set(by_id)
    assert f"{jsonl}:2: row 'dotdot'" in by_id["dotdot"]["message"] and "f_3.jpg" in by_id["frames"]["message"]
    assert f"{jsonl}:3: not UTF-8" in by_id["line 3"]["message"] and f"{captions}:2: not UTF-8" in by_id["captions line 2"]["message"]
    # Nothing outside --media was linked, copied or embedded.
    assert (secret / "private.mp4").stat().st_nlink == 1
    private = (secret / "private.mp4").read_bytes()
    probe = private[len(private) // 2 : len(private) // 2 + 256]
    assert not any(probe in content for content in every_byte(out).values())
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["good.mp4"]


def test_collator_media_loader_refuses_paths_leaving_media_root(source):
    from panodpo.collator import PanoDPOCollator
    from panodpo.media import MediaOutsideRoot, load_frames

    _, media, secret = source
    assert len(load_frames("a.mp4", 2, media)) == 2
    for video in ("../secret/private.mp4", str(secret / "private.mp4"), "link.mp4", "frames_leaky"):
        with pytest.raises(MediaOutsideRoot):
            load_frames(video, 2, media)
    from types import SimpleNamespace

    collator = PanoDPOCollator(processor=SimpleNamespace(tokenizer=SimpleNamespace(eos_token="")), num_frames=2, media_root=str(media))
    with pytest.raises(MediaOutsideRoot):
        collator([{"id": "x", "video": "../secret/private.mp4", **ROW}])


def _slow_server(delay: float) -> FakeOpenAIServer:
    def reply(body):
        time.sleep(delay)
        return "The man is painting a wall. " + body["messages"][1]["content"].split("Question: ")[1].split("\n")[0]

    return FakeOpenAIServer(reply=reply)


def _wait_for_lock(out: Path, process: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if (out / ".lock").is_file() and (out / ".lock").read_text().startswith("pid "):
            return
        time.sleep(0.1)
    raise AssertionError(f"the first run never took the lock: {process.poll()}")


def test_one_prepare_per_folder_and_no_stale_lock_after_kill(source, tmp_path):
    jsonl, media, _ = source
    out = tmp_path / "prepared"
    argv = ["prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(out), "--perturber", "openai", "--max-concurrency", "1",
            "--captioner", "none"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OPENAI_"))}
    env.update(OPENAI_API_KEY="sk-test-lock", OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    with _slow_server(1.5) as server:
        first = subprocess.Popen([str(BIN / "panodpo"), *argv, "--base-url", server.base_url], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        _wait_for_lock(out, first)
        started = time.time()
        second = panodpo(*argv, "--base-url", server.base_url, env={"OPENAI_API_KEY": "sk-test-lock"})
        assert time.time() - started < 60
        assert second.returncode == 1
        line = error_line(second)
        assert "another run is writing into this folder" in line and f"pid {first.pid}" in line and "panodpo prepare" in line
        assert first.poll() is None  # the first run goes on
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    # kill -9 leaves the lock file but not the lock: the next run takes it and finishes.
    with _slow_server(0.0) as server:
        third = panodpo(*argv, "--base-url", server.base_url, env={"OPENAI_API_KEY": "sk-test-lock"})
    assert third.returncode == 0, third.stderr[-3000:]
    assert json.loads((out / "prepare_report.json").read_text())["num_rows_prepared"] == 1


def test_perturber_errors_quoting_the_key_are_redacted_everywhere(source, tmp_path):
    jsonl, media, _ = source
    quoted = openai_error(f"Incorrect API key provided: {KEY}. Header was Authorization: Bearer {KEY}", None, "invalid_api_key")
    out = tmp_path / "prepared"
    argv = ["prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(out), "--perturber", "openai", "--max-concurrency", "1",
            "--captioner", "none"]
    # A 400 quoting the key: the row fails, its message is recorded redacted.
    with FakeOpenAIServer(reply=lambda body: "x", reject=lambda body: (400, quoted)) as server:
        failed = panodpo(*argv, "--base-url", server.base_url, env={"OPENAI_API_KEY": KEY})
    assert failed.returncode == 1  # no row prepared
    report = (out / "prepare_report.json").read_text()
    assert "perturbation_failed" in report and "Incorrect API key provided: [REDACTED]" in report
    # A 401 quoting the key: the run stops at the first one, with one line.
    with FakeOpenAIServer(reply=lambda body: "x", reject=lambda body: (401, quoted)) as server:
        refused = panodpo(*argv, "--base-url", server.base_url, env={"OPENAI_API_KEY": KEY})
        assert server.count == 1
    assert refused.returncode == 2 and "refused the request" in error_line(refused) and "HTTP 401" in error_line(refused)
    for result in (failed, refused):
        assert KEY not in result.stderr + result.stdout
    leaks = [path for path, content in every_byte(out).items() if KEY.encode() in content]
    assert not leaks, leaks


# ----------------------------------------------------------------------------------------------
# train: secrets, resume, identity, help, environment failures
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tiny_benchmark, tmp_path_factory):
    """Prepared data, two tiny models (other weights), and a 2-step run with checkpoints and a planted token."""
    from panodpo.data.prepare import prepare_dpo_data
    from temrobbench.tiny_models import save_tiny_qwen2vl

    root = tmp_path_factory.mktemp("trust_train")
    videos = sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))
    media = root / "media"
    media.mkdir()
    rows = []
    for i, video in enumerate(videos[:2]):
        shutil.copy(video, media / f"v{i}.mp4")
        rows.append({"id": f"r{i}", "video": f"v{i}.mp4", **ROW})
    (root / "dpo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prepare_dpo_data(root / "dpo.jsonl", media, root / "data", progress=False)
    (root / "dpo_one.jsonl").write_text(json.dumps(rows[0]) + "\n")
    prepare_dpo_data(root / "dpo_one.jsonl", media, root / "other_data", progress=False)  # other rows: other shards
    save_tiny_qwen2vl(root / "model", seed=1)
    save_tiny_qwen2vl(root / "other_model", seed=2)
    out = root / "out"
    result = panodpo(*train_argv(root, out), "--max_steps", "2", "--save_strategy", "steps", "--save_steps", "1", "--hub_token", TOKEN)
    assert result.returncode == 0, result.stderr[-4000:]
    return root, out, result


def train_argv(root: Path, out: Path, model: str = "model", data: str = "data") -> list[str]:
    return ["train", "--model", str(root / model), "--data", str(root / data), "--output_dir", str(out), "--per_device_train_batch_size", "2",
            "--num_frames", "2", "--report_to", "none", "--gradient_checkpointing", "false", "--lora_r", "4", "--dtype", "float32",
            "--logging_steps", "1"]


def test_hub_token_reaches_no_file(trained):
    root, out, result = trained
    files = every_byte(out)
    assert any(p.endswith("checkpoint-1/training_args.bin") for p in files) and any(p.endswith("README.md") for p in files)
    leaks = [path for path, content in files.items() if TOKEN.encode() in content]
    assert not leaks, leaks
    assert TOKEN not in result.stdout + result.stderr
    import torch

    args = torch.load(out / "checkpoint-2" / "training_args.bin", weights_only=False)
    assert args.hub_token is None and args.max_steps == 2  # the rest of the arguments are kept


def test_hub_token_still_pushes(tiny_benchmark, monkeypatch, tmp_path):
    """The token is kept out of pickles only: the trainer in memory still hands it to the Hub."""
    import transformers.trainer
    from datasets import Dataset

    from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
    from temrobbench.tiny_models import build_tiny_qwen2vl

    calls = []

    class FakeHfApi:  # what push_to_hub sends, without a network
        def create_repo(self, repo_id, token=None, **kwargs):
            calls.append(("create_repo", token))
            return type("RepoUrl", (), {"repo_id": repo_id})()

        def upload_folder(self, repo_id, folder_path, token=None, **kwargs):
            calls.append(("upload_folder", token))
            leaks = [p for p in Path(folder_path).rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
            assert not leaks, leaks

    monkeypatch.setattr(transformers.trainer, "hf_api", FakeHfApi)
    video = str(sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))[0])
    dataset = Dataset.from_list([{"id": "a", "video": video, "rejected_prompt": "In the video, ham. What is done first?", **ROW}])
    model, processor = build_tiny_qwen2vl(seed=1)
    config = PanoDPOConfig(str(tmp_path / "o"), hub_token=TOKEN, hub_model_id="me/tiny", report_to=[], num_frames=2, max_steps=1)
    trainer = PanoDPOTrainer(model, args=config, train_dataset=dataset, processing_class=processor,
                             peft_config=default_lora_config(model, r=4, alpha=8, dropout=0.0))
    trainer.push_to_hub()
    assert calls == [("create_repo", TOKEN), ("upload_folder", TOKEN)]
    import copy

    assert copy.deepcopy(config).hub_token == TOKEN  # in-memory copies keep it; only files lose it
    from temrobbench.utils.redaction import redact

    assert TOKEN not in redact(f"push failed with {TOKEN}")


def test_run_records_identity_and_refuses_other_data_or_model(trained):
    root, out, _ = trained
    record = json.loads((out / "panodpo_run.json").read_text())
    assert record["data"]["fingerprint"] and record["model"]["fingerprint"] and record["data"]["split"] == "train"
    for flag, value, what in (("--model", "other_model", "model"), ("--data", "other_data", "data")):
        argv = train_argv(root, out, **{flag[2:]: value}) + ["--max_steps", "3", "--resume_from_checkpoint", "last"]
        result = panodpo(*argv)
        assert result.returncode == 2, result.stderr[-3000:]
        line = error_line(result)
        assert f"holds a run on other {what}" in line and str(root / value) in line and str(root / what) in line, line
    assert json.loads((out / "panodpo_run.json").read_text()) == record  # refused runs touch nothing


def test_existing_checkpoints_are_not_overwritten_silently(trained):
    root, out, _ = trained
    def state() -> dict[str, int]:  # all but the lock file, which every run rewrites to name itself
        return {p: os.stat(p).st_mtime_ns for p in every_byte(out) if not p.endswith("/.lock")}

    before = state()
    result = panodpo(*train_argv(root, out), "--max_steps", "1")
    assert result.returncode == 2
    line = error_line(result)
    assert "holds checkpoints of an earlier run" in line and "--resume_from_checkpoint last" in line and "--overwrite_output_dir" in line
    assert state() == before


def test_resume_true_skips_an_incomplete_checkpoint(trained, tmp_path):
    root, out, _ = trained
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "checkpoint-2" / "trainer_state.json").unlink()  # a run killed while saving
    result = panodpo(*train_argv(root, copy), "--max_steps", "3", "--save_strategy", "steps", "--save_steps", "1",
                     "--resume_from_checkpoint", "True")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"skipped incomplete checkpoint ({copy / 'checkpoint-2'})" in result.stderr
    state = json.loads((copy / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    steps = [e["step"] for e in state["log_history"] if "loss" in e]
    assert steps == [1, 2, 3]  # resumed after step 1: step 1 from the checkpoint, 2 and 3 trained again


def test_resume_flag_values(tmp_path):
    from panodpo.cli import resolve_resume
    from temrobbench.utils.errors import UserError

    out = tmp_path / "out"
    (out / "checkpoint-1").mkdir(parents=True)
    (out / "checkpoint-1" / "adapter_model.safetensors").write_bytes(b"w")
    (out / "checkpoint-10").mkdir()  # killed before trainer_state.json
    (out / "checkpoint-10" / "adapter_model.safetensors").write_bytes(b"w")
    with pytest.raises(UserError, match="no complete checkpoint"):
        resolve_resume(str(out), "last", False, say=False)
    (out / "checkpoint-1" / "trainer_state.json").write_text("{}")
    assert resolve_resume(str(out), "True", False, say=False) == str(out / "checkpoint-1")
    assert resolve_resume(str(out), str(out / "checkpoint-1"), False) == str(out / "checkpoint-1")
    with pytest.raises(UserError, match="not a complete checkpoint"):
        resolve_resume(str(out), str(out / "checkpoint-10"), False)
    with pytest.raises(UserError, match="holds checkpoints"):
        resolve_resume(str(out), None, False)
    assert resolve_resume(str(out), None, True) is None  # --overwrite_output_dir: starts over
    with pytest.raises(UserError, match="discards the checkpoints"):
        resolve_resume(str(out), "last", True)


def test_reference_cache_is_keyed_by_the_run_identity(tiny_benchmark, tmp_path):
    from datasets import Dataset

    from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
    from temrobbench.tiny_models import build_tiny_qwen2vl

    video = str(sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))[0])
    dataset = Dataset.from_list([{"id": "a", "video": video, "rejected_prompt": "In the video, ham. What is done first?", **ROW}])
    model, processor = build_tiny_qwen2vl(seed=1)
    trainer = PanoDPOTrainer(model, args=PanoDPOConfig(str(tmp_path / "o"), report_to=[], num_frames=2, max_steps=1), train_dataset=dataset,
                             processing_class=processor, peft_config=default_lora_config(model, r=4, alpha=8, dropout=0.0),
                             run_identity={"model": {"source": "/m", "fingerprint": "aaa"}, "data": {"source": "/d", "fingerprint": "ddd"}})
    base = trainer._ref_cache_fingerprint(dataset)
    trainer.run_identity = {"model": {"source": "/elsewhere", "fingerprint": "aaa"}, "data": {"source": "/d2", "fingerprint": "ddd"}}
    assert trainer._ref_cache_fingerprint(dataset) == base  # a moved copy: the same cache
    trainer.run_identity = {"model": {"source": "/m", "fingerprint": "bbb"}, "data": {"source": "/d", "fingerprint": "ddd"}}
    assert trainer._ref_cache_fingerprint(dataset) != base  # another model folder (tokenizer, template, weights)
    trainer.run_identity = {"model": {"source": "/m", "fingerprint": "aaa"}, "data": {"source": "ORG/x", "revision": "r1"}}
    assert trainer._ref_cache_fingerprint(dataset) != base


def test_train_refuses_a_path_column_leaving_media_root(trained, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root, _, _ = trained
    data = tmp_path / "paths"
    (data / "data").mkdir(parents=True)
    table = pa.table({"id": ["ok", "escape"], "video": ["v0.mp4", "../secret/private.mp4"], "prompt": ["Q?"] * 2, "chosen": ["a"] * 2,
                      "rejected": ["b"] * 2, "rejected_prompt": ["In the video, b. Q?"] * 2})
    pq.write_table(table, data / "data" / "train-00000-of-00001.parquet")
    out = tmp_path / "out"
    argv = train_argv(root, out, data=str(data)) + ["--media_root", str(root / "media"), "--max_steps", "1"]
    result = panodpo(*argv)
    assert result.returncode == 2
    line = error_line(result)
    assert "leads outside --media_root" in line and "row escape" in line and "../secret/private.mp4" in line
    assert not out.exists()


def test_help_all_lists_every_flag():
    result = panodpo("train", "--help-all")
    assert result.returncode == 0, result.stderr[-3000:]
    for flag in ("--per_device_train_batch_size", "--video_loss_weight", "--model", "--overwrite_output_dir", "--hub_token"):
        assert flag in result.stdout, flag


def test_a_torn_shard_is_one_line_naming_it(trained, tmp_path):
    root, _, _ = trained
    data = tmp_path / "torn"
    shutil.copytree(root / "data", data)
    shard = next((data / "data").glob("train-*.parquet"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    result = panodpo(*train_argv(root, tmp_path / "out", data=str(data)), "--max_steps", "1")
    assert result.returncode == 1
    line = error_line(result)
    assert str(shard) in line and "truncated or not Parquet" in line
    assert not (tmp_path / "out").exists()


def _as_nobody() -> None:
    os.setuid(65534)


def _without_dac_override() -> None:
    """Root without the capabilities that bypass file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone after exec
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture()
def unwritable(tmp_path):
    """A root-owned 0o555 folder, world-readable inputs, and a way to run the command without the
    right to write there: as uid 65534, or (where the interpreter is not readable by that user)
    as root without CAP_DAC_OVERRIDE. Skipped unless root and one of them works."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a command without write permission on a root-owned folder")
    root = Path(tempfile.mkdtemp(prefix="panodpo-perm-", dir="/tmp"))
    os.chmod(root, 0o755)
    (root / "home").mkdir()
    os.chmod(root / "home", 0o777)
    locked = root / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)
    probe = f"import os; os.mkdir({str(locked / 'probe')!r})"
    for preexec in (_as_nobody, _without_dac_override):
        try:
            done = subprocess.run([sys.executable, "-c", probe], preexec_fn=preexec, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        if "PermissionError" in done.stderr:  # it ran, and could not write: usable
            break
    else:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip("cannot run a command without write permission here")
    yield root, locked, preexec
    shutil.rmtree(root, ignore_errors=True)


def test_unwritable_out_is_one_line_naming_it(source, unwritable, trained):
    jsonl, media, _ = source
    root, locked, preexec = unwritable
    shutil.copy(jsonl, root / "dpo.jsonl")
    (root / "media").mkdir()
    shutil.copy(media / "a.mp4", root / "media" / "a.mp4")
    env = {"HOME": str(root / "home"), "HF_HOME": str(root / "home" / "hf"), "XDG_CACHE_HOME": str(root / "home")}
    result = panodpo("prepare", "--dpo-jsonl", str(root / "dpo.jsonl"), "--media", str(root / "media"), "--out", str(locked / "out"),
                     env=env, preexec_fn=preexec, cwd=str(root))
    assert result.returncode == 1
    line = error_line(result)
    assert line.startswith("error: permission denied") and str(locked / "out") in line
    train_root, _, _ = trained
    shutil.copytree(train_root / "data", root / "data")
    shutil.copytree(train_root / "model", root / "model")
    for path in [root, *root.rglob("*")]:
        if path != locked and not path.is_relative_to(locked):
            os.chmod(path, 0o777 if path.is_dir() else 0o644)
    result = panodpo(*train_argv(root, locked / "out"), "--max_steps", "1", env=env, preexec_fn=preexec, cwd=str(root))
    assert result.returncode == 1
    line = error_line(result)
    assert line.startswith("error: permission denied") and str(locked / "out") in line
    assert list(locked.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# train under a launcher: rank 0 alone owns the folder
# ----------------------------------------------------------------------------------------------


def _torchrun(argv: list[str]) -> subprocess.CompletedProcess:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ACCELERATE_", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port), "-m", "panodpo.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=400)


def test_two_process_train_locks_once_and_a_refused_launch_ends(trained, tmp_path):
    from temrobbench.utils.files import exclusive_lock

    root, _, _ = trained
    out = tmp_path / "ddp"
    argv = train_argv(root, out) + ["--per_device_train_batch_size", "1", "--max_steps", "1", "--save_strategy", "no"]
    with exclusive_lock(out, "the test, holding the folder"):
        started = time.time()
        refused = _torchrun(argv)
        assert time.time() - started < 300  # the other rank did not wait forever for rank 0
    assert refused.returncode != 0
    assert "error: another run is writing into this folder (pid" in refused.stderr and "the test, holding the folder" in refused.stderr
    assert not (out / "panodpo_run.json").exists()
    result = _torchrun(argv)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (out / "adapter_model.safetensors").is_file() and (out / "panodpo_run.json").is_file()
    assert result.stdout.count("Adapter and model card") == 1  # said once, by rank 0
