"""``temrobbench report``: tables, plots and ``report.html`` again from saved records (no model);
with two or more folders, one page comparing the runs item by item."""

from __future__ import annotations

import argparse
from pathlib import Path

from temrobbench.utils.errors import UserError
from temrobbench.cli.checks import existing_dir
from temrobbench.utils.files import exclusive_lock


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="re-render tables (markdown, JSON), plots and report.html from an eval folder; compare several")
    p.add_argument("results_dir", nargs="+", metavar="RESULTS_DIR",
                   help="an output folder of `temrobbench eval`; two or more: a page comparing them (items whose outcome differs first)")
    from temrobbench.reference import REFERENCES  # stdlib only: cheap at parser time

    p.add_argument("--reference", choices=REFERENCES, default=None,
                   help="place the run among published numbers: 'paper' = the paper's Tables 1, 3, 5 (its own 562-video build), in report.md, report.html and paper_reference.png")
    p.add_argument("--data", default=None, metavar="BENCHMARK_DIR",
                   help="the built benchmark whose videos and options report.html shows (default: the one the run evaluated, from its benchmark.json); "
                        "e.g. a local download of a Hub benchmark")
    p.add_argument("--out", default=None, metavar="FILE.html",
                   help="with two or more RESULTS_DIRs: where the comparison page goes (default: compare.html in the first RESULTS_DIR)")
    p.set_defaults(func=run)


def _load(folder: str):
    from temrobbench.evaluation.records import read_all_records
    from temrobbench.evaluation.report.tables import EvalReport

    out = existing_dir(folder, "RESULTS_DIR", "give an output folder of `temrobbench eval`")
    records = read_all_records(out)
    if not records:
        raise UserError("no records here (no records.jsonl)", out, "give the --out folder of a `temrobbench eval` run")
    from temrobbench.evaluation.run_file import RunMismatchError, read_run

    try:
        settings = read_run(out) or {}
    except RunMismatchError:  # an unreadable run.json: the records still say what they are
        settings = {}
    report = EvalReport.from_records(records, model=settings.get("model", ""), scoring=settings.get("scoring", ""), rounds=settings.get("rounds", 4))
    return out, report, settings


def _check_benchmark(data: str | None, loaded: list, digests: dict) -> None:
    """Refuse ``--data`` when it is not the benchmark a run evaluated (by the digest its
    ``run.json`` records; runs from before it recorded one are not checked)."""
    if data is None:
        return
    from temrobbench.evaluation.data import benchmark_digest, load_items
    from temrobbench.evaluation.run_file import short

    for folder, _, settings in loaded:
        recorded = settings.get("benchmark")
        if not isinstance(recorded, dict) or not recorded.get("sha256"):
            continue
        configs, limit = tuple(recorded.get("configs") or ("intrinsic", "extrinsic")), recorded.get("limit")
        if (configs, limit) not in digests:
            digests[configs, limit] = benchmark_digest(load_items(data, configs, limit))
        digest = digests[configs, limit]
        if digest != recorded["sha256"]:
            raise UserError(f"not the benchmark this run evaluated (benchmark {short(digest)} vs the run's {short(recorded['sha256'])}, in {folder})",
                            f"--data {data}", f"give the benchmark the run evaluated ({recorded.get('source') or 'see its run.json'}), or leave out --data")


def run(args: argparse.Namespace) -> int:
    if args.data is not None:
        from temrobbench.hub.layout import is_built_folder

        hint = "give a folder written by `temrobbench build` (or a download of a Hub benchmark)"
        if not is_built_folder(existing_dir(args.data, "--data", hint)):
            raise UserError("not a built benchmark (no README.md and data/)", f"--data {args.data}", hint)
    if len(args.results_dir) > 1:
        return _compare(args)
    if args.out is not None:
        raise UserError("--out is for comparing two or more RESULTS_DIRs", "--out", "one folder's page is always RESULTS_DIR/report.html")
    loaded = _load(args.results_dir[0])
    _check_benchmark(args.data, [loaded], {})
    out, report, _ = loaded
    with exclusive_lock(out, f"temrobbench report {out}"):  # not while an eval writes into the folder
        if args.data is not None:  # remembered for the next report
            from temrobbench.evaluation.report.explorer import write_benchmark_pointer

            write_benchmark_pointer(out, args.data)
        paths = report.save(out, reference=args.reference, data=args.data)
    print(report.to_markdown(args.reference))
    print("\nWrote " + ", ".join(str(p) for p in paths))
    if report.plots_skipped:
        print(report.plots_skipped)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from temrobbench.evaluation.report.explorer import write_explorer

    loaded = [_load(folder) for folder in args.results_dir]
    _check_benchmark(args.data, loaded, {})
    folders, reports = [f for f, _, _ in loaded], [r for _, r, _ in loaded]
    page = Path(args.out) if args.out else folders[0] / "compare.html"
    if page.suffix.lower() not in (".html", ".htm"):
        raise UserError("the comparison page must be an .html file", f"--out {args.out}", "e.g. --out compare.html")
    for folder, report, _ in loaded:
        print(f"## {folder}\n\n{report.to_markdown(args.reference)}\n")
    path = write_explorer(page, reports, folders, data=args.data, reference=args.reference)
    print(f"Wrote {path} (open it in a browser: {len(reports)} runs, the items whose outcome differs first)")
    return 0
