"""``temrobbench lmms-eval-path``: the folder of TemRobBench tasks to give lmms-eval's ``--include_path``.

Only the path goes to stdout, so ``--include_path "$(temrobbench lmms-eval-path --data DIR)"`` works;
anything else goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from temrobbench.utils.errors import UserError
from temrobbench.cli.checks import check_output_dir
from temrobbench.utils.hub_checks import looks_like_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("lmms-eval-path", help="print the lmms-eval task folder (--include_path) for a built benchmark")
    p.add_argument("--data", default=None,
                   help="a built benchmark folder or ORG/NAME hub id; without it, the package's own task folder, which reads ./temrobbench-data")
    p.add_argument("--out", default=None, help="where to write the task folder for --data (default: a folder per --data under ~/.cache/temrobbench)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that holds no earlier task folder")
    p.set_defaults(func=run)


def _default_out(data: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(data).name)[:40]
    return cache / "temrobbench" / "lmms_eval_tasks" / f"{slug}-{hashlib.sha1(data.encode()).hexdigest()[:8]}"


def resolve_data(data: str) -> str:
    """A built folder as an absolute path (lmms-eval may run elsewhere), a hub id as it is."""
    from temrobbench.hub.layout import is_built_folder

    path = Path(data).expanduser()
    if path.exists():
        if not is_built_folder(path):
            raise UserError("not a built benchmark (no README.md and data/)", f"--data {data}", "give a folder written by `temrobbench build`")
        return str(path.resolve())
    if looks_like_path(data):
        raise UserError("no such folder", f"--data {data}", "check the path (a Hub id reads ORG/NAME)")
    return data  # a hub id: lmms-eval loads it through `datasets`


def run(args: argparse.Namespace) -> int:
    from temrobbench.integrations.lmms_eval import GROUP, TASKS, shipped_task_dir, write_task_dir

    if args.data is None:
        if args.out is not None:
            raise UserError("--out needs --data", f"--out {args.out}", "give --data DIR|ORG/NAME, or neither to print the shipped folder")
        folder = shipped_task_dir()
    else:
        data = resolve_data(args.data)
        out = check_output_dir(args.out or _default_out(data), "--out", [f"{GROUP}.yaml"], args.overwrite, "temrobbench lmms-eval-path")
        folder = write_task_dir(out, data)
        print(f"Wrote lmms-eval tasks {', '.join(TASKS)} and group {GROUP} reading {data}", file=sys.stderr)
    print(folder)
    return 0
