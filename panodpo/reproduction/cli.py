"""``temrobbench reproduce``: the mini reproduction (temporal shortcut + PanoDPO) on CPU.

Registered on ``temrobbench``'s command line through the ``temrobbench.commands`` entry point
(setup.cfg), so the benchmark package never imports the training package. Importing this module
needs no training packages: ``run`` says which extra to install when they are missing.
"""

from __future__ import annotations

import argparse

from temrobbench.cli.checks import at_least, check_output_dir, no_empty_folder_left
from temrobbench.utils.errors import UserError, require_extra

# An earlier reproduction's files: finished seeds are read back, not refused.
REPRODUCE_MARKERS = ("results.json", "results.md", "results.png", "margins.png", "tuning.md", "tuning.json", "canonical", "mixed", "zero-shot", "seed*")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from panodpo.reproduction.data import WORLDS
    from panodpo.reproduction.pipeline import DEFAULT_SEEDS, SETUP_WORLDS, SETUPS, MiniReproConfig
    from panodpo.rejected_videos import STRATEGIES
    from panodpo.reproduction.tuning import TUNING_SEEDS

    defaults = MiniReproConfig()
    p = subparsers.add_parser("reproduce", help="mini reproduction: SFT learns the prior, PanoDPO vs DPO (offline, CPU, minutes per seed)")
    p.add_argument("--out", required=True, help="output folder (a finished seed or row found here is read back, not rerun)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help=f"seeds; the tables report mean ± std and paired 95%% intervals over them (default: {' '.join(map(str, DEFAULT_SEEDS))}; "
                        f"with --tune: {' '.join(map(str, TUNING_SEEDS))})")
    p.add_argument("--setup", nargs="+", choices=list(SETUPS), default=["in-format"], dest="setups",
                   help="what the model trains on: in-format (benchmark-style items of the training videos) and/or zero-shot "
                        "(open video QA in the ShareGPTVideo-DPO layout, tested on TemRobBench zero-shot); one results.md covers all (default: in-format)")
    p.add_argument("--worlds", nargs="+", choices=list(WORLDS), default=None,
                   help="training worlds: canonical (every video in its task's order), mixed (25%% edited, the answer follows the video) "
                        f"(default: in-format {' '.join(SETUP_WORLDS['in-format'])}; zero-shot {' '.join(SETUP_WORLDS['zero-shot'])})")
    p.add_argument("--tune", action="store_true", help="run the tuning grid on the tuning seeds instead of the reported run (writes tuning.md and tuning.json into --out)")
    p.add_argument("--pooled", action="store_true", help="with --tune: one choice for all --worlds, on their tuning runs pooled")
    p.add_argument("--train-videos", type=int, default=defaults.train_videos, help="videos in the training world (default: %(default)s)")
    p.add_argument("--test-videos", type=int, default=defaults.test_videos, help="videos the benchmark is built from (default: %(default)s)")
    p.add_argument("--sft-steps", type=int, default=defaults.sft_steps, help="SFT steps, batch 32 (default: %(default)s)")
    p.add_argument("--pref-steps", type=int, default=None, help="preference steps per row, batch 8 (default: the world's tuned value)")
    p.add_argument("--pref-lr", type=float, default=None, help="preference learning rate (default: the world's tuned value)")
    p.add_argument("--beta", type=float, default=None, help="DPO beta (default: the world's tuned value)")
    p.add_argument("--rejected-video-strategy", choices=STRATEGIES, default=None,
                   help="how PanoDPO's rejected video v' is made (default: the world's tuned value)")
    p.add_argument("--report", action="store_true", help="train nothing: tables and figures from the rows finished so far in --out")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that is not an earlier reproduction")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for flag in ("train_videos", "test_videos", "sft_steps"):
        at_least(getattr(args, flag), 1, "--" + flag.replace("_", "-"))
    if args.pref_steps is not None:
        at_least(args.pref_steps, 1, "--pref-steps")
    for flag in ("pref_lr", "beta"):
        if getattr(args, flag) is not None and getattr(args, flag) <= 0:
            at_least(getattr(args, flag), 1e-12, "--" + flag.replace("_", "-"), "give a positive value")
    if args.tune and args.setups != ["in-format"]:
        raise UserError("--tune runs the in-format grid only", "--setup " + " ".join(args.setups),
                        "drop --setup (the zero-shot setup keeps the in-format tuned settings: docs/reproduction.md)")
    check_output_dir(args.out, "--out", REPRODUCE_MARKERS, args.overwrite, "temrobbench reproduce")
    require_extra(("trl", "peft", "accelerate"), "temrobbench reproduce (SFT and PanoDPO training)")
    with no_empty_folder_left(args.out):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    overrides = {"train_videos": args.train_videos, "test_videos": args.test_videos, "sft_steps": args.sft_steps,
                 "pref_steps": args.pref_steps, "pref_lr": args.pref_lr, "beta": args.beta, "rejected_video_strategy": args.rejected_video_strategy}
    if args.tune:
        from panodpo.reproduction.data import WORLDS
        from panodpo.reproduction.tuning import TUNING_SEEDS, tune

        markdown, chosen = tune(args.out, worlds=args.worlds or WORLDS, seeds=args.seeds or TUNING_SEEDS, overrides=overrides, pooled=args.pooled)
        print(markdown)
        print(f"\nChosen per world: {chosen}\nOutputs: {args.out}/tuning.md, tuning.json; per world and seed: <world>/seed<N>/")
        return 0
    from panodpo.reproduction.pipeline import DEFAULT_SEEDS, run as reproduce

    print(reproduce(args.out, args.seeds or DEFAULT_SEEDS, worlds=args.worlds, overrides=overrides, report_only=args.report, setups=args.setups))
    print(f"\nOutputs: {args.out}/results.md, results.json, results.png, margins.png; per world and seed: <world>/seed<N>/ "
          "(zero-shot: zero-shot/<world>/seed<N>/; worlds, benchmark, models, eval records)")
    return 0
