"""``panodpo prepare``: ShareGPTVideo-DPO rows -> a Hub-layout preference dataset with q'.

Output folder::

    README.md                     dataset card (YAML configs: load_dataset(OUT) works)
    prepare_report.json           counts and ids of skipped rows, by reason
    data/train-*.parquet          id, video (embedded), prompt, chosen, rejected, rejected_prompt, answer, scores
                                  (``rejected_prompt`` holds the misleading question q'; the column keeps
                                  its name: it is part of the data layout)
    videos/<id>.<ext>             each distinct video once, keyed on its resolved path under --media and
                                  named after the first row that uses it (rows that share a video point to
                                  one file; frame folders are encoded once, at --frames-fps)
    rejected_videos/<id>.mp4      with --materialize-rejected-videos (epoch 0's v', one per row)
    .prepare/rejected_prompts.jsonl   resumable cache of q'
    .prepare/videos.jsonl         which file each distinct source video is stored as

Rerunning skips rows whose q' and video are done; nothing finished is redone or lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import datasets
from tqdm.auto import tqdm

from temrobbench.source.coin import is_safe_video_id
from temrobbench.utils.files import JsonlAppender, atomic_path, contained_path, read_jsonl_lines, truncate_torn_tail
from temrobbench.utils.redaction import redact_tree
from temrobbench.build.video_io import EncodeSettings, output_size, write_video

from panodpo.media import DEFAULT_FRAMES_FPS, MediaOutsideRoot, frame_files, load_frames
from panodpo.rejected_videos import RejectedVideoSettings
from panodpo.data.misleading_questions import OpenAIMisleadingQuestions, MisleadingQuestionCache, TemplateMisleadingQuestions
from panodpo.data.sharegptvideo import DpoRow, RowProblem, clean_prompt, read_rows

SHARD_ROWS = 2000


@dataclass
class PrepareConfig:
    # Who writes the misleading questions q': template | openai (named as the --perturber flag).
    perturber: str = "template"
    openai_model: str = "gpt-4o-mini"
    base_url: str | None = None
    max_concurrency: int = 8
    max_retries: int = 5
    materialize_rejected_videos: bool = False
    rejected_video: RejectedVideoSettings = field(default_factory=RejectedVideoSettings)  # as in training
    num_frames: int = 8
    seed: int = 0
    # The frame rate of frame folders (their frames 1/fps seconds apart): they are encoded at it, so the
    # prepared videos' timing, and the timestamps of families that print them, follow it. 1 fps is an
    # assumption, not verified against ShareGPTVideo's extractor (docs/training.md).
    frames_fps: float = DEFAULT_FRAMES_FPS


def dataset_features(with_rejected_video: bool) -> datasets.Features:
    features = {
        "id": datasets.Value("string"),
        "video": datasets.Video(),
        "prompt": datasets.Value("string"),
        "chosen": datasets.Value("string"),
        "rejected": datasets.Value("string"),
        "rejected_prompt": datasets.Value("string"),
        "answer": datasets.Value("string"),
        "chosen_score": datasets.Value("float64"),
        "rejected_score": datasets.Value("float64"),
    }
    if with_rejected_video:
        features["rejected_video"] = datasets.Video()
    return datasets.Features(features)


def file_stem(row_id: str) -> str:
    """A file name for a row id (ids with path separators or dots get a hash)."""
    return row_id if is_safe_video_id(row_id) else "id-" + hashlib.sha1(row_id.encode()).hexdigest()[:16]


def _misleading_question_source(config: PrepareConfig):
    if config.perturber == "template":
        return TemplateMisleadingQuestions()
    if config.perturber == "openai":
        return OpenAIMisleadingQuestions(config.openai_model, config.base_url, max_concurrency=config.max_concurrency, max_retries=config.max_retries)
    raise ValueError(f"unknown perturber {config.perturber!r}; valid: template, openai")


class StoredVideos:
    """``.prepare/videos.jsonl``: the file each distinct source video is stored as, keyed on its
    resolved path under the media folder (and, for a frames folder, the frame rate it is encoded
    at). A source is named after the first row that uses it (a name already given to another
    source gets a hash of the key); the line is appended (fsynced) before the file is written, so a
    rerun, also after a kill, gives every source the name it had, and never another source's file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.names: dict[str, str] = {}
        truncate_torn_tail(self.path)
        for entry in read_jsonl_lines(self.path):
            if isinstance(entry.get("source"), str) and isinstance(entry.get("name"), str):
                self.names.setdefault(entry["source"], entry["name"])

    def name(self, key: str, wanted: str) -> str:
        if key not in self.names:
            taken = set(self.names.values())
            name = wanted if wanted not in taken else f"{wanted}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
            with JsonlAppender(self.path) as out:
                out.write({"source": key, "name": name})
            self.names[key] = name
        return self.names[key]


