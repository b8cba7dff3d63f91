"""The mini reproduction: the temporal shortcut appears in a tiny model, and PanoDPO is measured
against vanilla DPO and its ablations, in two training worlds and two setups (in-format, zero-shot),
over seeds, with paired intervals (see :mod:`panodpo.reproduction.pipeline`; tuning protocol in
:mod:`panodpo.reproduction.tuning`; the zero-shot data in :mod:`panodpo.reproduction.zero_shot`).

It drives both packages (building and evaluating TemRobBench, training with PanoDPO), so it sits
in the upper one; ``temrobbench reproduce`` reaches it through an entry point.
"""

from panodpo.reproduction.data import WORLDS
from panodpo.reproduction.pipeline import (DEFAULT_SEEDS, ROWS, SETUP_WORLDS, SETUPS, TUNED, VARIANTS, MiniReproConfig, SeedRun, config_for,
                                           preference_rows, rows_of, run, run_seed, summarize, variants)
from panodpo.reproduction.zero_shot import ZERO_SHOT_ROWS

__all__ = ["DEFAULT_SEEDS", "ROWS", "SETUPS", "SETUP_WORLDS", "TUNED", "VARIANTS", "WORLDS", "ZERO_SHOT_ROWS", "MiniReproConfig", "SeedRun", "config_for",
           "preference_rows", "rows_of", "run", "run_seed", "summarize", "variants"]
