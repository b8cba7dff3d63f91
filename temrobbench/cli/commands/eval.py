"""``temrobbench eval``: evaluate a model on a built benchmark (folder or hub id)."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from temrobbench.evaluation.models.options import model_args_type
from temrobbench.utils.files import exclusive_lock

from temrobbench.utils.errors import EXIT_RUNTIME, UserError, require_extra
from temrobbench.cli.checks import at_least, check_output_dir, most_common_cause, no_empty_folder_left
from temrobbench.utils.hub_checks import check_local_or_hub, check_model_source, check_server

# Files that mark a folder as an earlier evaluation (resumed, not refused).
EVAL_MARKERS = ("records.jsonl", "records.rank*.jsonl", "run.json")
# Options per item (evaluation.protocol.NUM_OPTIONS, kept here so that validation imports nothing heavy).
NUM_OPTIONS = 4


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="evaluate a video LMM on TemRobBench (resumable)")
    p.add_argument("--data", required=True, help="built benchmark folder or hub dataset id ORG/NAME")
    p.add_argument("--model", required=True, help="hf:<id-or-path> | openai:<model>[@base_url] | random | blind:<hf spec>")
    p.add_argument("--out", required=True, help="output folder: records.jsonl, metrics.json, report.md, plots")
    p.add_argument("--frames", type=int, default=32, help="frames sampled uniformly per video")
    p.add_argument("--rounds", type=int, default=4, help="adversarial rounds of rotated options (at most 4, the number of options)")
    p.add_argument("--scoring", choices=("generate", "likelihood", "choice"), default="generate")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=None, help="first N items of each config")
    p.add_argument("--trust-video-prompt", action="store_true", help="add the trust-the-video system prompt (the paper's Prompt baseline)")
    from temrobbench.reference import REFERENCES  # stdlib only: cheap at parser time

    p.add_argument("--reference", choices=REFERENCES, default=None,
                   help="place the run among published numbers ('paper': the paper's Tables 1, 3, 5, on its own 562-video build)")
    p.add_argument("--configs", nargs="+", default=["intrinsic", "extrinsic"], choices=["intrinsic", "extrinsic"], help="benchmark configs to evaluate")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty --out that is not an earlier evaluation; or start over in one of another "
                        "benchmark, model or settings (its records, metrics and reports are removed)")
    p.add_argument("--model-args", type=model_args_type, default=None, metavar="K=V,...",
                   help="adapter options, e.g. max_new_tokens=8192,reasoning_effort=low for openai: (recorded in the run's settings)")
    p.set_defaults(func=run)


def _benchmark_problem(folder: Path) -> tuple[str, str] | None:
    if not ((folder / "data").is_dir() and (folder / "README.md").is_file()):
        return "not a built benchmark (no README.md and data/)", "give a folder written by `temrobbench build`, or a Hub id ORG/NAME"
    return None


def check_model_spec(spec: str) -> None:
    """What can be known about ``--model`` without loading it: the folder or Hub id of an hf
    model, the openai extra, key and server. Unknown specs are left to the model registry."""
    prefix, _, argument = spec.partition(":")
    if prefix == "blind":
        argument = argument[len("hf:") :] if argument.startswith("hf:") else argument
    if prefix in ("hf", "blind") and argument:
        check_model_source(argument, f"--model {spec}")
    elif prefix == "openai" and argument:
        require_extra(["openai"], "openai: models")
        base_url = argument.partition("@")[2]
        if base_url:
            check_server(base_url, "--model")
        elif not os.environ.get("OPENAI_API_KEY"):
            raise UserError("no API key: OPENAI_API_KEY is not set", f"--model {spec}", "export OPENAI_API_KEY, or add @BASE_URL of a local OpenAI-compatible server")


def validate(args: argparse.Namespace) -> None:
    """Everything checkable before the model loads or any folder is made."""
    at_least(args.frames, 1, "--frames")
    at_least(args.rounds, 1, "--rounds")
    if args.rounds > NUM_OPTIONS:  # round r and r + 4 show the same rotation: repeats, not new rounds
        raise UserError(f"must be at most {NUM_OPTIONS} (the number of options: more rounds would repeat rotations), not {args.rounds}",
                        "--rounds", f"give --rounds 1 to {NUM_OPTIONS}")
    at_least(args.batch_size, 1, "--batch-size")
    at_least(args.limit, 1, "--limit")
    check_local_or_hub(args.data, f"--data {args.data}", "dataset", _benchmark_problem)
    check_model_spec(args.model)
    check_output_dir(args.out, "--out", EVAL_MARKERS, args.overwrite, "temrobbench eval")


def _lock_command(args: argparse.Namespace) -> str:
    """This run as the lock file names it to a second writer (secrets redacted)."""
    from temrobbench.utils.redaction import redact

    return redact(f"temrobbench eval --data {args.data} --model {args.model} --out {args.out}")


def run(args: argparse.Namespace) -> int:
    validate(args)
    # One writer per --out. Under a launcher every rank runs this command into the same folder
    # (each with its own record file): rank 0 holds the lock for all of them.
    lock = exclusive_lock(args.out, _lock_command(args)) if int(os.environ.get("RANK", "0") or 0) == 0 else contextlib.nullcontext()
    with no_empty_folder_left(args.out), lock:
        return _evaluate(args)


def _evaluate(args: argparse.Namespace) -> int:
    from temrobbench.evaluation import evaluate_temporal_robustness
    from temrobbench.evaluation.answers.picking import UnscorableResponseError
    from temrobbench.evaluation.run_file import RunMismatchError

    try:
        report = evaluate_temporal_robustness(
            args.model, args.data, num_frames=args.frames, rounds=args.rounds, scoring=args.scoring,
            output_dir=args.out, batch_size=args.batch_size, limit=args.limit,
            system_prompt=True if args.trust_video_prompt else None, configs=tuple(args.configs), model_kwargs=args.model_args,
            overwrite=args.overwrite,
        )
    except RunMismatchError as err:  # nothing was changed: the folder still holds the other run's results
        hint = ("pass --overwrite to discard them and start over, or give another --out" if err.legacy
                else "give another --out, or pass --overwrite to discard its results and start over")
        raise UserError(f"--out holds the results of another run ({err.describe()})", f"--out {args.out}", hint) from None
    except UnscorableResponseError as err:  # e.g. no log-probabilities: its message holds the cause and the remedy
        what, _, hint = str(err).partition(": ")
        raise UserError(what, f"--model {args.model}, --scoring {args.scoring}", hint or None) from None
    except ValueError as err:
        raise UserError(str(err), f"--model {args.model}, --data {args.data}, --out {args.out}", "see `temrobbench eval --help`") from None
    if report.num_records and report.num_errors == report.num_records:
        message, count, total = most_common_cause(r.get("error") for r in report.records)
        raise UserError(f"all {total} queries failed; most common cause: {message} ({count} of {total})", f"--out {args.out}",
                        "fix the cause and rerun the same command (failed queries are retried)", EXIT_RUNTIME)
    if not report.num_records:
        raise UserError("no query to evaluate: the benchmark has no rows in the chosen configs", f"--data {args.data}", "check --data and --configs", EXIT_RUNTIME)
    from temrobbench.evaluation.report.explorer import write_benchmark_pointer, write_explorer

    # Where the benchmark is, for report.html's videos and options (and `temrobbench report` later).
    pointer_changed = write_benchmark_pointer(args.out, args.data)
    if args.reference:  # tables, report.html and paper_reference.png again, with the published rows
        report.save(args.out, reference=args.reference, data=args.data)
    elif pointer_changed:
        write_explorer(Path(args.out) / "report.html", [report], [args.out], data=None)
    print(report.to_markdown(args.reference))
    written = ["records.jsonl", "metrics.json", "report.md"] + [p for p in ("accuracy.png", "shortcut_margin.png") if report.plots_skipped is None and (Path(args.out) / p).exists()]
    written += ["report.html", "benchmark.json"]
    print(f"\nOutputs: {args.out} ({', '.join(written)})")
    if report.plots_skipped:
        print(report.plots_skipped)
    return 0
