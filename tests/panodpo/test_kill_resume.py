"""kill -9 at chosen points of `panodpo prepare` and `panodpo train`, then the same command again
(issue 22): the rerun's outputs equal an uninterrupted run's, and the killed run's lock does not
block it.

The kill points are real functions of the program, wrapped by the test-only ``sitecustomize`` of
tests/support/fault_injection.py (as tests/temrobbench/cli/test_kill_resume.py does for build and
eval), so every point is hit deterministically, however fast the machine.

Two gaps these tests found are fixed: a rerun of prepare removes the killed run's ``.partial-*``
temporaries, and a resume from the checkpoint at ``max_steps`` saves it instead of training a step
beyond it (transformers 5.24 does not stop there mid-epoch).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.support.fault_injection import hook_dir, run_command

from panodpo.cli import checkpoint_problem
from temrobbench.utils.files import LOCK_NAME

ROW = {"prompt": "<video>\nWhat is done first?", "chosen": "The bread is cut first.", "rejected": "Ham is added first."}


def _leftovers(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob(".partial-*"))


# ----------------------------------------------------------------------------------------------
# prepare --perturber template
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepare_source(tiny_benchmark, tmp_path_factory):
    """Three video files, a folder of frames (encoded by prepare) and a row whose video is missing."""
    root = tmp_path_factory.mktemp("kill_prepare_source")
    media = root / "media"
    media.mkdir()
    videos = sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))
    rows = []
    for i, video in enumerate(videos[:3]):
        shutil.copy(video, media / f"v{i}.mp4")
        rows.append({"id": f"r{i}", "video": f"v{i}.mp4", **ROW, "answer": "cut bread", "chosen_score": 5, "rejected_score": 1})
    frames = media / "frames_f"
    frames.mkdir()
    for i in range(6):
        cv2.imwrite(str(frames / f"f_{i}.jpg"), np.full((48, 64, 3), 30 * i, np.uint8))
    rows.insert(2, {"id": "frames", "video": "frames_f", "prompt": "How does the light change?", "chosen": "It gets brighter.", "rejected": "It gets darker."})
    rows.append({"id": "missing", "video": "missing.mp4", **ROW})  # reported as skipped, in the report and the card
    jsonl = root / "dpo.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return jsonl, media


def prepare_argv(source, out: Path) -> list[str]:
    jsonl, media = source
    return ["panodpo", "prepare", "--dpo-jsonl", str(jsonl), "--media", str(media), "--out", str(out), "--materialize-rejected-videos",
            "--num-frames", "4"]


@pytest.fixture(scope="module")
def prepare_reference(prepare_source, tmp_path_factory):
    out = tmp_path_factory.mktemp("kill_prepare_reference") / "prepared"
    result = run_command(prepare_argv(prepare_source, out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "prepare_report.json").read_text())["num_rows_prepared"] == 4
    return out


VOLATILE_REPORT_FIELDS: tuple[str, ...] = ()  # none today: the report holds no time, pid or temporary path


def _prepared(out: Path) -> dict[str, object]:
    """Everything a user of the prepared data sees, comparably: each shard's rows read with pyarrow
    (embedded videos included), the report (minus volatile fields), the card, the video files and
    the misleading-question cache a later rerun resumes from."""
    state: dict[str, object] = {}
    for shard in sorted((out / "data").glob("train-*.parquet")):  # the card's data_files
        state[shard.relative_to(out).as_posix()] = pq.read_table(shard).to_pylist()
    report = json.loads((out / "prepare_report.json").read_text())
    state["prepare_report.json"] = {k: v for k, v in report.items() if k not in VOLATILE_REPORT_FIELDS}
    state["README.md"] = (out / "README.md").read_text()
    for folder in ("videos", "rejected_videos"):
        state[folder] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / folder).glob("*")) if not p.name.startswith(".partial-")}
    cache = (out / ".prepare" / "rejected_prompts.jsonl").read_text().splitlines()
    state["cache"] = sorted(cache)
    return state


def _finished(out: Path, folder: str) -> list[str]:
    return sorted(p.name for p in (out / folder).glob("*") if not p.name.startswith(".partial-"))


def _partials(out: Path, folder: str) -> bool:
    return any((out / folder).glob(".partial-*"))


PREPARE_POINTS = {
    # the first misleading question cached (fsynced), the others not made
    "after-first-question": ("panodpo.data.misleading_questions:MisleadingQuestionCache.add:after:1",
                             lambda out: len((out / ".prepare" / "rejected_prompts.jsonl").read_text().splitlines()) == 1 and not (out / "videos").exists()),
    # storing the videos: the second video file linked under its temporary name, not yet renamed
    "mid-video": ("panodpo.data.prepare:os.link:after:2",
                  lambda out: _finished(out, "videos") == ["r0.mp4"] and _partials(out, "videos") and not (out / "data").exists()),
    # encoding the frames folder's video, frame 3 of 6 (after r0's and r1's 4-frame rejected videos)
    "mid-encode": ("temrobbench.build.video_io:rgb_to_yuv420:after:11",
                   lambda out: _finished(out, "videos") == ["r0.mp4", "r1.mp4"] and _finished(out, "rejected_videos") == ["r0.mp4", "r1.mp4"]),
    # writing the Parquet shard: its first row group written under the temporary name, no footer
    "mid-shard": ("pyarrow.parquet:ParquetWriter.write_table:after:1",
                  lambda out: _partials(out, "data") and not list((out / "data").glob("train-*.parquet")) and not (out / "prepare_report.json").exists()),
    # the shard and the report written, the card not yet
    "before-card": ("panodpo.data.prepare:_write_card:before:1",
                    lambda out: (out / "prepare_report.json").is_file() and not (out / "README.md").exists()),
}


@pytest.mark.parametrize("point", PREPARE_POINTS)  # none slow: 4-8 s each (three prepares of 5 rows)
def test_prepare_killed_then_rerun_equals_an_uninterrupted_prepare(point, prepare_source, prepare_reference, tmp_path):
    kill_at, state_at_kill = PREPARE_POINTS[point]
    out = tmp_path / "prepared"
    argv = prepare_argv(prepare_source, out)
    killed = run_command(argv, kill_at, hook_dir(tmp_path))
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-3000:])
    assert state_at_kill(out), f"the kill did not happen at {point}"
    assert (out / LOCK_NAME).is_file()  # the dead run's lock file stays; its flock died with it

    rerun = run_command(argv)  # not refused: the folder is an earlier prepare, and its lock is free
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _prepared(out) == _prepared(prepare_reference)
    # A half-written file never carries a final name, so nothing reads or publishes it.
    from temrobbench.cli.commands.push import push_folder

    assert not any(".partial-" in p for p in push_folder(out, "me/panodpo-data", dry_run=True))
    # And a finished prepare reruns to the same outputs.
    assert run_command(argv).returncode == 0 and _prepared(out) == _prepared(prepare_reference)


def test_prepare_rerun_removes_the_killed_runs_temporaries(prepare_source, tmp_path):
    out = tmp_path / "prepared"
    argv = prepare_argv(prepare_source, out)
    killed = run_command(argv, "pyarrow.parquet:ParquetWriter.write_table:after:1", hook_dir(tmp_path))
    assert killed.returncode == -9 and _partials(out, "data")
    assert run_command(argv).returncode == 0
    assert _leftovers(out) == []


# ----------------------------------------------------------------------------------------------
# train --save_steps 1 --resume_from_checkpoint last
# ----------------------------------------------------------------------------------------------

MAX_STEPS = 3


@pytest.fixture(scope="module")
def train_source(tiny_benchmark, tmp_path_factory):
    """Prepared data of two rows and a tiny Qwen2-VL saved as a folder (as tests/panodpo/test_trust.py)."""
    from panodpo.data.prepare import prepare_dpo_data
    from temrobbench.tiny_models import save_tiny_qwen2vl

    root = tmp_path_factory.mktemp("kill_train_source")
    media = root / "media"
    media.mkdir()
    rows = []
    for i, video in enumerate(sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))[:2]):
        shutil.copy(video, media / f"v{i}.mp4")
        rows.append({"id": f"r{i}", "video": f"v{i}.mp4", **ROW})
    (root / "dpo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prepare_dpo_data(root / "dpo.jsonl", media, root / "data", progress=False)
    save_tiny_qwen2vl(root / "model", seed=1)
    return root


def train_argv(root: Path, out: Path, *extra: str) -> list[str]:
    # lora_dropout stays at its default (0.05): the resumed run must restore the RNG state too.
    return ["panodpo", "train", "--model", str(root / "model"), "--data", str(root / "data"), "--output_dir", str(out),
            "--per_device_train_batch_size", "1", "--num_frames", "2", "--report_to", "none", "--gradient_checkpointing", "false",
            "--lora_r", "4", "--dtype", "float32", "--logging_steps", "1", "--learning_rate", "5e-3", "--max_steps", str(MAX_STEPS),
            "--save_strategy", "steps", "--save_steps", "1", *extra]


@pytest.fixture(scope="module")
def train_reference(train_source, tmp_path_factory):
    out = tmp_path_factory.mktemp("kill_train_reference") / "out"
    result = run_command(train_argv(train_source, out), timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def _adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def _losses(folder: Path) -> list[tuple[int, float]]:
    state = json.loads((folder / "trainer_state.json").read_text())
    return [(e["step"], e["loss"]) for e in state["log_history"] if "loss" in e]


TRAIN_POINTS = {
    # checkpoint-1 complete (trainer_state.json written), step 2 not begun
    "after-checkpoint": ("transformers.trainer:Trainer._save_checkpoint:after:1", None,
                         lambda out: (out / "checkpoint-1" / "trainer_state.json").is_file() and not (out / "checkpoint-2").exists()),
    # saving checkpoint-2: its adapter and optimizer written, its RNG state and trainer_state.json not
    "mid-save": ("transformers.trainer:Trainer._save_rng_state:before:2", "checkpoint-2: no trainer_state.json",
                 lambda out: (out / "checkpoint-2" / "adapter_model.safetensors").is_file() and not (out / "checkpoint-2" / "trainer_state.json").exists()),
    # the final save: every checkpoint complete, the final adapter written (Trainer._save's 4th
    # call, after one per checkpoint), the card not yet rewritten for it
    "mid-final-save": ("transformers.trainer:Trainer._save:after:4", None,
                       lambda out: (out / f"checkpoint-{MAX_STEPS}" / "trainer_state.json").is_file() and (out / "adapter_model.safetensors").is_file()),
}
# Resuming from the checkpoint at max_steps (what `last` picks after a kill in the final save, or
# on rerunning a finished run's command) trains one step more when max_steps ends mid-epoch:
# transformers' Trainer skips the epoch's done batches and runs the rest without checking
# global_step >= max_steps first. Here (2 rows, batch 1, 3 steps) that is step 4 and a
# checkpoint-4; the linear schedule's learning rate is 0 by then, so only the optimizer state, the
# checkpoints and the card's step count differ (with --lr_scheduler_type constant the weights do).
MARKS: dict = {}  # none slow: about 10 s each (two runs of 3 tiny steps)


@pytest.mark.parametrize("point", [pytest.param(p, marks=MARKS[p]) if p in MARKS else p for p in TRAIN_POINTS])
def test_train_killed_then_resumed_equals_an_uninterrupted_run(point, train_source, train_reference, tmp_path):
    import torch

    kill_at, skipped_checkpoint, state_at_kill = TRAIN_POINTS[point]
    out = tmp_path / "out"
    killed = run_command(train_argv(train_source, out), kill_at, hook_dir(tmp_path), timeout=600)
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-4000:])
    assert state_at_kill(out), f"the kill did not happen at {point}"
    assert (out / LOCK_NAME).is_file() and (out / "panodpo_run.json").is_file()

    resumed = run_command(train_argv(train_source, out, "--resume_from_checkpoint", "last"), timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-4000:]  # the dead run's lock does not block it
    skipped = [line for line in resumed.stderr.splitlines() if line.startswith("skipped incomplete checkpoint")]
    if skipped_checkpoint:
        name, problem = skipped_checkpoint.split(": ")
        assert skipped == [f"skipped incomplete checkpoint ({out / name}): {problem}, left by an interrupted run"], resumed.stderr[-4000:]
    else:
        assert skipped == [], resumed.stderr[-4000:]
    # Resumed from the newest complete checkpoint, to the uninterrupted run's weights (as
    # tests/panodpo/test_trainer.py's in-process resume: allclose at 1e-6; on one CPU thread they are equal).
    final, reference = _adapter(out), _adapter(train_reference)
    assert final.keys() == reference.keys() and final
    first = _adapter(train_reference / "checkpoint-1")
    assert max((first[n] - t).abs().max().item() for n, t in reference.items()) > 1e-4  # steps 2-3 moved the weights: the check means something
    for name, tensor in reference.items():
        assert torch.allclose(final[name], tensor, rtol=0, atol=1e-6), (name, (final[name] - tensor).abs().max().item())
    last = out / f"checkpoint-{MAX_STEPS}"
    steps, losses = zip(*_losses(last))
    reference_steps, reference_losses = zip(*_losses(train_reference / f"checkpoint-{MAX_STEPS}"))
    assert steps == reference_steps == tuple(range(1, MAX_STEPS + 1))
    assert losses == pytest.approx(reference_losses, rel=1e-5)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == sorted(p.name for p in train_reference.glob("checkpoint-*"))
    for checkpoint in out.glob("checkpoint-*"):  # a torn checkpoint was written again, whole
        assert checkpoint_problem(checkpoint) is None and (checkpoint / "rng_state.pth").is_file()
    for name in ("adapter_config.json", "README.md", "panodpo_run.json"):
        assert (out / name).read_text() == (train_reference / name).read_text().replace(str(train_reference), str(out)), name
