"""Load a built benchmark (folder or hub id, or already-loaded datasets) as paired items."""

from __future__ import annotations

from typing import Any, Mapping

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
