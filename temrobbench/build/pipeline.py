"""``temrobbench build``: COIN annotations + videos -> a Hub-layout benchmark folder.

Layout of the output folder (a Hub dataset repository)::

    README.md                         dataset card; its YAML ``configs:`` drive load_dataset
    build_report.json                 counts by reason of every skipped video and item
    data/<config>/<split>-0000i-of-0000n.parquet   rows, video bytes embedded
    videos/<video_id>/clean.mp4       event clips in the original order
    videos/<video_id>/<light|severe>.mp4           the same clips in the edited order
    .build/                           resume state (not published)

Resumable and atomic: each video's work ends with a marker file written after its videos, so a
killed build redoes at most the videos in flight, and every file is written beside its final
name and renamed when complete.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

from temrobbench.source.coin import CoinFormatError, CoinVideo, is_safe_video_id, load_coin
from temrobbench.source.eligibility import EligibilityRules, ineligibility_reason
from temrobbench.hub.card import write_card
from temrobbench.hub.parquet import write_parquet_splits
from temrobbench.items.categories import CATEGORIES, PERTURBATIONS, categories_of
from temrobbench.items.spec import ItemInfeasible, ItemSpec
from temrobbench.utils.files import atomic_path, contained_path, exclusive_lock, remove_partials
from temrobbench.utils.files import VIDEO_EXTENSIONS
from temrobbench.build.video_io import EncodeSettings, VideoDecodeError, concat_clips, encode_event_clips

STATE_DIR = ".build"
MARKER_VERSION = 1
MAX_EXAMPLES_PER_REASON = 20


@dataclass
class BuildConfig:
    """Options of a build. ``seed`` fixes selection, edits, options and their order."""

    num_videos: int = 562
    seed: int = 0
    workers: int = 1
    rules: EligibilityRules = field(default_factory=EligibilityRules)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    max_shard_bytes: int = 500 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.num_videos < 1:
            raise ValueError("num_videos must be >= 1")
        if self.workers < 1:
            raise ValueError("workers must be >= 1")


@dataclass
class BuildResult:
    out_dir: Path
    report: dict[str, Any]

    @property
    def num_videos(self) -> int:
        return self.report["num_videos_built"]


MISSING_VIDEO = "missing_video"
OUTSIDE_ROOT = "video_outside_root"


def locate_video(videos_dir: str | os.PathLike, video: CoinVideo) -> tuple[Path | None, str | None]:
    """``(file, None)`` for ``DIR/<id>.<ext>`` or COIN's download layout ``DIR/<recipe_type>/<id>.<ext>``,
    else ``(None, reason)``: ``missing_video``, or ``video_outside_root`` when a place looked at
    resolves outside ``DIR`` (a ``..`` or absolute ``recipe_type``, a symlink out of the folder).

    The annotation file decides where to look, so it must not make the build read, and embed in
    a published benchmark, a file from elsewhere: what lies outside ``DIR`` is never opened.
    """
    if not is_safe_video_id(video.video_id):  # parse_video_entry refuses these; a CoinVideo made by hand may not
        return None, OUTSIDE_ROOT
    outside = False
    for folder in (("", video.recipe_type) if video.recipe_type else ("",)):
        for ext in VIDEO_EXTENSIONS:
            name = f"{video.video_id}{ext}"
            candidate = contained_path(videos_dir, os.path.join(folder, name) if folder else name)
            if candidate is None:
                outside = True
            elif candidate.is_file():
                return candidate, None
    return None, OUTSIDE_ROOT if outside else MISSING_VIDEO


def find_video_file(videos_dir: str | os.PathLike, video: CoinVideo) -> Path | None:
    """The video's file under ``videos_dir``, or None (see :func:`locate_video`)."""
    return locate_video(videos_dir, video)[0]


# ----------------------------------------------------------------------------------------------
# Per-video work (runs in worker processes)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoJob:
    video: CoinVideo
    source: str
    state_dir: str
    seed: int
    encode: EncodeSettings
    task_steps: dict[str, list[str]]


