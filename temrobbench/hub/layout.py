"""The built folder as a Hub dataset repository: where the shards are (``data/<config>/<split>-*.parquet``,
the Hub's shard names), what ``push`` uploads (build state and partial files stay local), and the
reader of a local split (the layout's one reader).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from temrobbench.items.schema import CONFIGS, SPLITS
from temrobbench.utils.errors import UnreadableDataFile
from temrobbench.utils.files import contained_path

# Resume state of `temrobbench build` and `panodpo prepare`, half-written files and the writer's
# lock stay local; so does every other hidden file or folder (an editor's, the OS's): the layout
# publishes none. Patterns are fnmatch'ed against posix paths, where ``*`` also matches ``/``.
PUBLISH_IGNORE = [".build/**", ".prepare/**", ".cache/**", "**/.partial-*", ".partial-*", ".lock", "**/.lock", ".*", "**/.*"]


def shard_name(split: str, index: int, total: int) -> str:
    """``clean-00000-of-00002.parquet``, the Hub's shard naming."""
    return f"{split}-{index:05d}-of-{total:05d}.parquet"


def data_files_patterns() -> dict[str, dict[str, str]]:
    return {c: {s: f"data/{c}/{s}-*.parquet" for s in SPLITS} for c in CONFIGS}


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
        rows += _read_shard_rows(folder, path)
    return rows


def _read_shard_rows(folder: Path, path: Path) -> list[dict[str, Any]]:
    """One shard's rows (see ``read_local_split``); a shard that does not read, or whose rows
    name a video outside ``folder``, raises :class:`UnreadableDataFile` naming it."""
    rows: list[dict[str, Any]] = []
    try:
        parquet = pq.ParquetFile(path)
        columns = [name for name in parquet.schema_arrow.names if name != "video"] + ["video.path"]
        batches = [batch.to_pylist() for batch in parquet.iter_batches(columns=columns)]
    except (pa.ArrowException, OSError) as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise  # the machine's failure (permissions, I/O), not the file's: named as such
        raise UnreadableDataFile(path, "truncated, or not a Parquet file") from err
    for batch in batches:
        for row in batch:
            # The row's path is data: a shard from elsewhere must not make a reader open (and
            # send to a model server) a file outside the benchmark folder.
            if contained_path(folder, row["video"]["path"] or "") is None:
                raise UnreadableDataFile(path, f"row {row.get('id')!r} names a video outside the benchmark folder: {row['video']['path']!r}")
            row["video"] = {"path": str(folder / row["video"]["path"]), "bytes": None}
            rows.append(row)
    return rows

