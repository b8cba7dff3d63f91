"""Mini reproduction of the paper's phenomenon and fix, offline on 2 CPU cores.

    python examples/mini_reproduction.py --out runs/mini-repro                 # 5 seeds x 2 worlds
    python examples/mini_reproduction.py --out runs/mini-repro --seeds 0 1 --worlds canonical
    python examples/mini_reproduction.py --out runs/mini-repro-tuning --tune   # the grid, seeds 100-102

Same as ``temrobbench reproduce``; see panodpo/reproduction/ (pipeline.py: what it does; tuning.py:
how its preference settings were chosen; stats.py: the intervals) and the README's "Mini reproduction".
"""

import sys

from temrobbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
