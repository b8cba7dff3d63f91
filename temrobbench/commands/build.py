"""``temrobbench build``: COIN.json + videos -> a Hub-layout benchmark folder."""

from __future__ import annotations

import argparse
import sys

from ..build import BuildConfig, build_benchmark
from ..coin import CoinFormatError
from ..eligibility import EligibilityRules
from ..video_io import EncodeSettings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    rules, enc = EligibilityRules(), EncodeSettings()
    p = subparsers.add_parser("build", help="build the benchmark from COIN annotations and videos (resumable)")
    p.add_argument("--coin", required=True, help="COIN.json")
    p.add_argument("--videos", required=True, help="folder of <id>.mp4 or <recipe_type>/<id>.mp4")
    p.add_argument("--out", required=True, help="output folder (a Hub dataset repository layout)")
    p.add_argument("--num-videos", type=int, default=BuildConfig.num_videos)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes encoding videos in parallel")
    p.add_argument("--min-steps", type=int, default=rules.min_steps)
    p.add_argument("--min-distinct-labels", type=int, default=rules.min_distinct_labels)
    p.add_argument("--min-total-duration", type=float, default=rules.min_total_duration, help="seconds")
    p.add_argument("--max-total-duration", type=float, default=rules.max_total_duration, help="seconds")
    p.add_argument("--max-height", type=int, default=enc.max_height, help="scale videos down to this many rows")
    p.add_argument("--max-fps", type=float, default=enc.max_fps)
    p.add_argument("--crf", type=int, default=enc.crf, help="x264 quality (lower is better, larger)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = BuildConfig(
        num_videos=args.num_videos,
        seed=args.seed,
        workers=args.workers,
        rules=EligibilityRules(args.min_steps, args.min_distinct_labels, args.min_total_duration, args.max_total_duration),
        encode=EncodeSettings(max_height=args.max_height, max_fps=args.max_fps, crf=args.crf),
    )
    try:
        result = build_benchmark(args.coin, args.videos, args.out, config)
    except CoinFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = result.report
    print(f"Built {report['num_videos_built']} videos ({report['num_videos_eligible']} eligible of {report['num_videos_annotated']} annotated)")
    for config_name, splits in report["num_rows"].items():
        print(f"  {config_name}: " + ", ".join(f"{n} {split}" for split, n in splits.items()))
    skipped = {**report["skipped_videos"], **report["skipped_items"]}
    if skipped:
        print("  skipped: " + ", ".join(f"{reason} {n}" for reason, n in skipped.items()))
    print(f"Output: {result.out_dir} (card {result.out_dir / 'README.md'}, report {result.out_dir / 'build_report.json'})")
    print(f'Load it: load_dataset("{result.out_dir}", "intrinsic", split="adversarial")')
    return 0
