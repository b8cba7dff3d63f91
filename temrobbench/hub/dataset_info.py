"""What a dataset card says about its Parquet data, read from the shards themselves: the Hub's
``dataset_info`` block (counts and sizes exactly as ``load_dataset`` records them) and a content
fingerprint per config, which together make ``datasets`` load a rebuilt folder fresh.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import datasets
import pyarrow as pa


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

