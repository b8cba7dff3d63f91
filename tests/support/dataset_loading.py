"""``load_dataset`` for tests: each call prepared in a cache of its own.

A built folder's card keys ``datasets``' cache on its content (tests/temrobbench/hub/test_dataset_cache.py), but
tests that monkeypatch or hand-edit shards keep a cache of their own anyway.
"""

from __future__ import annotations

import tempfile

from datasets import load_dataset


def load_fresh(path, config, split):
    return load_dataset(str(path), config, split=split, cache_dir=tempfile.mkdtemp(prefix="hf-datasets-"))
