"""``temrobbench report``: tables and plots again from saved records (no model)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="re-render tables (markdown, JSON) and plots from an eval folder")
    p.add_argument("results_dir")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.records import read_all_records
    from ..evaluation.report import EvalReport

    out = Path(args.results_dir)
    records = read_all_records(out)
    if not records:
        print(f"error: no records in {out} (expected records.jsonl from `temrobbench eval`)", file=sys.stderr)
        return 2
    settings = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    report = EvalReport.from_records(records, model=settings.get("model", ""), scoring=settings.get("scoring", ""), rounds=settings.get("rounds", 4))
    paths = report.save(out)
    print(report.to_markdown())
    print("\nWrote " + ", ".join(str(p) for p in paths))
    return 0
