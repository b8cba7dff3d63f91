"""No planted secret reaches any file a run writes, nor its stdout or stderr (issue 22).

Each test plants the secrets a user has around (``OPENAI_API_KEY``, ``HF_TOKEN`` in the
environment; ``--hub_token`` on the command line), gives the run a server that quotes the key
back in its error bodies (with the ``Authorization: Bearer <key>`` header it received), runs the
console scripts in subprocesses with HOME, HF_HOME, XDG_CACHE_HOME and TMPDIR inside the test's
folder, and then reads EVERY file under that folder: outputs, hidden files (``.lock``,
``.prepare/``), records and damaged records, run.json, report.html, metrics, checkpoints,
training_args.bin, trainer_state.json, model cards, panodpo_run.json, prepare_report.json, the
datasets cache and temporary files. Compressed containers are opened too (Parquet pages are read
back with pyarrow, zip members such as torch pickles are decompressed), so a secret cannot hide
inside a compressed page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.openai_server import FakeOpenAIServer, key_refused_body

BIN = Path(sys.executable).parent
OPENAI_KEY = "sk-test-PLANTEDopenaiKey7f3a9c2e1b5d"
HF_TOKEN = "hf_PLANTEDenvToken0a1b2c3d4e5f6g"
HUB_TOKEN = "hf_PLANTED2hubToken9z8y7x6w5v4u"
SECRETS = (OPENAI_KEY, HF_TOKEN, HUB_TOKEN)
# What is searched for: each whole secret, its distinctive part without the sk-/hf_ prefix (a key
# quoted without it), and the marker every planted value carries (a truncated or re-cut secret).
NEEDLES = tuple(dict.fromkeys([*SECRETS, *(s.split("PLANTED", 1)[1] for s in SECRETS), "PLANTED"]))
ROW = {"prompt": "<video>\nWhat is done first?", "chosen": "The bread is cut first.", "rejected": "Ham is added first."}


# ----------------------------------------------------------------------------------------------
# the search
# ----------------------------------------------------------------------------------------------


def _contents(path: Path) -> list[tuple[str, bytes]]:
    """The bytes of a file, and the decoded contents of the containers among them."""
    raw = path.read_bytes()
    found = [("bytes", raw)]
    if raw[:4] == b"PAR1" and raw[-4:] == b"PAR1":  # Parquet pages may be compressed: read the values back
        import pyarrow.parquet as pq

        for row in pq.read_table(path).to_pylist():
            for key, value in row.items():
                if isinstance(value, dict) and isinstance(value.get("bytes"), bytes):  # embedded video
                    found.append((f"parquet {key}.bytes", value["bytes"]))
                    value = {k: v for k, v in value.items() if k != "bytes"}
                found.append((f"parquet {key}", json.dumps(value, default=str).encode()))
    if zipfile.is_zipfile(path):  # torch.save archives (training_args.bin, optimizer.pt, ...)
        with zipfile.ZipFile(path) as archive:
            found += [(f"zip member {name}", archive.read(name)) for name in archive.namelist()]
    return found


def leaks_in(root: Path) -> tuple[list[str], list[Path]]:
    """Where a needle occurs under ``root`` (every file, hidden ones included; symlinks are not
    followed out), and the files read."""
    leaks, files = [], []
    for folder, dirs, names in os.walk(root, followlinks=False):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            files.append(path)
            for what, content in _contents(path):
                for needle in NEEDLES:
                    if needle.encode() in content:
                        leaks.append(f"{path.relative_to(root)} ({what}): {needle}")
    return leaks, files


def leaks_in_output(results: list[subprocess.CompletedProcess]) -> list[str]:
    return [f"{' '.join(r.args[:2])} {stream}: {needle}" for r in results for stream, text in (("stdout", r.stdout), ("stderr", r.stderr))
            for needle in NEEDLES if needle in text]


def _relative(files: list[Path], root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in files}


# ----------------------------------------------------------------------------------------------
# the machine: everything a run may write lies under one folder
# ----------------------------------------------------------------------------------------------


class Machine:
    """Subprocess runs of the console scripts with the planted secrets and every place they may
    write to (home, caches, temporary files) under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.results: list[subprocess.CompletedProcess] = []
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("HF_", "HUGGING", "OPENAI_", "WANDB_", "TEMROBBENCH_", "RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_"))}
        for name in ("home", "hf-home", "cache", "tmp"):
            (root / name).mkdir(parents=True, exist_ok=True)
        self.env.update(HOME=str(root / "home"), HF_HOME=str(root / "hf-home"), XDG_CACHE_HOME=str(root / "cache"), TMPDIR=str(root / "tmp"),
                        HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", TQDM_DISABLE="1",
                        OPENAI_API_KEY=OPENAI_KEY, HF_TOKEN=HF_TOKEN)

    def run(self, *argv: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, env={**self.env, **env}, cwd=self.root,
                                timeout=timeout)
        self.results.append(result)
        return result

    def check(self, expected: set[str]) -> set[str]:
        """No needle in any file under root nor in any run's output; ``expected`` files were among
        those read (the search covered what it claims to). Returns the files read."""
        leaks, files = leaks_in(self.root)
        assert not leaks, leaks
        assert not leaks_in_output(self.results), leaks_in_output(self.results)
        read = _relative(files, self.root)
        missing = {name for name in expected if not any(Path(p).match(name) for p in read)}
        assert not missing, (missing, sorted(read))
        return read


