"""``temrobbench report``: tables and plots again from saved records (no model)."""

from __future__ import annotations

import argparse
import json

from ..errors import UserError, existing_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="re-render tables (markdown, JSON) and plots from an eval folder")
    p.add_argument("results_dir", help="an output folder of `temrobbench eval`")
    from ..reference import REFERENCES  # stdlib only: cheap at parser time

    p.add_argument("--reference", choices=REFERENCES, default=None,
                   help="place the run among published numbers: 'paper' = the paper's Tables 1, 3, 5 (its own 562-video build), in report.md and paper_reference.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.records import read_all_records
    from ..evaluation.report import EvalReport

    out = existing_dir(args.results_dir, "RESULTS_DIR", "give an output folder of `temrobbench eval`")
    records = read_all_records(out)
    if not records:
        raise UserError("no records here (no records.jsonl)", out, "give the --out folder of a `temrobbench eval` run")
    settings = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    report = EvalReport.from_records(records, model=settings.get("model", ""), scoring=settings.get("scoring", ""), rounds=settings.get("rounds", 4))
    paths = report.save(out, reference=args.reference)
    print(report.to_markdown(args.reference))
    print("\nWrote " + ", ".join(str(p) for p in paths))
    if report.plots_skipped:
        print(report.plots_skipped)
    return 0