def _store_video(row: DpoRow, media_root: Path, out: Path, config: PrepareConfig, stored: StoredVideos | None = None) -> str:
    """``videos/<name>.<ext>`` for the row's video, keyed on its resolved path under
    ``media_root`` (a hard link or copy of a video file, or a frames folder encoded as MP4 at
    ``config.frames_fps``): rows sharing a video (ShareGPTVideo's ``<video>_<n>`` ids) share one
    file, encoded once. Returns the path relative to ``out``. Nothing outside ``media_root`` is read
    or linked (:class:`~panodpo.media.MediaOutsideRoot`), even if it changed since it was checked."""
    source = contained_path(media_root, row.video)
    if source is None:
        raise MediaOutsideRoot(row.video, media_root)
    stored = stored or StoredVideos(out / ".prepare" / "videos.jsonl")
    key = Path(os.path.relpath(source, Path(media_root).resolve())).as_posix()
    if source.is_dir():
        name = stored.name(f"{key}@{config.frames_fps!r}fps", file_stem(row.id))
        target = out / "videos" / f"{name}.mp4"
        if not target.exists():
            files = frame_files(source, media_root)
            if not files:
                raise FileNotFoundError(f"{source}: no frame images")
            first = cv2.imread(str(files[0]))
            w, h = output_size(first.shape[1], first.shape[0], 360)
            frames = (cv2.resize(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), (w, h), interpolation=cv2.INTER_AREA) for f in files)
            write_video(frames, config.frames_fps, target, EncodeSettings(max_height=h))
    else:
        name = stored.name(key, file_stem(row.id))
        target = out / "videos" / f"{name}{source.suffix.lower()}"
        if not target.exists():
            with atomic_path(target) as tmp:
                os.remove(tmp)
                try:
                    os.link(source, tmp)
                except OSError:
                    shutil.copyfile(source, tmp)
    return target.relative_to(out).as_posix()


def _store_rejected_video(row: DpoRow, media_root: Path, out: Path, config: PrepareConfig) -> str:
    """``rejected_videos/<id>.mp4``: the row's v' of epoch 0 (what a precomputed reference scores),
    spanning the source's duration (its sampled frames' rate: frames / duration)."""
    target = out / "rejected_videos" / f"{file_stem(row.id)}.mp4"
    if not target.exists():
        frames = load_frames(row.video, config.num_frames, media_root, frames_fps=config.frames_fps)
        rejected = config.rejected_video.make(frames, seed=config.seed, example_id=row.id, epoch=0)
        h, w = rejected[0].shape[:2]
        ow, oh = output_size(w, h, h)
        timing = getattr(frames, "video_metadata", None) or {}
        fps = len(frames) * timing["fps"] / timing["total_num_frames"] if timing.get("fps") and timing.get("total_num_frames") else 1.0
        write_video([cv2.resize(f, (ow, oh)) for f in rejected], fps, target, EncodeSettings(max_height=oh))
    return target.relative_to(out).as_posix()


