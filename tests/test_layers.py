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


# ----------------------------------------------------------------------------------------------
# The module import graph of both packages: no circle, and only the CLI imports temrobbench.cli
# ----------------------------------------------------------------------------------------------

PACKAGES = ("temrobbench", "panodpo")
# panodpo's command-line modules (they build on temrobbench's CLI runtime and its quickstart stage).
PANODPO_CLI = {"panodpo.cli", "panodpo.reproduction.cli", "panodpo.quickstart"}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the package modules it imports, read from the source: every import statement,
    top level or inside a function, relative ones resolved; ``from pkg import name`` counts as an
    import of ``pkg.name`` where that is a module."""
    files = {_module_name(root, p): p for pkg in packages for p in (root / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        here = module.split(".") if is_package else module.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                targets.add(base)
                targets |= {f"{base}.{alias.name}" for alias in node.names}
        graph[module] = {t for t in targets if t in files and t != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle_in_either_package():
    assert find_cycle(import_graph()) is None


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_cycle_check_sees_a_circle_behind_a_function(tmp_path):
    root = _plant(tmp_path, {
        "temrobbench/__init__.py": "",
        "temrobbench/a.py": "from temrobbench.b import x\n",
        "temrobbench/b.py": "x = 1\ndef f():\n    from . import a\n",
        "panodpo/__init__.py": "",
    })
    assert find_cycle(import_graph(root)) in (["temrobbench.a", "temrobbench.b", "temrobbench.a"], ["temrobbench.b", "temrobbench.a", "temrobbench.b"])
    (root / "temrobbench/b.py").write_text("x = 1\n")
    assert find_cycle(import_graph(root)) is None


def _cli_importers(root: Path) -> dict[str, list[str]]:
    graph = import_graph(root)
    allowed = lambda module: module == "temrobbench.cli" or module.startswith("temrobbench.cli.") or module in PANODPO_CLI  # noqa: E731
    return {m: sorted(t for t in targets if t == "temrobbench.cli" or t.startswith("temrobbench.cli."))
            for m, targets in graph.items() if not allowed(m) and any(t == "temrobbench.cli" or t.startswith("temrobbench.cli.") for t in targets)}


def test_library_code_never_imports_the_cli():
    assert _cli_importers(ROOT) == {}


def test_the_cli_check_sees_a_library_module_importing_the_cli(tmp_path):
    root = _plant(tmp_path, {
        "temrobbench/__init__.py": "",
        "temrobbench/cli/__init__.py": "",
        "temrobbench/cli/checks.py": "def at_least(): ...\n",
        "temrobbench/evaluation/__init__.py": "",
        "temrobbench/evaluation/models.py": "def load():\n    from temrobbench.cli.checks import at_least\n",
        "panodpo/__init__.py": "",
        "panodpo/cli.py": "from temrobbench.cli import checks\n",
    })
    assert _cli_importers(root) == {"temrobbench.evaluation.models": ["temrobbench.cli.checks"]}
