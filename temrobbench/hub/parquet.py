"""The one Parquet writer of the project: a built benchmark's splits (and prepared preference data) as
Hub-style shards.

Rows embed their video's bytes (as ``Dataset.push_to_hub`` does for media), so
``load_dataset(folder_or_repo, config, split=...)`` decodes videos anywhere, streaming included,
with no loading script. The same MP4 files also sit under ``videos/`` for browsing and direct use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from temrobbench.items.schema import CONFIGS, SPLITS, row_features
from temrobbench.hub.layout import shard_name
from temrobbench.utils.errors import naming_path
from temrobbench.utils.files import atomic_path

ROW_GROUP_SIZE = 16  # rows carry whole videos: small row groups keep streaming reads small


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


def write_parquet_shards(folder: Path, shards: Sequence[Sequence[dict]], names: Sequence[str], schema: pa.Schema,
                         media_root: Path, media_columns: Sequence[str] = ("video",), row_group_size: int = ROW_GROUP_SIZE,
                         desc: str | None = None, progress: bool = False) -> None:
    """Write ``shards`` (lists of rows) as ``folder/<names[i]>``, each file moved into place only
    when complete; stale shards of the same name pattern are the caller's to remove.

    Each of ``media_columns`` holds a path relative to ``media_root`` and is embedded as
    ``{"bytes", "path"}`` (a ``datasets`` Video value), read one row group at a time so a shard of
    long videos never sits in memory whole. The one Parquet writer of the project: benchmark splits
    and prepared preference data.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(shards), desc=desc, disable=not progress) as bar:  # its line ends before any error's
        for name, shard in zip(names, shards):
            with naming_path(folder / name), atomic_path(folder / name) as tmp:
                with pq.ParquetWriter(tmp, schema) as writer:
                    for start in range(0, max(len(shard), 1), row_group_size):
                        batch = [_embed_media(media_root, row, media_columns) for row in shard[start : start + row_group_size]]
                        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            bar.update(1)


def _embed_media(root: Path, row: dict, columns: Sequence[str]) -> dict:
    data = dict(row)
    for column in columns:
        data[column] = {"bytes": (root / row[column]).read_bytes(), "path": row[column]}
    return data


def remove_stale_shards(folder: Path, pattern: str, keep: Sequence[str]) -> None:
    """Delete shards matching ``pattern`` that a rewrite did not produce (fewer shards than before)."""
    for stale in folder.glob(pattern):
        if stale.name not in keep:
            stale.unlink()


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
            sizes = [os.path.getsize(out_dir / r["video"]) for r in split_rows]
            shards = _plan_shards(split_rows, sizes, max_shard_bytes)
            names = [shard_name(split, i, len(shards)) for i in range(len(shards))]
            write_parquet_shards(folder, shards, names, schema, out_dir, desc=f"parquet {config}/{split}", progress=progress)
            remove_stale_shards(folder, f"{split}-*.parquet", names)
    return counts














