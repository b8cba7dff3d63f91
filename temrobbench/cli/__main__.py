"""``python -m temrobbench.cli``: the ``temrobbench`` console script (e.g. under ``accelerate launch``)."""

import sys

from temrobbench.cli import main

sys.exit(main())
