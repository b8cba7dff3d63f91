"""Load a built benchmark (folder or hub id, or already-loaded datasets) as paired items."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping, Sequence

from temrobbench.items.schema import CONFIGS, SPLITS


def load_items(data: Any, configs: tuple[str, ...] = CONFIGS, limit: int | None = None) -> list[tuple[dict, dict]]:
    """``(clean_row, adversarial_row)`` pairs keyed by row ``id``, videos left undecoded.

    ``data``: a folder written by ``temrobbench build``, a hub id, or a mapping
    ``{config: {"clean": Dataset, "adversarial": Dataset}}``. ``limit`` keeps the first N items
    of each config (by id).
    """
    import datasets

    from temrobbench.hub.layout import is_built_folder, read_local_split

    pairs: list[tuple[dict, dict]] = []
    for config in configs:
        if isinstance(data, Mapping):
            if config not in data:
                continue
            splits = {split: data[config][split] for split in SPLITS}
        elif is_built_folder(data):
            splits = {split: read_local_split(data, config, split) for split in SPLITS}
        else:
            splits = {split: datasets.load_dataset(str(data), config, split=split) for split in SPLITS}
        rows = {}
        for split, ds in splits.items():
            if isinstance(ds, datasets.Dataset) and "video" in ds.features:
                ds = ds.cast_column("video", datasets.Video(decode=False))
            rows[split] = {row["id"]: row for row in ds}
        missing = sorted(set(rows["clean"]) ^ set(rows["adversarial"]))
        if missing:
            raise ValueError(f"{config}: rows {missing[:5]} appear in only one of the clean/adversarial splits")
        ids = sorted(rows["clean"])
        if limit is not None:
            ids = ids[:limit]
        pairs += [(rows["clean"][i], rows["adversarial"][i]) for i in ids]
    return pairs


#: The row fields that decide what a query asks and how its answer is scored: the benchmark's
#: identity hashes these (not the video bytes, nor paths, which differ between copies).
IDENTITY_FIELDS = ("id", "perturbation", "category", "video_id", "question", "descriptions", "options", "option_roles",
                   "answer", "shortcut", "events", "order")


def benchmark_digest(items: Sequence[tuple[dict, dict]]) -> str:
    """sha256 over the identity fields of every (clean, adversarial) row, in evaluation order:
    another build (other answers, roles or orderings), a rebuild in place or another ``limit``
    gives another digest; a copy of the same build, a download of it or its Hub twin the same.

    >>> row = {"id": "a", "options": ["x", "y"], "option_roles": ["correct", "shortcut"]}
    >>> benchmark_digest([(row, row)]) == benchmark_digest([(row, {**row, "option_roles": ["shortcut", "correct"]})])
    False
    """
    h = hashlib.sha256()
    for pair in items:
        for row in pair:
            fields = {name: row.get(name) for name in IDENTITY_FIELDS}
            h.update(json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8") + b"\n")
    return h.hexdigest()


def benchmark_identity(items: Sequence[tuple[dict, dict]], configs: Sequence[str], limit: int | None, source: Any = None) -> dict[str, Any]:
    """What ``run.json`` records of the benchmark a run evaluated: the digest of its items, the
    configs and limit used, and (for people, never compared) where it was read from."""
    where = str(source) if isinstance(source, (str, os.PathLike)) else ("in-memory datasets" if source is not None else None)
    return {"sha256": benchmark_digest(items), "items": len(items), "configs": list(configs), "limit": limit, "source": where}