def _marker_path(state_dir: str | Path, video_id: str) -> Path:
    return Path(state_dir) / "videos" / f"{video_id}.json"


def _clip_path(state_dir: str | Path, video_id: str, version: str) -> Path:
    return Path(state_dir) / "clips" / video_id / f"{version}.mp4"


def load_marker(state_dir: str | Path, video_id: str) -> dict | None:
    """A finished video's record, or None when it must be (re)built."""
    path = _marker_path(state_dir, video_id)
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if marker.get("version") != MARKER_VERSION:
        return None
    if not all(_clip_path(state_dir, video_id, v).is_file() for v in marker["files"]):
        return None
    return marker


def _item_to_json(item: ItemSpec) -> dict:
    data = asdict(item)
    for version in ("clean", "adversarial"):
        data[version]["answer"] = getattr(item, version).answer
        data[version]["shortcut"] = getattr(item, version).shortcut
    return data


def process_video(job: VideoJob) -> dict:
    """Build one video's items and videos; returns its marker (``ok`` False on a counted skip)."""
    video = job.video
    events = [s.label for s in video.steps]
    items: dict[str, dict] = {}
    skipped_items: dict[str, str] = {}
    for category in CATEGORIES:  # every category's item; the ITS one shown per video is chosen later
        try:
            items[category.key] = _item_to_json(category.build_item(video.video_id, video.task, events, job.task_steps, job.seed))
        except ItemInfeasible as err:
            skipped_items[category.key] = err.reason
    if not items:
        return {"ok": False, "video_id": video.video_id, "reason": "no_feasible_item", "message": f"video {video.video_id!r}: no item could be built"}
    try:
        encoded = encode_event_clips(job.source, [(s.start, s.end) for s in video.steps], job.encode)
    except VideoDecodeError as err:
        return {"ok": False, "video_id": video.video_id, "reason": "undecodable_video", "message": f"video {video.video_id!r}: {err}"}
    orders = {"clean": list(range(len(events)))}
    for category in CATEGORIES:  # one video file per order shown: clean, and each video edit
        if PERTURBATIONS[category.perturbation].edits_video and category.key in items:
            orders[category.name] = items[category.key]["adversarial"]["order"]
    for version, order in orders.items():
        concat_clips(encoded.clips, order, _clip_path(job.state_dir, video.video_id, version))
    marker = {
        "version": MARKER_VERSION,
        "ok": True,
        "video_id": video.video_id,
        "task": video.task,
        "events": events,
        "segments": [[s.start, s.end] for s in video.steps],
        "fps": encoded.fps,
        "duration": encoded.duration,
        "files": sorted(orders),
        "items": items,
        "skipped_items": skipped_items,
    }
    with atomic_path(_marker_path(job.state_dir, video.video_id)) as tmp:
        Path(tmp).write_text(json.dumps(marker), encoding="utf-8")
    return marker


# ----------------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------------


