"""panodpo prepare stores (and encodes) each distinct video once, and frame folders carry their
frame rate (``--frames-fps``) into the prepared videos and into prompt timestamps."""

from __future__ import annotations

import json
import re
import shutil

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

import panodpo.data.prepare as prepare_module
from panodpo.data.prepare import PrepareConfig, prepare_dpo_data
from panodpo.media import DEFAULT_FRAMES_FPS, load_frames
from temrobbench.evaluation.frames import decode_frames
from temrobbench.processor_inputs import video_kwargs
from temrobbench.prompt import video_chat_messages
from temrobbench.utils.errors import UserError
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

ROW = {"prompt": "<video>\nWhat happens?", "chosen": "It gets brighter.", "rejected": "It gets darker."}


@pytest.fixture()
def source(tiny_benchmark, tmp_path):
    """ShareGPTVideo's shape: ids `<video>_<n>`, several rows per video (one given as ./a.mp4)."""
    media = tmp_path / "media"
    (media / "train_300k").mkdir(parents=True)
    shutil.copy(sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))[0], media / "a.mp4")
    frames = media / "train_300k" / "v_f"
    frames.mkdir()
    for i in range(6):
        cv2.imwrite(str(frames / f"f_{i}.jpg"), np.full((48, 64, 3), 30 * i, np.uint8))
    rows = [{"id": f"v_f_{n}", "video": "train_300k/v_f", **ROW} for n in range(3)]
    rows += [{"id": "a_0", "video": "a.mp4", **ROW}, {"id": "a_1", "video": "./a.mp4", **ROW}]
    jsonl = tmp_path / "dpo.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return jsonl, media


def test_one_file_per_distinct_video_encoded_once(source, tmp_path, monkeypatch):
    jsonl, media = source
    encodes = []
    real_write = prepare_module.write_video
    monkeypatch.setattr(prepare_module, "write_video", lambda *a, **k: (encodes.append(a[2]), real_write(*a, **k))[1])
    out = tmp_path / "prepared"
    report = prepare_dpo_data(jsonl, media, out, PrepareConfig(frames_fps=2.0), progress=False)
    assert report["num_rows_prepared"] == 5
    assert len(encodes) == 1  # the frames folder, once for its 3 rows
    stored = sorted(p.name for p in (out / "videos").iterdir() if not p.name.startswith("."))
    assert stored == ["a_0.mp4", "v_f_0.mp4"]  # named after the first row that uses each
    rows = {r["id"]: r for shard in sorted((out / "data").glob("train-*.parquet")) for r in pq.read_table(shard).to_pylist()}
    paths = {i: r["video"]["path"] for i, r in rows.items()}
    assert paths["v_f_0"] == paths["v_f_1"] == paths["v_f_2"] != paths["a_0"] == paths["a_1"]  # keyed on the resolved path
    assert all(r["video"]["bytes"] == (out / r["video"]["path"]).read_bytes() for r in rows.values())  # embedded per row, as before
    # Rerun: nothing encoded again.
    encodes.clear()
    prepare_dpo_data(jsonl, media, out, PrepareConfig(frames_fps=2.0), progress=False)
    assert encodes == []
    # Another frame rate is another encoding (never a stale file at the old rate).
    prepare_dpo_data(jsonl, media, out, PrepareConfig(frames_fps=4.0), progress=False)
    assert len(encodes) == 1 and encodes[0].name.startswith("v_f_0-") and encodes[0].name != "v_f_0.mp4"
    rows = {r["id"]: r for shard in sorted((out / "data").glob("train-*.parquet")) for r in pq.read_table(shard).to_pylist()}
    assert rows["v_f_1"]["video"]["path"] == f"videos/{encodes[0].name}"


def test_frames_fps_sets_the_timing_of_prepared_videos_and_prompts(source, tmp_path):
    from tests.support.tiny_families import build_tiny

    jsonl, media = source
    out = tmp_path / "prepared"
    prepare_dpo_data(jsonl, media, out, PrepareConfig(frames_fps=2.0), progress=False)
    encoded = out / "videos" / "v_f_0.mp4"
    from_file = decode_frames(str(encoded), 4)
    assert from_file.video_metadata["fps"] == pytest.approx(2.0) and from_file.video_metadata["total_num_frames"] == 6
    from_folder = load_frames(str(media / "train_300k" / "v_f"), 4, frames_fps=2.0)
    assert from_folder.video_metadata == {"fps": 2.0, "total_num_frames": 6, "frames_indices": from_file.video_metadata["frames_indices"]}
    assert load_frames(str(media / "train_300k" / "v_f"), 4).video_metadata["fps"] == DEFAULT_FRAMES_FPS

    _, processor = build_tiny("qwen3_vl")  # prints `<t seconds>` from the frames' timing
    text = processor.apply_chat_template(video_chat_messages("Q?"), add_generation_prompt=True, tokenize=False)

    def stamps(frames):
        ids = processor(text=[text], **video_kwargs([frames]), return_tensors="pt")["input_ids"][0]
        return re.findall(r"<([0-9.]+) seconds>", processor.tokenizer.decode(ids))

    at_two = stamps(from_file)
    assert at_two == stamps(from_folder)  # the prepared video and its folder: the same timestamps
    assert at_two != stamps(load_frames(str(media / "train_300k" / "v_f"), 4, frames_fps=1.0))
    last_frame_time = from_file.video_metadata["frames_indices"][-1] / 2.0
    assert float(at_two[-1]) <= last_frame_time + 1e-6


def test_frames_fps_flag(tmp_path):
    from panodpo.cli import _prepare_parser, _validate_prepare

    base = ["--dpo-jsonl", "x.jsonl", "--media", str(tmp_path), "--out", str(tmp_path / "o")]
    assert _prepare_parser().parse_args(base).frames_fps == DEFAULT_FRAMES_FPS
    assert _prepare_parser().parse_args(base + ["--frames-fps", "2"]).frames_fps == 2.0
    with pytest.raises(UserError, match="frames-fps"):
        _validate_prepare(_prepare_parser().parse_args(base + ["--frames-fps", "0"]))
