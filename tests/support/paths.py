"""Where things are, for tests that read the repository's own files."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the repository root (tests/support/paths.py)
