"""``panodpo prepare``: ShareGPTVideo-DPO rows -> a Hub-layout preference dataset with q'.

Output folder::

    README.md                     dataset card (YAML configs: load_dataset(OUT) works)
    prepare_report.json           counts and ids of skipped rows, by reason
    data/train-*.parquet          id, video (embedded), prompt, chosen, rejected, rejected_prompt, answer, scores,
                                  caption (``rejected_prompt`` holds the misleading question q'; the column
                                  keeps its name: it is part of the data layout; ``caption`` the caption q'
                                  was written from, null when there was none)
    captions.jsonl                the captions used, one line per distinct video: {video, caption, rows, source}
    videos/<id>.<ext>             each distinct video once, keyed on its resolved path under --media and
                                  named after the first row that uses it (rows that share a video point to
                                  one file; frame folders are encoded once, at --frames-fps)
    rejected_videos/<id>.mp4      with --materialize-rejected-videos (epoch 0's v', one per row)
    .prepare/rejected_prompts.jsonl   resumable cache of q' (each line names its perturber)
    .prepare/captions.jsonl       resumable cache of the captioner's captions (each line names the captioner)
    .prepare/videos.jsonl         which file each distinct source video is stored as

Rerunning skips rows whose q' and video are done, and videos whose caption is done; nothing
finished is redone or lost.

q' the paper's way (appendix B.2), with ``perturber="openai"``: first a caption per distinct video
from a video LMM (``captioner``: ``hf:<id-or-path>`` or ``openai:<model>[@base_url]``; by default
the perturber's own model, GPT-4o), then the chat model writes q' from caption, question and
correct answer. A user's captions (``captions``, by row id) are used as given and spare those rows'
videos the captioner. ``perturber="template"`` (the offline default) uses no caption.
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
from panodpo.data.captions import CAPTION_FRAMES, CAPTION_MAX_TOKENS, CaptionCache, VideoCaptioner
from panodpo.data.misleading_questions import (DEFAULT_PERTURBER_MODEL, OpenAIMisleadingQuestions, MisleadingQuestionCache,
                                               TemplateMisleadingQuestions)
from panodpo.data.sharegptvideo import DpoRow, RowProblem, clean_prompt, read_rows

SHARD_ROWS = 2000


@dataclass
class PrepareConfig:
    # Who writes the misleading questions q': template | openai (named as the --perturber flag).
    perturber: str = "template"
    openai_model: str = DEFAULT_PERTURBER_MODEL  # the paper's GPT-4o
    base_url: str | None = None
    max_concurrency: int = 8
    max_retries: int = 5
    initial_backoff: float = 1.0  # seconds before the first retry (doubling, jittered); perturber and captioner
    # Who captions the videos for the openai perturber (named as the --captioner flag): hf:<id-or-path>,
    # openai:<model>[@base_url], or none; None: the perturber's own model and server (see captioner_spec).
    captioner: str | None = None
    caption_frames: int = CAPTION_FRAMES
    caption_max_tokens: int = CAPTION_MAX_TOKENS
    materialize_rejected_videos: bool = False
    rejected_video: RejectedVideoSettings = field(default_factory=RejectedVideoSettings)  # as in training
    num_frames: int = 8
    seed: int = 0
    # The frame rate of frame folders (their frames 1/fps seconds apart): they are encoded at it, so the
    # prepared videos' timing, and the timestamps of families that print them, follow it. The default is
    # LLaVA-Hound-DPO's own extractor's rate (panodpo.media.DEFAULT_FRAMES_FPS; docs/training.md).
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
        "caption": datasets.Value("string"),
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
        return OpenAIMisleadingQuestions(config.openai_model, config.base_url, max_concurrency=config.max_concurrency, max_retries=config.max_retries,
                                         initial_backoff=config.initial_backoff)
    raise ValueError(f"unknown perturber {config.perturber!r}; valid: template, openai")


def perturber_identity(config: PrepareConfig) -> str:
    """``template`` or ``openai:<model>``: what the report, the card and the q' cache name.

    >>> perturber_identity(PrepareConfig(perturber="openai")), perturber_identity(PrepareConfig())
    ('openai:gpt-4o', 'template')
    """
    return "template" if config.perturber == "template" else f"openai:{config.openai_model}"


def captioner_spec(config: PrepareConfig) -> str:
    """The captioner a prepare uses: ``none`` for the template perturber (it reads no caption);
    for the openai perturber the one given, or by default the perturber's own model and server
    (GPT-4o takes the frames as images).

    >>> captioner_spec(PrepareConfig()), captioner_spec(PrepareConfig(perturber="openai", base_url="http://h:8000/v1"))
    ('none', 'openai:gpt-4o@http://h:8000/v1')
    """
    if config.perturber != "openai":
        return "none"
    if config.captioner is not None:
        return config.captioner
    return f"openai:{config.openai_model}" + (f"@{config.base_url}" if config.base_url else "")


def source_key(row: DpoRow, media_root: Path) -> str:
    """A row's video as its resolved path relative to ``media_root`` (``./a.mp4`` and ``a.mp4``
    are one video): the key of stored videos and of captions. Raises
    :class:`~panodpo.media.MediaOutsideRoot` for a path that leaves ``media_root``."""
    source = contained_path(media_root, row.video)
    if source is None:
        raise MediaOutsideRoot(row.video, media_root)
    return Path(os.path.relpath(source, Path(media_root).resolve())).as_posix()


def _caption_videos(rows: list[DpoRow], user_captions: dict[str, str], media_root: Path, out: Path, config: PrepareConfig,
                    problems: list[RowProblem], progress: bool) -> tuple[dict[str, tuple[str, str]], dict[str, Any] | None]:
    """``{row id: (caption, "user" | "captioner")}`` for ``rows``, and the captioner's identity
    (None when none is used).

    A row with a user caption keeps it; every other row gets its video's caption from the
    captioner, asked once per distinct video still missing from ``.prepare/captions.jsonl``
    (cached as each arrives). A video that gets no caption has its rows skipped
    (``caption_failed``): q' without the caption would not be the paper's q', and is not passed
    off as one. A captioner that cannot work at all (refused key, no such model, server down)
    raises :class:`~temrobbench.utils.errors.UserError` after saving what it finished."""
    by_row = {row.id: (user_captions[row.id], "user") for row in rows if row.id in user_captions}
    spec = captioner_spec(config)
    if spec == "none":
        return by_row, None
    captioner = VideoCaptioner(spec, num_frames=config.caption_frames, max_new_tokens=config.caption_max_tokens, frames_fps=config.frames_fps,
                               max_concurrency=config.max_concurrency, max_retries=config.max_retries, initial_backoff=config.initial_backoff)
    cache = CaptionCache(out / ".prepare" / "captions.jsonl", captioner.identity)
    keys: dict[str, str] = {}
    videos: dict[str, str] = {}  # key -> the first row's video path, for each video still to caption
    for row in rows:
        try:
            keys[row.id] = key = source_key(row, media_root)
        except MediaOutsideRoot:
            continue  # skipped with its reason when its video is stored
        if row.id not in by_row and key not in cache.values:
            videos.setdefault(key, row.video)
    failed: dict[str, str] = {}
    if videos:
        bar = tqdm(total=len(videos), desc=f"captions ({captioner.name})", disable=not progress)

        def on_result(key: str, caption: str | None, error: str | None) -> None:
            if caption is not None:
                cache.add(key, caption)
            else:
                failed[key] = error or "no caption"
            bar.update(1)

        try:  # a UserError (the captioner cannot work) stops the run; the captions made so far stay cached
            captioner.caption_videos(list(videos.items()), media_root, on_result)
        finally:
            bar.close()
    for row in rows:
        key = keys.get(row.id)
        if row.id in by_row or key is None:
            continue
        if key in cache.values:
            by_row[row.id] = (cache.values[key], "captioner")
        elif key in failed:
            problems.append(RowProblem(row.id, "caption_failed", f"row {row.id!r}: {failed[key]}"))
    return by_row, captioner.identity


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
    key = Path(os.path.relpath(source, Path(media_root).resolve())).as_posix()  # as source_key
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

    perturber = perturber_identity(config)
    cache = MisleadingQuestionCache(out / ".prepare" / "rejected_prompts.jsonl", perturber)
    # Captions first (the paper's order): every row's, from the user's file or the captioner (asked
    # only for the videos missing from the caption cache). The template perturber reads none.
    row_captions: dict[str, tuple[str, str]] = {}
    captioner: dict[str, Any] | None = None
    if config.perturber == "openai":
        row_captions, captioner = _caption_videos(rows, captions or {}, media_root, out, config, problems, progress)
    no_caption = {p.row_id for p in problems if p.reason == "caption_failed"}
    rows_used = [row for row in rows if row.id not in no_caption]

    def caption_of(row: DpoRow) -> str | None:
        return row_captions[row.id][0] if row.id in row_captions else None

    # A cached q' counts only if it was written from the caption the row has now.
    todo = [row for row in rows_used if not cache.done(row.id, caption_of(row))]
    if todo:
        writer = _misleading_question_source(config)
        bar = tqdm(total=len(todo), desc=f"misleading questions ({perturber})", disable=not progress)

        def on_result(row: DpoRow, value: str | None, error: str | None) -> None:
            if value is not None:
                cache.add(row.id, value, perturber, caption_of(row))
            else:
                problems.append(RowProblem(row.id, "perturbation_failed", error or "no result"))
            bar.update(1)

        try:  # a MisleadingQuestionsUnusable error stops the run; what is cached stays for the next one
            writer.misleading_questions(todo, {row_id: caption for row_id, (caption, _) in row_captions.items()}, on_result)
        finally:
            bar.close()

    done = [row for row in rows_used if cache.done(row.id, caption_of(row))]
    records = []
    stored = StoredVideos(out / ".prepare" / "videos.jsonl")
    for row in tqdm(done, desc="videos", disable=not progress):
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
            "caption": caption_of(row),
        }
        if rejected_video:
            record["rejected_video"] = rejected_video
        records.append(record)

    # With no row prepared there is nothing to publish: only the report says why (the command fails).
    shards = _write_parquet(out, records, config.materialize_rejected_videos) if records else []
    published = {r["id"] for r in records}
    caption_lines = _write_captions(out, rows, {k: v for k, v in row_captions.items() if k in published}, media_root) if records else 0
    report = {
        "source": str(dpo_jsonl),
        "perturber": perturber,
        "captions": _captions_report(config, captioner, row_captions, published, caption_lines),
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


def _write_captions(out: Path, rows: list[DpoRow], row_captions: dict[str, tuple[str, str]], media_root: Path) -> int:
    """``captions.jsonl`` next to the shards: the captions the published rows' q' were written
    from, one line per distinct video and caption (``rows``: the ids that use it), rewritten whole
    (atomically) on every run; removed when no row has one. Returns the number of lines."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        if row.id not in row_captions:
            continue
        caption, source = row_captions[row.id]
        try:
            key = source_key(row, media_root)
        except MediaOutsideRoot:
            continue
        grouped.setdefault((key, caption, source), []).append(row.id)
    target = out / "captions.jsonl"
    if not grouped:
        target.unlink(missing_ok=True)
        return 0
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for (key, caption, source), ids in grouped.items():
                f.write(json.dumps({"video": key, "caption": caption, "rows": ids, "source": source}, ensure_ascii=False) + "\n")
    return len(grouped)


