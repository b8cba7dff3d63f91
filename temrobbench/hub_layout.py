"""Write a built benchmark as a Hub dataset repository: Parquet shards, dataset card, upload plan.

Rows embed their video's bytes (as ``Dataset.push_to_hub`` does for media), so
``load_dataset(folder_or_repo, config, split=...)`` decodes videos anywhere, streaming included,
with no loading script. The same MP4 files also sit under ``videos/`` for browsing and direct use.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from .features import CONFIGS, SPLITS, row_features
from .video_io import atomic_path

ROW_GROUP_SIZE = 16  # rows carry whole videos: small row groups keep streaming reads small
# Resume state of `temrobbench build` and `panodpo prepare`, and half-written files, stay local.
PUBLISH_IGNORE = [".build/**", ".prepare/**", ".cache/**", "**/.partial-*", ".partial-*"]


def shard_name(split: str, index: int, total: int) -> str:
    """``clean-00000-of-00002.parquet``, the Hub's shard naming."""
    return f"{split}-{index:05d}-of-{total:05d}.parquet"


def data_files_patterns() -> dict[str, dict[str, str]]:
    return {c: {s: f"data/{c}/{s}-*.parquet" for s in SPLITS} for c in CONFIGS}


def _plan_shards(rows: Sequence[dict], sizes: Sequence[int], max_bytes: int) -> list[list[dict]]:
    shards: list[list[dict]] = [[]]
    used = 0
    for row, size in zip(rows, sizes):
        if shards[-1] and used + size > max_bytes:
            shards.append([])
            used = 0
        shards[-1].append(row)
        used += size
    return shards


def write_parquet_splits(out_dir: Path, rows: Sequence[dict], max_shard_bytes: int, progress: bool = True) -> dict:
    """Write ``data/<config>/<split>-*.parquet``; returns row counts per config and split."""
    schema = row_features().arrow_schema
    counts: dict[str, dict[str, int]] = {}
    for config in CONFIGS:
        counts[config] = {}
        for split in SPLITS:
            split_rows = [r for r in rows if r["perturbation"] == config and r["setting"] == split]
            counts[config][split] = len(split_rows)
            folder = out_dir / "data" / config
            folder.mkdir(parents=True, exist_ok=True)
            sizes = [os.path.getsize(out_dir / r["video"]) for r in split_rows]
            shards = _plan_shards(split_rows, sizes, max_shard_bytes)
            names = [shard_name(split, i, len(shards)) for i in range(len(shards))]
            for name, shard in tqdm(list(zip(names, shards)), desc=f"parquet {config}/{split}", disable=not progress):
                with atomic_path(folder / name) as tmp:
                    with pq.ParquetWriter(tmp, schema) as writer:
                        for start in range(0, max(len(shard), 1), ROW_GROUP_SIZE):
                            batch = [_arrow_row(out_dir, r) for r in shard[start : start + ROW_GROUP_SIZE]]
                            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            for stale in folder.glob(f"{split}-*.parquet"):
                if stale.name not in names:
                    stale.unlink()
    return counts


def _arrow_row(out_dir: Path, row: dict) -> dict:
    data = dict(row)
    data["video"] = {"bytes": (out_dir / row["video"]).read_bytes(), "path": row["video"]}
    return data


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def write_card(out_dir: Path, report: dict[str, Any], repo_id: str | None = None) -> Path:
    """Render ``README.md`` (the dataset card) from ``hub_cards/dataset_card.md.j2``."""
    from hub_cards import render_card
    from . import __version__

    counts = report["num_rows"]
    text = render_card(
        "dataset_card.md.j2",
        pretty_name="TemRobBench",
        repo_id=repo_id or "ORG/temrobbench",
        configs={c: list(SPLITS) for c in CONFIGS},
        data_files=data_files_patterns(),
        counts=counts,
        categories=report.get("categories", {}),
        num_videos=report["num_videos_built"],
        build={"seed": report["seed"], "num_videos_requested": report["num_videos_requested"], "source": Path(report["source"]["coin_json"]).name},
        skips={**report["skipped_videos"], **report["skipped_items"]},
        size_category=_size_category(sum(sum(v.values()) for v in counts.values())),
        version=__version__,
    )
    path = out_dir / "README.md"
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path


def upload_plan(folder: str | os.PathLike) -> list[str]:
    """Files ``push`` uploads, relative to ``folder`` (build state and partial files excluded)."""
    folder = Path(folder)
    if not (folder / "README.md").is_file() or not (folder / "data").is_dir():
        raise FileNotFoundError(f"{folder}: not a built benchmark (no README.md and data/); run `temrobbench build` first")
    import fnmatch

    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(fnmatch.fnmatch(rel, pattern) for pattern in PUBLISH_IGNORE):
            files.append(rel)
    return files


def summarize(folder: str | os.PathLike) -> dict[str, Any]:
    """Counts of a built benchmark, read from its ``build_report.json``."""
    report = json.loads((Path(folder) / "build_report.json").read_text(encoding="utf-8"))
    return {
        "videos": report["num_videos_built"],
        "rows": report["num_rows"],
        "categories": report["categories"],
        "skipped": Counter({**report["skipped_videos"], **report["skipped_items"]}),
    }


def is_built_folder(path: Any) -> bool:
    """Whether ``path`` is a local folder written by ``temrobbench build``."""
    return isinstance(path, (str, os.PathLike)) and (Path(path) / "data").is_dir() and (Path(path) / "README.md").is_file()


def read_local_split(folder: str | os.PathLike, config: str, split: str) -> list[dict[str, Any]]:
    """Rows of a built folder's split, with ``video`` = ``{"path": <absolute mp4 path>, "bytes": None}``.

    Reads the Parquet shards directly, skipping the embedded video bytes (the same files are under
    ``videos/``). This also sidesteps ``datasets``' cache, which keys local folders by name and
    config only: a rebuild into a folder of the same name would otherwise load stale rows.
    """
    folder = Path(folder)
    files = sorted((folder / "data" / config).glob(f"{split}-*.parquet"))
    if not files:
        raise FileNotFoundError(f"{folder}: no data/{config}/{split}-*.parquet shards; is it a built benchmark?")
    rows: list[dict[str, Any]] = []
    for path in files:
        parquet = pq.ParquetFile(path)
        columns = [name for name in parquet.schema_arrow.names if name != "video"] + ["video.path"]
        for batch in parquet.iter_batches(columns=columns):
            for row in batch.to_pylist():
                row["video"] = {"path": str(folder / row["video"]["path"]), "bytes": None}
                rows.append(row)
    return rows
