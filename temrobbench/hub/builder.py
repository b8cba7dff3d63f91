"""``datasets`` builder over a built benchmark folder, for code that wants a builder object.

``load_dataset(folder, config, split=...)`` needs none of this (the dataset card's YAML does the
job, as on the Hub); this builder exposes the same configs and features as a ``datasets``
builder for pipelines written against builders. Like ``datasets``' own Parquet builder it streams
Arrow tables (one per row group, video bytes included) instead of turning rows into Python objects.

>>> import tempfile, os
>>> from temrobbench.source.synth import SynthConfig, synthesize_coin
>>> from temrobbench.build.pipeline import BuildConfig, build_benchmark
>>> src = tempfile.mkdtemp()
>>> coin = synthesize_coin(src, SynthConfig(num_videos=2), progress=False)
>>> out = build_benchmark(coin, os.path.join(src, "videos"), os.path.join(src, "b"),
...                       BuildConfig(num_videos=2), progress=False).out_dir
>>> builder = TemRobBench(config_name="extrinsic", data_dir=str(out), cache_dir=os.path.join(src, "cache"))
>>> builder.download_and_prepare()
>>> builder.as_dataset(split="clean").num_rows
4
"""

from __future__ import annotations

from typing import Any, Iterator

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from temrobbench.items.schema import CATEGORIES, CONFIGS, SPLITS, row_features
from temrobbench.hub.layout import split_files

_DESCRIPTION = "TemRobBench: robustness of video LMMs to temporal inconsistency (COIN videos)."


class TemRobBenchConfig(datasets.BuilderConfig):
    """One perturbation family: ``intrinsic`` (video edited) or ``extrinsic`` (text edited)."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        if name not in CONFIGS:
            raise ValueError(f"unknown TemRobBench config {name!r}; valid: {', '.join(CONFIGS)}")
        super().__init__(name=name, version=datasets.Version("1.0.0"), description=f"{name} items: {', '.join(CATEGORIES[name])}", **kwargs)


class TemRobBench(datasets.ArrowBasedBuilder):
    """Reads the Parquet shards of a folder written by ``temrobbench build`` (``data_dir``)."""

    BUILDER_CONFIG_CLASS = TemRobBenchConfig
    BUILDER_CONFIGS = [TemRobBenchConfig(name) for name in CONFIGS]
    DEFAULT_CONFIG_NAME = "intrinsic"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=_DESCRIPTION, features=row_features(), license="cc-by-nc-4.0")

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        if not self.config.data_dir:
            raise ValueError("TemRobBench needs data_dir=<folder written by `temrobbench build`>")
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"files": [str(f) for f in split_files(self.config.data_dir, self.config.name, split)]})
            for split in SPLITS
        ]

    def _generate_tables(self, files: list[str]) -> Iterator[tuple[str, pa.Table]]:
        schema = self.info.features.arrow_schema
        for file_index, path in enumerate(files):
            parquet = pq.ParquetFile(path)
            for group in range(parquet.num_row_groups):
                yield f"{file_index}_{group}", parquet.read_row_group(group).cast(schema)
