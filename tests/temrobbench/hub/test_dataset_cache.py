"""A rebuilt benchmark (or re-prepared PanoDPO data) never loads stale rows from ``datasets``' cache.

Every load here shares one cache folder and never passes ``download_mode="force_redownload"``:
the dataset card's ``dataset_info`` and content fingerprints are what make ``load_dataset`` see
the new data. The card's ``dataset_info`` is also checked against what ``datasets`` itself
records when it prepares the same shards from a card without it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard

from panodpo.data.prepare import PrepareConfig, prepare_dpo_data
from temrobbench.build.pipeline import BuildConfig, build_benchmark
from temrobbench.cli.commands.push import push_folder
from temrobbench.items.schema import CONFIGS, SPLITS, row_features
from temrobbench.hub.layout import read_local_split
from temrobbench.hub.card import write_card
from temrobbench.source.synth import SynthConfig, synthesize_coin

# Fields compared between a loaded row and the Parquet shards (the video as its stored path).
FIELDS = ("id", "video_id", "question", "descriptions", "options", "answer", "shortcut", "option_roles", "order")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache_source")
    coin = synthesize_coin(root, SynthConfig(num_videos=5, seed=11), progress=False)
    return coin, root / "videos"


def _card_infos(folder: Path) -> DatasetInfosDict:
    return DatasetInfosDict.from_dataset_card_data(DatasetCard.load(folder / "README.md").data)


def _loaded(folder: Path, config: str | None, split: str, cache: Path) -> list[dict]:
    ds = load_dataset(str(folder), config, split=split, cache_dir=str(cache))
    columns = [c for c in ds.column_names if c not in ("video", "rejected_video")]
    paths = ds.cast_column("video", __import__("datasets").Video(decode=False))["video"]
    return [{**{c: row[c] for c in columns}, "video": video["path"]} for row, video in zip(ds.select_columns(columns), paths)]


def _bench_rows(folder: Path, config: str, split: str) -> list[dict]:
    return sorted(({k: r[k] for k in FIELDS} for r in read_local_split(folder, config, split)), key=lambda r: r["id"])


def _assert_loads_current_rows(folder: Path, cache: Path) -> dict:
    """Every config and split loads exactly the rows now in the shards; returns them."""
    current = {}
    for config in CONFIGS:
        for split in SPLITS:
            loaded = sorted(({k: r[k] for k in FIELDS} for r in _loaded(folder, config, split, cache)), key=lambda r: r["id"])
            expected = _bench_rows(folder, config, split)
            assert loaded == expected, (config, split)
            current[config, split] = expected
    return current


def _strip_dataset_info(folder: Path, copy: Path) -> Path:
    """A copy of ``folder`` whose card has no ``dataset_info`` (so ``datasets`` measures everything itself)."""
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".build", ".prepare"))
    card = DatasetCard.load(copy / "README.md")
    assert card.data.get("dataset_info")
    card.data.pop("dataset_info")
    card.save(copy / "README.md")
    return copy


def _assert_card_matches_datasets(folder: Path, configs: dict[str | None, tuple[str, ...]], tmp_path: Path) -> None:
    infos = _card_infos(folder)
    plain = _strip_dataset_info(folder, tmp_path / f"plain-{folder.name}")
    for config, splits in configs.items():
        info = infos[config or "default"]
        for split in splits:
            ds = load_dataset(str(plain), config, split=split, cache_dir=str(tmp_path / "plain-cache"))
            recorded = ds.info.splits[split]
            assert (info.splits[split].num_examples, info.splits[split].num_bytes) == (recorded.num_examples, recorded.num_bytes), (config, split)
            assert info.features == ds.features
        assert info.dataset_size == sum(s.num_bytes for s in info.splits.values())
        shards = [p for pattern in ("data/*.parquet", f"data/{config}/*.parquet") for p in folder.glob(pattern)]
        assert info.download_size == sum(p.stat().st_size for p in shards) > 0


def test_card_dataset_info_is_what_datasets_records(source, tmp_path):
    coin, videos = source
    out = build_benchmark(coin, videos, tmp_path / "bench", BuildConfig(num_videos=3), progress=False).out_dir
    _assert_card_matches_datasets(out, {c: SPLITS for c in CONFIGS}, tmp_path)
    card = DatasetCard.load(out / "README.md")  # a valid Hub card: YAML parsed by huggingface_hub
    assert [c["config_name"] for c in card.data["configs"]] == list(CONFIGS)
    assert sorted(i["config_name"] for i in card.data["dataset_info"]) == sorted(CONFIGS)
    # `push` re-renders the card for the repo id: the same dataset_info, read again from the shards.
    before = _card_infos(out)
    push_folder(out, "my-org/bench", dry_run=True)
    assert _card_infos(out) == before and "my-org/bench" in (out / "README.md").read_text()


def test_rebuilt_benchmark_loads_new_rows_from_a_shared_cache(source, tmp_path):
    coin, videos = source
    cache, out = tmp_path / "hf-cache", tmp_path / "bench"

    build_benchmark(coin, videos, out, BuildConfig(num_videos=2, seed=0), progress=False)
    first = _assert_loads_current_rows(out, cache)
    assert len(first["intrinsic", "clean"]) == 2

    build_benchmark(coin, videos, out, BuildConfig(num_videos=4, seed=0), progress=False)
    more = _assert_loads_current_rows(out, cache)
    assert len(more["intrinsic", "clean"]) == 4

    build_benchmark(coin, videos, out, BuildConfig(num_videos=4, seed=1), progress=False)
    reseeded = _assert_loads_current_rows(out, cache)
    assert len(reseeded["intrinsic", "clean"]) == 4 and reseeded != more


def test_same_counts_and_sizes_but_other_content_loads_fresh(source, tmp_path):
    """The collision ``dataset_info`` alone cannot see: rows of the same sizes, other content."""
    coin, videos = source
    cache = tmp_path / "hf-cache"
    out = build_benchmark(coin, videos, tmp_path / "bench", BuildConfig(num_videos=2), progress=False).out_dir
    before = _assert_loads_current_rows(out, cache)
    infos = _card_infos(out)

    # Another answer key: every answer letter rotated (A->B, ..., D->A), written as the build writes.
    shard = sorted((out / "data" / "intrinsic").glob("clean-*.parquet"))[0]
    table = pq.read_table(shard)
    rotated = ["BCDA"["ABCD".index(a)] for a in table.column("answer").to_pylist()]
    table = table.set_column(table.schema.get_field_index("answer"), "answer", pa.array(rotated, pa.string()))
    with pq.ParquetWriter(shard, row_features().arrow_schema) as writer:
        writer.write_table(table)
    write_card(out, json.loads((out / "build_report.json").read_text()))

    # Counts, sizes (Arrow and Parquet) and features are all unchanged: dataset_info alone collides.
    assert _card_infos(out) == infos
    after = _assert_loads_current_rows(out, cache)
    assert after["intrinsic", "clean"] != before["intrinsic", "clean"]
    assert sorted(r["answer"] for r in after["intrinsic", "clean"]) == sorted(rotated)


def _dpo_source(tiny_benchmark: Path, tmp_path: Path) -> Path:
    media = tmp_path / "media"
    media.mkdir()
    for name, video in zip("abc", sorted((tiny_benchmark / "videos").glob("*/clean.mp4"))):
        shutil.copy(video, media / f"{name}.mp4")
    return media


def _dpo_rows(ids: str, chosen: str) -> list[dict]:
    return [{"id": i, "video": f"{i}.mp4", "prompt": f"<video>\nWhat happens in clip {i}?", "chosen": chosen, "rejected": "Nothing happens."} for i in ids]


def _prepare(rows: list[dict], media: Path, out: Path, tmp_path: Path, config: PrepareConfig | None = None) -> None:
    jsonl = tmp_path / "dpo.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = prepare_dpo_data(jsonl, media, out, config, progress=False)
    assert report["num_rows_prepared"] == len(rows)


def test_prepared_dpo_card_matches_and_reprepared_data_loads_fresh(tiny_benchmark, tmp_path):
    media = _dpo_source(tiny_benchmark, tmp_path)
    cache, out = tmp_path / "hf-cache", tmp_path / "prepared"

    _prepare(_dpo_rows("ab", "Someone cuts the bread."), media, out, tmp_path)
    _assert_card_matches_datasets(out, {None: ("train",)}, tmp_path)
    assert DatasetCard.load(out / "README.md").data["dataset_info"]["splits"][0]["num_examples"] == 2
    rows = _loaded(out, None, "train", cache)
    assert sorted(r["id"] for r in rows) == ["a", "b"]

    _prepare(_dpo_rows("abc", "Someone cuts the bread."), media, out, tmp_path)
    assert sorted(r["id"] for r in _loaded(out, None, "train", cache)) == ["a", "b", "c"]

    infos = _card_infos(out)
    _prepare(_dpo_rows("abc", "Someone cuts the bread!"), media, out, tmp_path)  # same sizes, other text
    assert _card_infos(out) == infos
    assert {r["chosen"] for r in _loaded(out, None, "train", cache)} == {"Someone cuts the bread!"}


def test_prepared_dpo_card_with_rejected_videos(tiny_benchmark, tmp_path):
    media = _dpo_source(tiny_benchmark, tmp_path)
    out = tmp_path / "prepared"
    _prepare(_dpo_rows("ab", "Someone cuts the bread."), media, out, tmp_path, PrepareConfig(materialize_rejected_videos=True))
    _assert_card_matches_datasets(out, {None: ("train",)}, tmp_path)
    assert "rejected_video" in _card_infos(out)["default"].features
