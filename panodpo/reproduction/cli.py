"""``temrobbench reproduce``: the mini reproduction (temporal shortcut + PanoDPO) on CPU.

Registered on ``temrobbench``'s command line through the ``temrobbench.commands`` entry point
(setup.cfg), so the benchmark package never imports the training package. Importing this module
needs no training packages: ``run`` says which extra to install when they are missing.
"""

from __future__ import annotations

import argparse

from temrobbench.errors import at_least, check_output_dir, no_empty_folder_left, require_extra

# An earlier reproduction's files: finished seeds are read back, not refused.
REPRODUCE_MARKERS = ("results.json", "results.md", "seed*")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from .pipeline import MiniReproConfig

    defaults = MiniReproConfig()
    p = subparsers.add_parser("reproduce", help="mini reproduction: SFT learns the prior, PanoDPO vs DPO (offline, CPU, minutes per seed)")
    p.add_argument("--out", required=True, help="output folder (a finished seed found here is read back, not rerun)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds; the table reports mean ± std over them (default: 0 1)")
    p.add_argument("--train-videos", type=int, default=defaults.train_videos, help="videos in the training world (default: %(default)s)")
    p.add_argument("--test-videos", type=int, default=defaults.test_videos, help="videos the benchmark is built from (default: %(default)s)")
    p.add_argument("--sft-steps", type=int, default=defaults.sft_steps, help="SFT steps, batch 32 (default: %(default)s)")
    p.add_argument("--pref-steps", type=int, default=defaults.pref_steps, help="preference steps per variant, batch 8 (default: %(default)s)")
    p.add_argument("--pref-lr", type=float, default=defaults.pref_lr, help="preference learning rate (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that is not an earlier reproduction")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for flag in ("train_videos", "test_videos", "sft_steps", "pref_steps"):
        at_least(getattr(args, flag), 1, "--" + flag.replace("_", "-"))
    if args.pref_lr <= 0:
        at_least(args.pref_lr, 1e-12, "--pref-lr", "give a positive learning rate")
    check_output_dir(args.out, "--out", REPRODUCE_MARKERS, args.overwrite, "temrobbench reproduce")
    require_extra(("trl", "peft", "accelerate"), "temrobbench reproduce (SFT and PanoDPO training)")
    with no_empty_folder_left(args.out):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from .pipeline import MiniReproConfig, run as reproduce

    config = MiniReproConfig(train_videos=args.train_videos, test_videos=args.test_videos, sft_steps=args.sft_steps,
                             pref_steps=args.pref_steps, pref_lr=args.pref_lr)
    print(reproduce(args.out, args.seeds, config))
    print(f"\nOutputs: {args.out}/results.md, results.json, results.png; per seed: seed<N>/ (worlds, benchmark, eval records)")
    return 0
