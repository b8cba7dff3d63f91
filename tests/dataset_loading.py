"""``load_dataset`` for tests: each call prepared in a cache of its own.

``datasets`` caches a local folder by its name and config only, so two test folders with the
same name (``bench``) would otherwise share rows (and split sizes) across tests.
"""

from __future__ import annotations

import tempfile

from datasets import load_dataset


def load_fresh(path, config, split):
    return load_dataset(str(path), config, split=split, cache_dir=tempfile.mkdtemp(prefix="hf-datasets-"))
