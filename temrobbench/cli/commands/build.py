"""``temrobbench build``: COIN.json + videos -> a Hub-layout benchmark folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from temrobbench.build.pipeline import OUTSIDE_ROOT, STATE_DIR, BuildConfig, build_benchmark, locate_video
from temrobbench.source.coin import CoinAnnotations, CoinFormatError, DuplicateVideoIdError, load_coin
from temrobbench.source.eligibility import EligibilityRules
from temrobbench.utils.errors import EXIT_RUNTIME, UserError
from temrobbench.cli.checks import at_least, check_output_dir, existing_dir, existing_file, in_range, most_common_cause, no_empty_folder_left
from temrobbench.build.video_io import EncodeSettings
from temrobbench.utils.files import VIDEO_EXTENSIONS

# Files that mark a folder as an earlier build (resumed, not refused).
BUILD_MARKERS = (STATE_DIR, "build_report.json")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    rules, enc = EligibilityRules(), EncodeSettings()
    p = subparsers.add_parser("build", help="build the benchmark from COIN annotations and videos (resumable)")
    p.add_argument("--coin", required=True, help="COIN.json")
    p.add_argument("--videos", required=True, help="folder of <id>.mp4 or <recipe_type>/<id>.mp4")
    p.add_argument("--out", required=True, help="output folder (a Hub dataset repository layout); an earlier build there is resumed")
    p.add_argument("--num-videos", type=int, default=BuildConfig.num_videos, help="videos to build (the first that build, in seeded order)")
    p.add_argument("--seed", type=int, default=0, help="fixes selection, edits, options and their order")
    p.add_argument("--workers", type=int, default=1, help="processes encoding videos in parallel")
    p.add_argument("--min-steps", type=int, default=rules.min_steps, help="eligibility: annotated steps")
    p.add_argument("--min-distinct-labels", type=int, default=rules.min_distinct_labels, help="eligibility: distinct step labels")
    p.add_argument("--min-total-duration", type=float, default=rules.min_total_duration, help="seconds")
    p.add_argument("--max-total-duration", type=float, default=rules.max_total_duration, help="seconds")
    p.add_argument("--max-height", type=int, default=enc.max_height, help="scale videos down to this many rows")
    p.add_argument("--max-fps", type=float, default=enc.max_fps, help="drop frames above this rate")
    p.add_argument("--crf", type=int, default=enc.crf, help="x264 quality (lower is better, larger)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that is not an earlier build")
    p.set_defaults(func=run)


def validate(args: argparse.Namespace) -> None:
    """Everything checkable before any work or folder is made."""
    for flag, value, minimum in (("--num-videos", args.num_videos, 1), ("--workers", args.workers, 1), ("--min-steps", args.min_steps, 3),
                                 ("--min-distinct-labels", args.min_distinct_labels, 3), ("--min-total-duration", args.min_total_duration, 0),
                                 ("--max-height", args.max_height, 2), ("--max-fps", args.max_fps, 0.1)):
        at_least(value, minimum, flag)
    if args.max_total_duration < args.min_total_duration:
        raise UserError(f"is below --min-total-duration {args.min_total_duration}", f"--max-total-duration {args.max_total_duration}", "give a maximum at or above the minimum")
    in_range(args.crf, 0, 51, "--crf")
    coin = existing_file(args.coin, "--coin", "give the COIN.json annotation file")
    videos = existing_dir(args.videos, "--videos", "give the folder of the COIN videos")
    check_output_dir(args.out, "--out", BUILD_MARKERS, args.overwrite, "temrobbench build")
    try:
        source = load_coin(coin)
    except DuplicateVideoIdError as err:
        more = f" and {len(err.video_ids) - 1} more" if len(err.video_ids) > 1 else ""
        raise UserError(f"duplicate video id {err.video_ids[0]!r}{more} in {coin.name}", f"--coin {coin}",
                        "the annotation file is corrupt (which entry is meant cannot be told): keep one entry per id, or restore the file") from None
    except CoinFormatError as err:
        raise UserError("not a COIN annotation file", f"--coin {coin}", str(err).replace(f"{coin}: ", "")) from None
    _check_some_video_found(source, coin, videos)


def _check_some_video_found(source: CoinAnnotations, coin: Path, videos: Path) -> None:
    """Refuse a --videos folder in which no annotated video is found, saying why."""
    reasons = set()
    for video in source.videos:
        found, why = locate_video(videos, video)
        if found is not None:
            return
        reasons.add(why)
    if OUTSIDE_ROOT in reasons:
        raise UserError(f"no video of {coin.name} found inside the folder: its recipe_type paths or symlinks lead outside it", f"--videos {videos}",
                        "give the folder that holds the video files themselves (files outside --videos are never read)")
    example = next(iter(source.videos), None)
    found = f"it holds no video file ({', '.join(VIDEO_EXTENSIONS[:3])}...)" if not any(p.suffix.lower() in VIDEO_EXTENSIONS for p in videos.rglob("*")) \
        else "none of its files is named after a COIN video id"
    layout = f"{example.video_id}.mp4 or {example.recipe_type}/{example.video_id}.mp4" if example else "<id>.mp4"
    raise UserError(f"no video of {coin.name} found: {found}", f"--videos {videos}", f"expected files like {layout}")


def run(args: argparse.Namespace) -> int:
    validate(args)
    config = BuildConfig(
        num_videos=args.num_videos,
        seed=args.seed,
        workers=args.workers,
        rules=EligibilityRules(args.min_steps, args.min_distinct_labels, args.min_total_duration, args.max_total_duration),
        encode=EncodeSettings(max_height=args.max_height, max_fps=args.max_fps, crf=args.crf),
    )
    # build_benchmark holds --out's lock for the whole run: a second build there stops at once,
    # naming this one (the lock dies with its process, so a kill -9 leaves none behind).
    with no_empty_folder_left(args.out):
        result = build_benchmark(args.coin, args.videos, args.out, config, command=f"temrobbench build --coin {args.coin} --out {args.out}")
    report = result.report
    if report["num_videos_built"] == 0:
        reasons = [reason for reason, n in report["skipped_videos"].items() for _ in range(n)]
        cause = most_common_cause(reasons)
        why = f"most common cause: {cause[0].replace('_', ' ')} ({cause[1]} of {cause[2]} videos)" if cause else "no video was annotated"
        example = (report["skip_examples"].get(cause[0]) or [""])[0] if cause else ""
        raise UserError(f"built 0 videos; {why}" + (f", e.g. {example}" if example else ""), f"--out {result.out_dir}",
                        f"see {Path(result.out_dir) / 'build_report.json'}, relax the eligibility flags or fix the source", EXIT_RUNTIME)
    print(f"Built {report['num_videos_built']} videos ({report['num_videos_eligible']} eligible of {report['num_videos_annotated']} annotated)")
    for config_name, splits in report["num_rows"].items():
        print(f"  {config_name}: " + ", ".join(f"{n} {split}" for split, n in splits.items()))
    skipped = {**report["skipped_videos"], **report["skipped_items"]}
    if skipped:
        print("  skipped: " + ", ".join(f"{reason} {n}" for reason, n in skipped.items()))
    print(f"Output: {result.out_dir} (card {result.out_dir / 'README.md'}, report {result.out_dir / 'build_report.json'})")
    print(f'Load it: load_dataset("{result.out_dir}", "intrinsic", split="adversarial")')
    return 0
