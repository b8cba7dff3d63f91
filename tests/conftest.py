"""Shared fixtures: a small synthetic benchmark built once per test session."""

from __future__ import annotations

import pytest

from temrobbench.build.pipeline import BuildConfig, build_benchmark
from temrobbench.source.synth import SynthConfig, synthesize_coin


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory):
    """A built benchmark of 4 synthetic videos (4 ITS items, 8 ETS items)."""
    root = tmp_path_factory.mktemp("tiny_benchmark")
    coin = synthesize_coin(root / "src", SynthConfig(num_videos=4, seed=7), progress=False)
    return build_benchmark(coin, root / "src" / "videos", root / "bench", BuildConfig(num_videos=4), progress=False).out_dir
