"""``temrobbench synth``: write a COIN-format source (COIN.json + videos) from scratch."""

from __future__ import annotations

import argparse

from temrobbench.cli.checks import at_least, check_output_dir, no_empty_folder_left
from temrobbench.source.synth import SynthConfig, synthesize_coin

# A folder holding COIN.json is an earlier synth output (rewritten, not refused).
SYNTH_MARKERS = ("COIN.json",)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synth", help="write a synthetic COIN-format source (COIN.json + mp4 videos)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--num-videos", type=int, default=SynthConfig.num_videos, help="videos to make")
    p.add_argument("--seed", type=int, default=0, help="fixes tasks, step orders and pictures")
    p.add_argument("--canonical", action="store_true", help="every video follows its task's step order exactly")
    p.add_argument("--world", choices=("demo", "prior"), default="demo",
                   help="demo: COIN-like tasks with varied orders; prior: 8 tasks, one canonical order each, one-token step names (the mini reproduction's world)")
    p.add_argument("--world-seed", type=int, default=0, help="prior world: which tasks and orders")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that is not an earlier synth output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    at_least(args.num_videos, 1, "--num-videos")
    check_output_dir(args.out, "--out", SYNTH_MARKERS, args.overwrite, "temrobbench synth")
    with no_empty_folder_left(args.out):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.world == "prior":
        from temrobbench.source.prior_world import PriorWorldConfig, synthesize_prior_world

        coin = synthesize_prior_world(args.out, PriorWorldConfig(num_videos=args.num_videos, seed=args.seed, world_seed=args.world_seed))
        print(f"Wrote {coin} and {args.num_videos} videos under {coin.parent / 'videos'}")
        print(f"Next: temrobbench build --coin {coin} --videos {coin.parent / 'videos'} --out OUT --min-total-duration 0 --max-height 64")
        return 0
    coin = synthesize_coin(args.out, SynthConfig(num_videos=args.num_videos, seed=args.seed, canonical=args.canonical))
    print(f"Wrote {coin} and {args.num_videos} videos under {coin.parent / 'videos'}")
    print(f"Next: temrobbench build --coin {coin} --videos {coin.parent / 'videos'} --out OUT")
    return 0
