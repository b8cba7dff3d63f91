"""The mini reproduction: the temporal shortcut appears in a tiny model, and PanoDPO is measured
against vanilla DPO and its ablations (see :mod:`panodpo.reproduction.pipeline`).

It drives both packages (building and evaluating TemRobBench, training with PanoDPO), so it sits
in the upper one; ``temrobbench reproduce`` reaches it through an entry point.
"""

from .pipeline import ROWS, VARIANTS, MiniReproConfig, run, run_seed, summarize

__all__ = ["ROWS", "VARIANTS", "MiniReproConfig", "run", "run_seed", "summarize"]