def test_the_search_finds_a_planted_secret(tmp_path):
    """The search itself: a secret in a plain, a hidden, a Parquet (compressed) and a zip file is found."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".hidden").write_text(f"key={OPENAI_KEY}")
    pq.write_table(pa.table({"text": [HF_TOKEN * 50] * 100}), tmp_path / "a" / "x.parquet", compression="zstd")
    torch.save({"hub_token": HUB_TOKEN}, tmp_path / "args.bin")
    (tmp_path / "clean.txt").write_text("nothing to see")
    (tmp_path / "cut.txt").write_text("key: " + OPENAI_KEY[:20])  # a truncated key: still caught
    leaks, files = leaks_in(tmp_path)
    assert {leak.split(" (")[0] for leak in leaks} == {"a/.hidden", "a/x.parquet", "args.bin", "cut.txt"}
    assert any("parquet text" in leak for leak in leaks)
    assert len(files) == 5


# ----------------------------------------------------------------------------------------------
# temrobbench eval --model openai:... and temrobbench report
# ----------------------------------------------------------------------------------------------


def test_eval_and_report_write_no_secret(tiny_benchmark, tmp_path):
    machine = Machine(tmp_path)
    bench, out = tmp_path / "bench", tmp_path / "eval"
    shutil.copytree(tiny_benchmark, bench)  # its own copy, inside the searched folder
    def eval_argv(folder: Path) -> list[str]:
        return ["temrobbench", "eval", "--data", str(bench), "--out", str(folder), "--frames", "2", "--batch-size", "4"]

    argv = eval_argv(out)
    # Two requests fail with a 400 whose body quotes the key and the Authorization header (each
    # fails its batch of 4 queries: an error recorded for each); the others are answered.
    with FakeOpenAIServer(reply=lambda body: "A", fail=lambda n: 400 if n in (0, 9) else None, fail_body=key_refused_body) as server:
        model = f"openai:m@{server.base_url}"
        first = machine.run(*argv, "--model", model)
        assert first.returncode == 0, first.stderr[-3000:]
        sent = {k.lower(): v for k, v in server.headers[0].items()}
        assert sent["authorization"] == f"Bearer {OPENAI_KEY}"  # the key planted is the key used
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    errors = [r["error"] for r in records if r.get("error")]
    assert 0 < len(errors) < len(records) and all("Incorrect API key provided: [REDACTED]" in e and "Authorization: [REDACTED]" in e for e in errors), errors[:2]
    # A damaged line: moved aside to records.damaged.jsonl by the rerun, which retries the failed
    # queries against the same address (the same model); its first request fails the same way again.
    lines = (out / "records.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][: len(lines[1]) // 2] + b"\n"
    (out / "records.jsonl").write_bytes(b"".join(lines))
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    with FakeOpenAIServer(reply=lambda body: "A", fail=lambda n: 400 if n == 0 else None, fail_body=key_refused_body, port=port) as again:
        second = machine.run(*argv, "--model", model)
        assert second.returncode == 0, second.stderr[-3000:]
        assert again.count >= 1
    assert (out / "records.damaged.jsonl").is_file()
    # A server that refuses the key (401, quoting it): the run stops at once, here with --debug's
    # traceback (TEMROBBENCH_DEBUG=1), which prints more than the one line
    # (tests/temrobbench/evaluation/test_eval_trust.py checks that line).
    with FakeOpenAIServer(reply=lambda body: "A", fail=lambda n: 401, fail_body=key_refused_body) as refusing:
        refused = machine.run(*eval_argv(tmp_path / "eval-refused"), "--model", f"openai:m@{refusing.base_url}", TEMROBBENCH_DEBUG="1")
        assert refused.returncode != 0 and "Traceback" in refused.stderr and "the server refused the API key" in refused.stderr, refused.stderr[-3000:]
        assert refusing.count >= 1
    report = machine.run("temrobbench", "report", str(out), "--data", str(bench))
    assert report.returncode == 0, report.stderr[-3000:]
    assert "[REDACTED]" in (out / "report.html").read_text()
    machine.check({"eval/.lock", "eval/records.jsonl", "eval/records.damaged.jsonl", "eval/run.json", "eval/metrics.json", "eval/report.html",
                   "eval/report.md", "eval/benchmark.json", "eval-refused/records.jsonl", "eval-refused/run.json"})


# ----------------------------------------------------------------------------------------------
# panodpo prepare --perturber openai
# ----------------------------------------------------------------------------------------------


def _media(tiny_benchmark, root: Path, count: int) -> tuple[Path, list[dict]]:
    media = root / "media"
    media.mkdir()
    rows = []
    for i, video in enumerate(sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))[:count]):
        shutil.copy(video, media / f"v{i}.mp4")
        rows.append({"id": f"r{i}", "video": f"v{i}.mp4", **ROW})
    return media, rows


def _misleading(body: dict) -> str:
    return "The man is clearly painting a wall. " + body["messages"][1]["content"].split("Question: ")[1].split("\n")[0]


def test_prepare_with_the_openai_perturber_writes_no_secret(tiny_benchmark, tmp_path):
    machine = Machine(tmp_path)
    media, rows = _media(tiny_benchmark, tmp_path, 4)
    jsonl, out = tmp_path / "dpo.jsonl", tmp_path / "prepared"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["panodpo", "prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(out), "--perturber", "openai",
            "--captioner", "none", "--max-concurrency", "1", "--materialize-rejected-videos", "--num-frames", "2"]
    # Every other request: a 400 quoting the key and the header; that row fails, its message recorded.
    with FakeOpenAIServer(reply=_misleading, fail=lambda n: 400 if n % 2 == 0 else None, fail_body=key_refused_body) as server:
        first = machine.run(*argv, "--base-url", server.base_url)
        assert first.returncode == 0, first.stderr[-3000:]
        assert {k.lower(): v for k, v in server.headers[0].items()}["authorization"] == f"Bearer {OPENAI_KEY}"
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["num_rows_prepared"] == 2 and report["skipped"] == {"perturbation_failed": 2}
    assert all("Incorrect API key provided: [REDACTED]" in r["message"] for r in report["skipped_rows"]), report["skipped_rows"]
    # The rerun retries the failed rows against a server refusing the key (401, quoting it): one
    # line, exit 2; and with --debug's traceback too.
    with FakeOpenAIServer(reply=_misleading, fail=lambda n: 401, fail_body=key_refused_body) as server:
        refused = machine.run(*argv, "--base-url", server.base_url)
        assert refused.returncode == 2 and "refused the request" in refused.stderr, refused.stderr[-3000:]
        traced = machine.run(*argv, "--base-url", server.base_url, TEMROBBENCH_DEBUG="1")
        assert traced.returncode != 0 and "Traceback" in traced.stderr, traced.stderr[-3000:]
    # And a last rerun that finishes every row.
    with FakeOpenAIServer(reply=_misleading) as server:
        finished = machine.run(*argv, "--base-url", server.base_url)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert json.loads((out / "prepare_report.json").read_text())["num_rows_prepared"] == 4
    machine.check({"prepared/.lock", "prepared/.prepare/rejected_prompts.jsonl", "prepared/prepare_report.json", "prepared/README.md",
                   "prepared/data/train-*.parquet", "prepared/videos/r0.mp4", "prepared/rejected_videos/r0.mp4"})


# ----------------------------------------------------------------------------------------------
# panodpo train --hub_token ... --save_steps 1
# ----------------------------------------------------------------------------------------------


def test_train_with_a_hub_token_writes_no_secret(tiny_benchmark, tmp_path):
    from panodpo.data.prepare import prepare_dpo_data
    from temrobbench.tiny_models import save_tiny_qwen2vl

    machine = Machine(tmp_path)
    media, rows = _media(tiny_benchmark, tmp_path, 2)
    (tmp_path / "dpo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prepare_dpo_data(tmp_path / "dpo.jsonl", media, tmp_path / "data", progress=False)
    save_tiny_qwen2vl(tmp_path / "model", seed=1)
    out = tmp_path / "out"
    # The token flag comes first: the lock file's command line (cut at 300 characters) holds it.
    argv = ["panodpo", "train", "--model", str(tmp_path / "model"), "--data", str(tmp_path / "data"), "--output_dir", str(out),
            "--per_device_train_batch_size", "2", "--num_frames", "2", "--report_to", "none", "--gradient_checkpointing", "false",
            "--lora_r", "4", "--dtype", "float32", "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", "1",
            "--hub_model_id", "me/tiny-panodpo", "--precompute_ref_log_probs", "true"]
    first = machine.run(*argv[:2], "--hub_token", HUB_TOKEN, *argv[2:], "--max_steps", "2")
    assert first.returncode == 0, first.stderr[-4000:]
    # A resumed run, the token given in the --flag=value form.
    resumed = machine.run(*argv[:2], f"--hub_token={HUB_TOKEN}", *argv[2:], "--max_steps", "3", "--resume_from_checkpoint", "last")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "--hub_token=[REDACTED]" in (out / ".lock").read_text()  # the last run's command line, its token redacted
    read = machine.check({"out/.lock", "out/panodpo_run.json", "out/README.md", "out/training_args.bin", "out/adapter_model.safetensors",
                          "out/adapter_config.json", "out/checkpoint-1/trainer_state.json", "out/checkpoint-1/training_args.bin",
                          "out/checkpoint-1/README.md", "out/checkpoint-3/optimizer.pt", "out/checkpoint-3/rng_state.pth"})
    assert any(p.startswith("hf-home/datasets/") and p.endswith(".arrow") for p in read), sorted(read)  # the datasets and reference-log-prob caches
    import torch

    args = torch.load(out / "checkpoint-3" / "training_args.bin", weights_only=False)
    assert args.hub_token is None and args.hub_model_id == "me/tiny-panodpo"  # the token dropped, the rest kept
