"""TemRobBench: a benchmark of video LMMs' robustness to temporal inconsistency.

Heavy submodules load on first use, so ``import temrobbench`` stays cheap and never touches the
network (lmms-eval's rule: no work at import time).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "TemRobBench": "temrobbench.hub.builder",
    "TemRobBenchConfig": "temrobbench.hub.builder",
    "build_benchmark": "temrobbench.build.pipeline",
    "BuildConfig": "temrobbench.build.pipeline",
    "synthesize_coin": "temrobbench.source.synth",
    "render_prompt": "temrobbench.prompt",
    "evaluate_temporal_robustness": "temrobbench.evaluation",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'temrobbench' has no attribute {name!r}")
