"""TemRobBench: a benchmark of video LMMs' robustness to temporal inconsistency.

Heavy submodules load on first use, so ``import temrobbench`` stays cheap and never touches the
network (lmms-eval's rule: no work at import time).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it (docs/layout.md maps the folders)
_LAZY = {
    # source
    "load_coin": "temrobbench.source.coin",
    "EligibilityRules": "temrobbench.source.eligibility",
    "SynthConfig": "temrobbench.source.synth",
    "SYNTH_TASKS": "temrobbench.source.synth",
    "synthesize_coin": "temrobbench.source.synth",
    "PriorWorldConfig": "temrobbench.source.prior_world",
    "synthesize_prior_world": "temrobbench.source.prior_world",
    # items
    "CATEGORIES": "temrobbench.items.categories",
    "ItemSpec": "temrobbench.items.spec",
    # build and Hub layout
    "build_benchmark": "temrobbench.build.pipeline",
    "BuildConfig": "temrobbench.build.pipeline",
    "TemRobBench": "temrobbench.hub.builder",
    "TemRobBenchConfig": "temrobbench.hub.builder",
    # evaluation
    "render_prompt": "temrobbench.prompt",
    "evaluate_temporal_robustness": "temrobbench.evaluation.evaluate",
    "EvalReport": "temrobbench.evaluation.report.tables",
    "VideoLM": "temrobbench.evaluation.models.base",
    "register_model": "temrobbench.evaluation.models.registry",
    "resolve_model": "temrobbench.evaluation.models.registry",
    # errors library code raises
    "UserError": "temrobbench.utils.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'temrobbench' has no attribute {name!r}")
