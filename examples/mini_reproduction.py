"""Mini reproduction of the paper's phenomenon and fix, offline on 2 CPU cores.

    python examples/mini_reproduction.py --out runs/mini-repro                 # 5 seeds x 2 worlds
    python examples/mini_reproduction.py --out runs/mini-repro --seeds 0 1 --worlds canonical
    python examples/mini_reproduction.py --out runs/mini-repro-tuning --tune   # the grid, seeds 100-102
    python examples/mini_reproduction.py --out runs/mini-repro --setup zero-shot            # train on open video QA, test zero-shot
    python examples/mini_reproduction.py --out runs/mini-repro --setup in-format zero-shot --worlds mixed  # both, side by side

Same as ``temrobbench reproduce``; see panodpo/reproduction/ (pipeline.py: what it does; tuning.py:
how its preference settings were chosen; zero_shot.py: the zero-shot setup's data; stats.py: the
intervals) and docs/reproduction.md.
"""

import sys

from temrobbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