def prepare_dpo_data(
    dpo_jsonl: str | os.PathLike,
    media: str | os.PathLike,
    out: str | os.PathLike,
    config: PrepareConfig | None = None,
    captions: dict[str, str] | None = None,
    progress: bool = True,
    caption_problems: list[RowProblem] | None = None,
) -> dict[str, Any]:
    """Prepare PanoDPO training data (see the module docstring); returns the report.

    ``caption_problems``: lines of the captions file that were skipped (see
    :func:`~panodpo.data.sharegptvideo.read_captions`), reported with the rows'.
    """
    config = config or PrepareConfig()
    out, media_root = Path(out), Path(media)
    out.mkdir(parents=True, exist_ok=True)
    problems: list[RowProblem] = []
    rows: list[DpoRow] = []
    for entry in read_rows(dpo_jsonl, media_root):
        (problems if isinstance(entry, RowProblem) else rows).append(entry)
    rows_file_problems = len(problems)  # rows read but skipped (the later problems are of rows already counted)
    problems.extend(caption_problems or [])

    cache = MisleadingQuestionCache(out / ".prepare" / "rejected_prompts.jsonl")
    todo = [row for row in rows if row.id not in cache.values]
    if todo:
        writer = _misleading_question_source(config)
        bar = tqdm(total=len(todo), desc=f"misleading questions ({writer.name})", disable=not progress)

        def on_result(row: DpoRow, value: str | None, error: str | None) -> None:
            if value is not None:
                cache.add(row.id, value, writer.name)
            else:
                problems.append(RowProblem(row.id, "perturbation_failed", error or "no result"))
            bar.update(1)

        try:  # a MisleadingQuestionsUnusable error stops the run; what is cached stays for the next one
            writer.misleading_questions(todo, captions or {}, on_result)
        finally:
            bar.close()

    records = []
    stored = StoredVideos(out / ".prepare" / "videos.jsonl")
    for row in tqdm([r for r in rows if r.id in cache.values], desc="videos", disable=not progress):
        try:
            video = _store_video(row, media_root, out, config, stored)
            rejected_video = _store_rejected_video(row, media_root, out, config) if config.materialize_rejected_videos else None
        except MediaOutsideRoot as err:
            problems.append(RowProblem(row.id, "outside_media", f"row {row.id!r}: {err}; not read"))
            continue
        except (OSError, ValueError, RuntimeError) as err:
            problems.append(RowProblem(row.id, "bad_media", f"row {row.id!r}: {err}"))
            continue
        record = {
            "id": row.id, "video": video, "prompt": clean_prompt(row.prompt), "chosen": row.chosen, "rejected": row.rejected,
            "rejected_prompt": cache.values[row.id], "answer": row.answer,
            "chosen_score": _float(row.scores.get("chosen_score")), "rejected_score": _float(row.scores.get("rejected_score")),
        }
        if rejected_video:
            record["rejected_video"] = rejected_video
        records.append(record)

    # With no row prepared there is nothing to publish: only the report says why (the command fails).
    shards = _write_parquet(out, records, config.materialize_rejected_videos) if records else []
    report = {
        "source": str(dpo_jsonl),
        "perturber": config.perturber if config.perturber == "template" else f"openai:{config.openai_model}",
        "num_rows_read": len(rows) + rows_file_problems,
        "num_rows_prepared": len(records),
        "skipped": dict(sorted(Counter(p.reason for p in problems).items())),
        "skipped_rows": [{"id": p.row_id, "reason": p.reason, "message": p.message} for p in problems],
        "rejected_videos_materialized": config.materialize_rejected_videos,
        "shards": shards,
    }
    report = redact_tree(report)  # a server's error text may quote a key or an Authorization header
    with atomic_path(out / "prepare_report.json") as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2), encoding="utf-8")
    if records:
        _write_card(out, report)
    return report


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _write_parquet(out: Path, records: list[dict], with_rejected_video: bool) -> list[str]:
    from temrobbench.hub.parquet import remove_stale_shards, write_parquet_shards

    total = max(1, -(-len(records) // SHARD_ROWS))
    names = [f"train-{index:05d}-of-{total:05d}.parquet" for index in range(total)]
    shards = [records[index * SHARD_ROWS : (index + 1) * SHARD_ROWS] for index in range(total)]
    media = ("video", "rejected_video") if with_rejected_video else ("video",)
    write_parquet_shards(out / "data", shards, names, dataset_features(with_rejected_video).arrow_schema, out, media, row_group_size=64)
    remove_stale_shards(out / "data", "train-*.parquet", names)
    return names


DATA_FILES = {"default": {"train": "data/train-*.parquet"}}


def prepared_split_files(folder: str | os.PathLike, split: str = "train") -> list[Path]:
    """The Parquet shards of a split of a folder written by ``panodpo prepare`` (the layout's one
    reader; empty when there are none)."""
    return sorted(path for path in Path(folder).glob(f"data/{split}-*.parquet") if path.is_file())


def _write_card(out: Path, report: dict[str, Any]) -> None:
    """The dataset card, with the Hub's ``dataset_info`` and a content fingerprint read from the
    shards, so ``load_dataset`` never serves a cached earlier preparation of the same folder
    (see ``temrobbench.hub.dataset_info.describe_data``)."""
    from temrobbench.hub.card import render_card
    from temrobbench.hub.dataset_info import describe_data

    data = describe_data(out, DATA_FILES, dataset_features(report["rejected_videos_materialized"]))
    text = render_card("dpo_dataset_card.md.j2", num_rows=report["num_rows_prepared"], perturber=report["perturber"], skipped=report["skipped"],
                       rejected_videos=report["rejected_videos_materialized"], repo_id="ORG/NAME",
                       data_files=DATA_FILES["default"], dataset_info_yaml=data["dataset_info_yaml"], fingerprint=data["fingerprints"]["default"])
    with atomic_path(out / "README.md") as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
