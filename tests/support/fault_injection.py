"""Kill a console-script run with SIGKILL at a chosen point, for crash-consistency tests.

The project ships no test hook: a ``sitecustomize`` put first on the child's ``PYTHONPATH`` wraps
one function of the real program (``module:attr[.attr]``) so that its ``n``-th call sends
SIGKILL to the process itself, before or after the call runs. The kill is a real kill -9: no
``finally``, no ``atexit``, no flush, exactly what a power cut or the OOM killer leaves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
KILL_ENV = "TEST_KILL_AT"  # "module:attr.path:before|after:n"

SITECUSTOMIZE = '''
import importlib, os, signal

def _install(spec):
    module_name, attr_path, when, nth = spec.split(":")
    owner = importlib.import_module(module_name)
    *parents, name = attr_path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    real = getattr(owner, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if when == "before" and calls[0] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if when == "after" and calls[0] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapper)

if os.environ.get("TEST_KILL_AT"):
    _install(os.environ["TEST_KILL_AT"])
'''


def hook_dir(tmp_path: Path) -> Path:
    """A folder holding the killing ``sitecustomize.py``."""
    folder = tmp_path / "kill_hook"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


def run_command(argv: list[str], kill_at: str | None = None, hook: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run console script ``argv[0]`` with ``argv[1:]``; with ``kill_at``, killed at that point."""
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    env.update({"OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"})
    if kill_at:
        assert hook is not None
        env[KILL_ENV] = kill_at
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH", "")]))
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, env=env, timeout=timeout)
