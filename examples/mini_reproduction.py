"""Mini reproduction of the paper's phenomenon and fix, offline on 2 CPU cores.

    python examples/mini_reproduction.py --out runs/mini-repro --seeds 0 1

Same as ``temrobbench reproduce``; see panodpo/reproduction/pipeline.py for what it does.
"""

import sys

from temrobbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