class _SkipLog:
    """Counts skips by reason and keeps the first few messages of each for the report."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def add(self, reason: str, message: str) -> None:
        self.counts[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < MAX_EXAMPLES_PER_REASON:
            examples.append(message)


def _run_jobs(jobs: list[VideoJob], workers: int) -> Iterator[dict]:
    if workers == 1 or len(jobs) <= 1:
        yield from map(process_video, jobs)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        yield from pool.map(process_video, jobs)


def build_benchmark(
    coin_json: str | os.PathLike,
    videos_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: BuildConfig | None = None,
    progress: bool = True,
    command: str = "temrobbench.build_benchmark",
) -> BuildResult:
    """Build TemRobBench from a COIN-format source into ``out_dir`` (see the module docstring).

    The whole build holds ``out_dir``'s write lock (``command`` names this run to a second
    writer, which is refused at once): two builds interleaving their shards would publish a mix.

    >>> import tempfile, os
    >>> from temrobbench.source.synth import SynthConfig, synthesize_coin
    >>> src = tempfile.mkdtemp()
    >>> coin = synthesize_coin(src, SynthConfig(num_videos=2), progress=False)
    >>> result = build_benchmark(coin, os.path.join(src, "videos"), os.path.join(src, "bench"),
    ...                          BuildConfig(num_videos=2), progress=False)
    >>> result.num_videos
    2
    """
    config = config or BuildConfig()
    out_dir, videos_dir = Path(out_dir), Path(videos_dir)
    with exclusive_lock(out_dir, command):
        remove_partials(out_dir)  # under the lock: no live writer's temporary can vanish
        return _build(coin_json, videos_dir, out_dir, config, progress)


def _build(coin_json: str | os.PathLike, videos_dir: Path, out_dir: Path, config: BuildConfig, progress: bool) -> BuildResult:
    state_dir = out_dir / STATE_DIR
    coin = load_coin(coin_json)
    skipped_videos, skipped_items = _SkipLog(), _SkipLog()
    for problem in coin.problems:
        skipped_videos.add(problem.reason, problem.message)

    candidates: list[tuple[CoinVideo, Path]] = []
    for video in coin.videos:
        reason = ineligibility_reason(video, config.rules)
        if reason is not None:
            skipped_videos.add(reason, f"video {video.video_id!r}: {reason.replace('_', ' ')}")
            continue
        source, why = locate_video(videos_dir, video)
        if why == OUTSIDE_ROOT:
            skipped_videos.add(why, f"video {video.video_id!r}: recipe_type {video.recipe_type!r} or a symlink leads outside {videos_dir}; not read")
            continue
        if source is None:
            skipped_videos.add(MISSING_VIDEO, f"video {video.video_id!r}: no file {video.video_id}.<ext> in {videos_dir} or {videos_dir / video.recipe_type}")
            continue
        candidates.append((video, source))
    num_eligible = len(candidates)
    candidates.sort(key=lambda c: c[0].video_id)
    random.Random(f"temrobbench-select:{config.seed}").shuffle(candidates)

    task_steps = coin.task_steps()
    selected: list[dict] = []
    next_candidate = 0
    # A context manager: the bar ends its line before an error's one line is printed.
    with tqdm(total=min(config.num_videos, num_eligible), desc="videos", unit="video", disable=not progress) as bar:
        # Take candidates in their seeded order, as many at a time as are still needed, so the
        # selection is the first num_videos that build, whatever the number of workers.
        while len(selected) < config.num_videos and next_candidate < len(candidates):
            need = config.num_videos - len(selected)
            window = candidates[next_candidate : next_candidate + need]
            next_candidate += len(window)
            todo: list[VideoJob] = []
            markers: dict[str, dict] = {}
            for video, source in window:
                marker = load_marker(state_dir, video.video_id)
                if marker is not None:
                    markers[video.video_id] = marker
                    bar.update(1)
                else:
                    todo.append(VideoJob(video, str(source), str(state_dir), config.seed, config.encode, task_steps))
            for marker in _run_jobs(todo, config.workers):
                markers[marker["video_id"]] = marker
                bar.update(1)
            for video, _ in window:
                marker = markers[video.video_id]
                if marker["ok"]:
                    selected.append(marker)
                else:
                    skipped_videos.add(marker["reason"], marker["message"])

    rows = _assemble_rows(selected, config.seed, skipped_items)
    counts: dict = {}
    if selected:  # with no video built there is nothing to publish: only the report says why
        _publish_videos(out_dir, selected, rows)
        counts = write_parquet_splits(out_dir, rows, config.max_shard_bytes, progress=progress)
    report = {
        "source": {"coin_json": str(coin_json), "videos_dir": str(videos_dir)},
        "seed": config.seed,
        "num_videos_requested": config.num_videos,
        "num_videos_annotated": len(coin.videos) + len(coin.problems),
        # Eligible as the README defines it: a video that turns out undecodable is not.
        "num_videos_eligible": num_eligible - skipped_videos.counts["undecodable_video"],
        "num_videos_built": len(selected),
        "num_rows": counts,
        "categories": dict(sorted(Counter(r["category"] for r in rows if r["setting"] == "adversarial").items())),
        "skipped_videos": dict(sorted(skipped_videos.counts.items())),
        "skipped_items": dict(sorted(skipped_items.counts.items())),
        "skip_examples": {**skipped_videos.examples, **skipped_items.examples},
        "eligibility": asdict(config.rules),
        "encoding": asdict(config.encode),
    }
    with atomic_path(out_dir / "build_report.json") as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2), encoding="utf-8")
    if selected:
        write_card(out_dir, report)
    return BuildResult(out_dir, report)


def assign_categories(video_ids: Iterable[str], perturbation: str, seed: int) -> dict[str, str]:
    """Balanced, seeded assignment of one of ``perturbation``'s categories to each video (for the
    perturbations that show one per video: ITS light or severe).

    >>> sorted(Counter(assign_categories([f"v{i}" for i in range(7)], "intrinsic", 0).values()).items())
    [('light', 4), ('severe', 3)]
    """
    names = categories_of(perturbation)
    ids = sorted(video_ids)
    # The seed string keeps ITS assignments (and so every build) identical to earlier releases.
    label = "its" if perturbation == "intrinsic" else perturbation
    random.Random(f"temrobbench-{label}-category:{seed}").shuffle(ids)
    return {video_id: names[i % len(names)] for i, video_id in enumerate(ids)}


def _assemble_rows(selected: list[dict], seed: int, skipped_items: _SkipLog) -> list[dict]:
    video_ids = [m["video_id"] for m in selected]
    assigned = {p.name: assign_categories(video_ids, p.name, seed) for p in PERTURBATIONS.values() if p.one_category_per_video}
    rows: list[dict] = []
    for marker in selected:
        video_id = marker["video_id"]
        chosen = [c.key for c in CATEGORIES if c.perturbation not in assigned or assigned[c.perturbation][video_id] == c.name]
        for key, reason in marker["skipped_items"].items():
            if key in chosen:  # an unbuilt alternative that was not chosen is no loss
                skipped_items.add(reason, f"video {video_id!r}: item {key} skipped ({reason})")
        for key in chosen:
            item = marker["items"].get(key)
            if item is None:
                continue
            for setting in ("clean", "adversarial"):
                version = item[setting]
                edited = setting == "adversarial" and PERTURBATIONS[item["perturbation"]].edits_video
                video_file = item["category"] if edited else "clean"
                rows.append(
                    {
                        "id": item["id"],
                        "video_id": video_id,
                        "task": marker["task"],
                        "perturbation": item["perturbation"],
                        "category": item["category"],
                        "setting": setting,
                        "video": f"videos/{video_id}/{video_file}.mp4",
                        "question": item["question"],
                        "descriptions": list(version["descriptions"]),
                        "options": list(item["options"]),
                        "answer": version["answer"],
                        "shortcut": version["shortcut"],
                        "option_roles": list(version["option_roles"]),
                        "events": marker["events"],
                        "order": list(version["order"]),
                        "segments": marker["segments"],
                        "fps": marker["fps"],
                        "duration": marker["duration"],
                    }
                )
    rows.sort(key=lambda r: (r["perturbation"], r["setting"], r["id"]))
    return rows


def _publish_videos(out_dir: Path, selected: list[dict], rows: list[dict]) -> None:
    """Make ``videos/`` hold exactly the files rows refer to (hard links to the build state)."""
    wanted = {row["video"] for row in rows}
    videos_root = out_dir / "videos"
    if videos_root.exists():
        for path in sorted(videos_root.rglob("*.mp4")):
            if path.relative_to(out_dir).as_posix() not in wanted:
                path.unlink()
        for folder in sorted(videos_root.iterdir()):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    for rel in sorted(wanted):
        _, video_id, name = rel.split("/")
        target = out_dir / rel
        source = _clip_path(out_dir / STATE_DIR, video_id, name[: -len(".mp4")])
        if target.exists() and os.path.samefile(target, source):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            os.remove(tmp)
            try:
                os.link(source, tmp)
            except OSError:  # file systems without hard links
                shutil.copyfile(source, tmp)


__all__ = ["BuildConfig", "BuildResult", "CoinFormatError", "build_benchmark", "assign_categories", "find_video_file", "locate_video"]
