"""``datasets`` builder over a built benchmark folder, for code that wants a builder object.

``load_dataset(folder, config, split=...)`` needs none of this (the dataset card's YAML does the
job, as on the Hub); this builder exposes the same configs and features as a
:class:`datasets.GeneratorBasedBuilder` for pipelines written against builders.

>>> import tempfile, os
>>> from temrobbench.synth import SynthConfig, synthesize_coin
>>> from temrobbench.build import BuildConfig, build_benchmark
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

from pathlib import Path
from typing import Any, Iterator

import datasets
import pyarrow.parquet as pq

from .features import CATEGORIES, CONFIGS, SPLITS, row_features

_DESCRIPTION = "TemRobBench: robustness of video LMMs to temporal inconsistency (COIN videos)."


class TemRobBenchConfig(datasets.BuilderConfig):
    """One perturbation family: ``intrinsic`` (video edited) or ``extrinsic`` (text edited)."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        if name not in CONFIGS:
            raise ValueError(f"unknown TemRobBench config {name!r}; valid: {', '.join(CONFIGS)}")
        super().__init__(name=name, version=datasets.Version("1.0.0"), description=f"{name} items: {', '.join(CATEGORIES[name])}", **kwargs)


class TemRobBench(datasets.GeneratorBasedBuilder):
    """Reads the Parquet shards of a folder written by ``temrobbench build`` (``data_dir``)."""

    BUILDER_CONFIG_CLASS = TemRobBenchConfig
    BUILDER_CONFIGS = [TemRobBenchConfig(name) for name in CONFIGS]
    DEFAULT_CONFIG_NAME = "intrinsic"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=_DESCRIPTION, features=row_features(), license="cc-by-nc-4.0")

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        if not self.config.data_dir:
            raise ValueError("TemRobBench needs data_dir=<folder written by `temrobbench build`>")
        root = Path(self.config.data_dir) / "data" / self.config.name
        generators = []
        for split in SPLITS:
            files = sorted(root.glob(f"{split}-*.parquet"))
            if not files:
                raise FileNotFoundError(f"{root}: no {split}-*.parquet shards; is {self.config.data_dir} a built benchmark?")
            generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"files": [str(f) for f in files]}))
        return generators

    def _generate_examples(self, files: list[str]) -> Iterator[tuple[str, dict]]:
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=16):
                for row in batch.to_pylist():
                    yield row["id"], row
