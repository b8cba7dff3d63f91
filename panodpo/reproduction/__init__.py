"""The mini reproduction: the temporal shortcut appears in a tiny model, and PanoDPO is measured
against vanilla DPO and its ablations, in two training worlds, over seeds, with paired intervals
(see :mod:`panodpo.reproduction.pipeline`; tuning protocol in :mod:`panodpo.reproduction.tuning`).

It drives both packages (building and evaluating TemRobBench, training with PanoDPO), so it sits
in the upper one; ``temrobbench reproduce`` reaches it through an entry point.
"""

from panodpo.reproduction.data import WORLDS
from panodpo.reproduction.pipeline import DEFAULT_SEEDS, ROWS, TUNED, VARIANTS, MiniReproConfig, SeedRun, config_for, rows_of, run, run_seed, summarize, variants

__all__ = ["DEFAULT_SEEDS", "ROWS", "TUNED", "VARIANTS", "WORLDS", "MiniReproConfig", "SeedRun", "config_for", "rows_of", "run", "run_seed",
           "summarize", "variants"]
