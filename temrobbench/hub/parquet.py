"""Write a built benchmark as a Hub dataset repository: Parquet shards, dataset card, upload plan.

Rows embed their video's bytes (as ``Dataset.push_to_hub`` does for media), so
``load_dataset(folder_or_repo, config, split=...)`` decodes videos anywhere, streaming included,
with no loading script. The same MP4 files also sit under ``videos/`` for browsing and direct use.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from temrobbench.items.schema import CONFIGS, SPLITS, row_features
from temrobbench.utils.files import atomic_path

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
    for name, shard in tqdm(list(zip(names, shards)), desc=desc, disable=not progress):
        with atomic_path(folder / name) as tmp:
            with pq.ParquetWriter(tmp, schema) as writer:
                for start in range(0, max(len(shard), 1), row_group_size):
                    batch = [_embed_media(media_root, row, media_columns) for row in shard[start : start + row_group_size]]
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))


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


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def _split_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(path for path in folder.glob(pattern) if path.is_file())


def split_size(files: Sequence[Path], features: datasets.Features) -> tuple[int, int]:
    """``(num_examples, num_bytes)`` of one split, exactly as ``load_dataset`` records them.

    Mirrors ``datasets``' Parquet builder (``packaged_modules/parquet``: one Arrow batch per row
    group, cast to the card's features) feeding ``ArrowBasedBuilder._prepare_split_single``, whose
    ``ArrowWriter`` adds up ``pa_table.nbytes`` of what it writes (single-row batches pooled first).
    The same ``ArrowWriter`` counts here, writing to a ``MockOutputStream`` (nothing is kept).
    """
    import pyarrow.dataset as pds
    from datasets.arrow_writer import ArrowWriter
    from datasets.table import table_cast

    schema = features.arrow_schema
    parquet_format = pds.ParquetFileFormat()
    writer = ArrowWriter(features=features, stream=pa.MockOutputStream())
    try:
        for path in files:
            with open(path, "rb") as f:
                fragment = parquet_format.make_fragment(f)
                if not fragment.row_groups:
                    continue
                batches = fragment.to_batches(batch_size=fragment.row_groups[0].num_rows, batch_readahead=0, fragment_readahead=0)
                for batch in batches:
                    table = table_cast(pa.Table.from_batches([batch]), schema)
                    if len(table) == 1:
                        writer.write_row(table)
                    else:
                        writer.write_table(table)
        return writer.finalize()
    finally:
        writer.close()


def content_fingerprint(files: Sequence[Path]) -> str:
    """sha256 over the names and bytes of ``files`` (a config's Parquet shards, in order)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.parent.name}/{path.name}\0{os.path.getsize(path)}\0".encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def describe_data(folder: str | os.PathLike, data_files: Mapping[str, Mapping[str, str]], features: datasets.Features) -> dict[str, Any]:
    """What a dataset card says about its Parquet data, read from the shards themselves.

    ``data_files`` is ``{config: {split: glob}}`` as in the card's ``configs:``. Returns
    ``dataset_info_yaml`` (the Hub's ``dataset_info`` block: per config ``features``, ``splits``
    with ``num_examples`` and ``num_bytes``, ``download_size`` = bytes of the shards,
    ``dataset_size`` = sum of ``num_bytes``, written with ``datasets``' own
    ``DatasetInfosDict.to_dataset_card_data``) and ``fingerprints`` (``{config: sha256}``).

    Why both: ``datasets`` caches a local folder under ``<cache>/<folder name>/<config>/<version>/<hash>``
    and, for a folder with a card, ``<hash>`` is ``Hasher.hash({"dataset_infos": ...,
    "builder_configs": ...})`` (``LocalDatasetModuleFactory.get_module`` in ``datasets/load.py``):
    the card's ``dataset_info`` (every ``DatasetInfo`` field ``DatasetInfo._from_yaml_dict`` keeps)
    and the builder configs made from its ``configs:`` entries (``data_files`` *patterns*, not the
    files they match, plus any ``BuilderConfig`` attribute given there). Nothing else of the folder
    enters the key. So ``dataset_info`` makes a rebuild with other counts or sizes load fresh, and
    ``load_dataset`` verifies the counts (``verify_splits``). Counts and sizes can collide (same
    videos, another seed: clean rows whose options are only permuted), so the templates put the
    fingerprint in each ``configs:`` entry's ``description``, a ``BuilderConfig`` attribute: hashed,
    inert for loading, free text (``configs:`` entries take builder parameters such as ``sep``; not
    checked against the live Hub's validator here). From the Hub the hash is the commit sha.
    """
    import yaml
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from huggingface_hub import DatasetCardData

    folder = Path(folder)
    infos = DatasetInfosDict()
    fingerprints: dict[str, str] = {}
    for config, patterns in data_files.items():
        splits = SplitDict()
        config_files: list[Path] = []
        for split, pattern in patterns.items():
            files = _split_files(folder, pattern)
            num_examples, num_bytes = split_size(files, features)
            splits.add(SplitInfo(name=split, num_bytes=num_bytes, num_examples=num_examples))
            config_files += files
        dataset_size = sum(info.num_bytes for info in splits.values())
        download_size = sum(os.path.getsize(path) for path in config_files)
        infos[config] = DatasetInfo(features=features, splits=splits, download_size=download_size, dataset_size=dataset_size)
        fingerprints[config] = content_fingerprint(config_files)
    card_data = DatasetCardData()
    infos.to_dataset_card_data(card_data)
    text = yaml.safe_dump({"dataset_info": card_data["dataset_info"]}, sort_keys=False, allow_unicode=True)
    return {"dataset_info_yaml": text.rstrip("\n"), "fingerprints": fingerprints}


def write_card(out_dir: Path, report: dict[str, Any], repo_id: str | None = None) -> Path:
    """Render ``README.md`` (the dataset card) from ``temrobbench/hub/templates/dataset_card.md.j2``.

    The card's ``dataset_info`` and per-config content fingerprints are read from the Parquet
    shards in ``out_dir`` (see ``describe_data``), so ``push`` re-rendering it stays exact.
    """
    from temrobbench.hub.card import render_card
    from temrobbench import __version__

    counts = report["num_rows"]
    data = describe_data(out_dir, data_files_patterns(), row_features())
    text = render_card(
        "dataset_card.md.j2",
        pretty_name="TemRobBench",
        repo_id=repo_id or "ORG/temrobbench",
        configs={c: list(SPLITS) for c in CONFIGS},
        data_files=data_files_patterns(),
        dataset_info_yaml=data["dataset_info_yaml"],
        fingerprints=data["fingerprints"],
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


def split_files(folder: str | os.PathLike, config: str, split: str) -> list[Path]:
    """The Parquet shards of one config and split of a built folder (the layout's one reader).

    Raises FileNotFoundError naming the folder and the pattern when there are none.
    """
    pattern = data_files_patterns()[config][split]
    files = sorted(path for path in Path(folder).glob(pattern) if path.is_file())
    if not files:
        raise FileNotFoundError(f"{folder}: no {pattern} shards; is it a folder written by `temrobbench build`?")
    return files


def is_built_folder(path: Any) -> bool:
    """Whether ``path`` is a local folder written by ``temrobbench build``."""
    return isinstance(path, (str, os.PathLike)) and (Path(path) / "data").is_dir() and (Path(path) / "README.md").is_file()


def read_local_split(folder: str | os.PathLike, config: str, split: str) -> list[dict[str, Any]]:
    """Rows of a built folder's split, with ``video`` = ``{"path": <absolute mp4 path>, "bytes": None}``.

    Reads the Parquet shards directly, skipping the embedded video bytes (the same files are under
    ``videos/``) and ``datasets``' cache (whose key follows the card's ``dataset_info`` and content
    fingerprints, see ``describe_data``, so ``load_dataset`` would also see a rebuild).
    """
    folder = Path(folder)
    files = split_files(folder, config, split)
    rows: list[dict[str, Any]] = []
    for path in files:
        parquet = pq.ParquetFile(path)
        columns = [name for name in parquet.schema_arrow.names if name != "video"] + ["video.path"]
        for batch in parquet.iter_batches(columns=columns):
            for row in batch.to_pylist():
                row["video"] = {"path": str(folder / row["video"]["path"]), "bytes": None}
                rows.append(row)
    return rows
