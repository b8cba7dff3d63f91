"""``temrobbench eval``: evaluate a model on a built benchmark (folder or hub id)."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="evaluate a video LMM on TemRobBench (resumable)")
    p.add_argument("--data", required=True, help="built benchmark folder or hub dataset id ORG/NAME")
    p.add_argument("--model", required=True, help="hf:<id-or-path> | openai:<model>[@base_url] | random | blind:<hf spec>")
    p.add_argument("--out", required=True, help="output folder: records.jsonl, metrics.json, report.md, plots")
    p.add_argument("--frames", type=int, default=32, help="frames sampled uniformly per video")
    p.add_argument("--rounds", type=int, default=4, help="adversarial rounds of rotated options")
    p.add_argument("--scoring", choices=("generate", "likelihood", "choice"), default="generate")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=None, help="first N items of each config")
    p.add_argument("--trust-video-prompt", action="store_true", help="add the trust-the-video system prompt (the paper's Prompt baseline)")
    p.add_argument("--configs", nargs="+", default=["intrinsic", "extrinsic"], choices=["intrinsic", "extrinsic"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_temporal_robustness

    try:
        report = evaluate_temporal_robustness(
            args.model, args.data, num_frames=args.frames, rounds=args.rounds, scoring=args.scoring,
            output_dir=args.out, batch_size=args.batch_size, limit=args.limit,
            system_prompt=True if args.trust_video_prompt else None, configs=tuple(args.configs),
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.to_markdown())
    print(f"\nOutputs: {args.out} (records.jsonl, metrics.json, report.md, accuracy.png)")
    return 0
