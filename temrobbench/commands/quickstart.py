"""``temrobbench quickstart``: the whole pipeline offline on a synthetic source, in minutes.

synth -> build -> load_dataset -> (evaluate -> PanoDPO steps, where those parts are installed).
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from ..build import BuildConfig, build_benchmark
from ..errors import at_least, check_output_dir, has_module, no_empty_folder_left
from ..features import CONFIGS, SPLITS
from ..prompt import render_prompt
from ..synth import SynthConfig, synthesize_coin

# An earlier quickstart's folders (rerun into, not refused).
QUICKSTART_MARKERS = ("source/COIN.json", "benchmark/build_report.json", "benchmark/.build")
# Stage -> the optional packages it needs and the extra that installs them.
STAGE_EXTRAS = {"train": (("trl", "peft", "accelerate"), "train")}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("quickstart", help="offline demo: synthesize, build, load, evaluate, train (embedded defaults)")
    p.add_argument("--out", default="temrobbench-quickstart", help="working folder (default: ./temrobbench-quickstart)")
    p.add_argument("--num-videos", type=int, default=12, help="synthetic videos to make and build")
    p.add_argument("--seed", type=int, default=0, help="fixes the synthetic source and the build")
    p.add_argument("--skip-eval", action="store_true", help="stop before the evaluation stage")
    p.add_argument("--skip-train", action="store_true", help="stop before the PanoDPO training stage")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that is not an earlier quickstart")
    p.set_defaults(func=run)


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))


def run(args: argparse.Namespace) -> int:
    at_least(args.num_videos, 2, "--num-videos")
    check_output_dir(args.out, "--out", QUICKSTART_MARKERS, args.overwrite, "temrobbench quickstart")
    with no_empty_folder_left(args.out):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from datasets import load_dataset

    started = time.time()
    out = Path(args.out)
    _section("1. synthesize a COIN-format source")
    coin = synthesize_coin(out / "source", SynthConfig(num_videos=args.num_videos, seed=args.seed))
    print(f"source: {coin} + {args.num_videos} videos under {coin.parent / 'videos'}")

    _section("2. build TemRobBench")
    result = build_benchmark(coin, coin.parent / "videos", out / "benchmark", BuildConfig(num_videos=args.num_videos, seed=args.seed))
    report = result.report
    print(f"benchmark: {result.out_dir} ({report['num_videos_built']} videos, categories {report['categories']})")

    _section("3. load it back with datasets.load_dataset")
    # datasets caches local folders by name and config only: a rerun with other settings must not
    # read the last run's rows, so the quickstart keeps its own cache inside its folder.
    fresh = {"cache_dir": str(out / "hf-datasets-cache"), "download_mode": "force_redownload", "verification_mode": "no_checks"}
    for config in CONFIGS:
        for split in SPLITS:
            ds = load_dataset(str(result.out_dir), config, split=split, **fresh)
            print(f'load_dataset("{result.out_dir}", "{config}", split="{split}"): {ds.num_rows} rows')
    row = load_dataset(str(result.out_dir), "extrinsic", split="adversarial", **fresh)[0]
    video = row["video"]
    print(f"\nexample row {row['id']} ({row['category']}), video {video.metadata.num_frames} frames "
          f"at {row['fps']:g} fps, answer {row['answer']}, shortcut {row['shortcut']}:\n")
    print(render_prompt(row).text)

    # The evaluation and training stages ship in their own modules; run each one present.
    stages = []
    if not args.skip_eval:
        stages.append(("4. evaluate", "eval", "temrobbench.evaluation.quickstart", "run_quickstart_evaluation", (result.out_dir, out / "eval")))
    if not args.skip_train:
        stages.append(("5. PanoDPO training steps", "train", "panodpo.quickstart", "run_quickstart_training", (out / "panodpo",)))
    for title, stage, module_name, function_name, call_args in stages:
        _section(title)
        packages, extra = STAGE_EXTRAS.get(stage, ((), ""))
        missing = [p for p in packages if not has_module(p)]
        if missing:
            print(f"skipped: needs {', '.join(missing)} (pip install 'temrobbench[{extra}]')")
            continue
        function = getattr(importlib.import_module(module_name), function_name)
        print(function(*call_args))

    _section("done")
    print(f"Everything is under {out.resolve()} ({time.time() - started:.0f} s)")
    return 0