def _captions_report(config: PrepareConfig, captioner: dict[str, Any] | None, row_captions: dict[str, tuple[str, str]],
                     published: set[str], lines: int) -> dict[str, Any]:
    """What the q' were written from, for the report and the card."""
    used = Counter(source for row_id, (_, source) in row_captions.items() if row_id in published)
    if config.perturber != "openai":
        note = ("no captioner: the template perturber (offline default) writes q' from the rejected answer, without a caption; "
                "not the paper's method (captions, then GPT-4o)")
    elif captioner is None and not used:
        note = "no captioner (--captioner none) and no captions: q' written from the question and the correct answer only"
    elif captioner is None:
        note = "captions from the user's --captions file only (no captioner)"
    else:
        note = "the paper's way: a caption per distinct video, then q' from caption, question and correct answer"
    return {"captioner": captioner, "rows_with_captioner_caption": used.get("captioner", 0), "rows_with_user_caption": used.get("user", 0),
            "videos": lines, "file": "captions.jsonl" if lines else None, "note": note}


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


def card_method(report: dict[str, Any]) -> str:
    """The card's paragraph on how q' was made, and what that guarantees, from the report.

    >>> card_method({"perturber": "template", "captions": {"captioner": None}}).split(",")[0]
    'The misleading questions were made offline by the template perturber'
    """
    captions = report.get("captions") or {}
    captioner = captions.get("captioner")
    if report["perturber"] == "template":
        return ("The misleading questions were made offline by the template perturber, not by the paper's method: "
                "`In the video, <first sentence of the rejected answer>. <question>`. No captioner was used. Such a q' keeps the "
                "question but contradicts the video only when the rejected answer is false about it; the paper instead "
                "captions each video and has GPT-4o write q' from the caption, the question and the correct answer.")
    if captioner:
        text = (f"The misleading questions were written the paper's way: each distinct video was captioned by `{captioner['name']}` "
                f"({captioner['num_frames']} frames, greedy), then `{report['perturber']}` wrote q' from the caption, the question and the "
                "correct answer. The captions are in the `caption` column and in `captions.jsonl`; the captioner's identity is in "
                "`prepare_report.json`.")
        if captions.get("rows_with_user_caption"):
            text += f" {captions['rows_with_user_caption']} rows used a caption given by the user instead."
        return text
    if captions.get("rows_with_user_caption"):
        return (f"The misleading questions were written by `{report['perturber']}` from captions given by the user (no captioner), "
                "the question and the correct answer.")
    return (f"The misleading questions were written by `{report['perturber']}` from the question and the correct answer only: no "
            "captioner was used (`--captioner none`), unlike the paper, which captions each video first.")


def _write_card(out: Path, report: dict[str, Any]) -> None:
    """The dataset card, with the Hub's ``dataset_info`` and a content fingerprint read from the
    shards, so ``load_dataset`` never serves a cached earlier preparation of the same folder
    (see ``temrobbench.hub.dataset_info.describe_data``)."""
    from temrobbench.hub.card import render_card
    from temrobbench.hub.dataset_info import describe_data

    data = describe_data(out, DATA_FILES, dataset_features(report["rejected_videos_materialized"]))
    text = render_card("dpo_dataset_card.md.j2", num_rows=report["num_rows_prepared"], perturber=report["perturber"], skipped=report["skipped"],
                       method=card_method(report),
                       rejected_videos=report["rejected_videos_materialized"], repo_id="ORG/NAME",
                       data_files=DATA_FILES["default"], dataset_info_yaml=data["dataset_info_yaml"], fingerprint=data["fingerprints"]["default"])
    with atomic_path(out / "README.md") as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
