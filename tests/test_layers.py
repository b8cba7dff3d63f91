"""Layers point one way: ``panodpo`` may import ``temrobbench``, never the reverse.

Read from the source (every import statement and every module name given to importlib), so an
upward import anywhere in ``temrobbench`` fails here, even one behind a function or a string.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root (tests/test_layers.py)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("panodpo."):
            names.add(node.value)  # importlib.import_module("panodpo.x") and the like
    return names


def test_temrobbench_never_imports_panodpo():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if m == "panodpo" or m.startswith("panodpo."))
        for path in (ROOT / "temrobbench").rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_the_check_sees_an_upward_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from panodpo.trainer import PanoDPOTrainer\n    return importlib.import_module('panodpo.lora')\n")
    assert {"panodpo.trainer", "panodpo.lora"} <= _imported_modules(probe)


def test_panodpo_reaches_temrobbench_through_its_public_modules_only():
    # Not the evaluation adapters' internals (their retry loop once served the perturbers).
    internal = ("temrobbench.evaluation.models.",)
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if m.startswith(internal))
        for path in (ROOT / "panodpo").rglob("*.py")
    }
    allowed = {"panodpo/reproduction/pipeline.py"}  # evaluates its trained models with the hf: adapter
    assert not {k: v for k, v in offenders.items() if v and k not in allowed}
