"""``temrobbench quickstart``: the whole pipeline offline on a synthetic source, in minutes.

synth -> build -> load_dataset -> evaluate -> stages of other installed packages (``panodpo``
registers its PanoDPO steps under the ``temrobbench.quickstart_stages`` entry-point group: this
package never imports it by name).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable

from temrobbench.build.pipeline import BuildConfig, build_benchmark
from temrobbench.cli.checks import at_least, check_output_dir, no_empty_folder_left
from temrobbench.utils.errors import has_module
from temrobbench.items.schema import CONFIGS, SPLITS
from temrobbench.prompt import render_prompt
from temrobbench.source.synth import SynthConfig, synthesize_coin

# An earlier quickstart's folders (rerun into, not refused).
QUICKSTART_MARKERS = ("source/COIN.json", "benchmark/build_report.json", "benchmark/.build")
STAGE_GROUP = "temrobbench.quickstart_stages"


@dataclass(frozen=True)
class QuickstartStage:
    """A stage another package adds to the quickstart (an entry point of :data:`STAGE_GROUP` names
    one): ``run(built_dir, out_dir) -> summary``; skipped, with the extra named, when any of
    ``requires`` is missing."""

    title: str
    run: Callable[[Path, Path], str]
    requires: tuple[str, ...] = ()
    extra: str = ""
    skip_flag: str = ""  # the quickstart flag that skips it (an attribute of the parsed args)


def _plugin_stages() -> list[QuickstartStage]:
    return [entry_point.load() for entry_point in sorted(entry_points(group=STAGE_GROUP), key=lambda e: e.name)]


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
    # Exactly what a user types: the card's dataset_info (sizes and a content hash) keys datasets'
    # cache, so a rerun with other settings loads its own rows. The cache stays inside the demo folder.
    fresh = {"cache_dir": str(out / "hf-datasets-cache")}
    for config in CONFIGS:
        for split in SPLITS:
            ds = load_dataset(str(result.out_dir), config, split=split, **fresh)
            print(f'load_dataset("{result.out_dir}", "{config}", split="{split}"): {ds.num_rows} rows')
    row = load_dataset(str(result.out_dir), "extrinsic", split="adversarial", **fresh)[0]
    video = row["video"]
    print(f"\nexample row {row['id']} ({row['category']}), video {video.metadata.num_frames} frames "
          f"at {row['fps']:g} fps, answer {row['answer']}, shortcut {row['shortcut']}:\n")
    print(render_prompt(row).text)

    if not args.skip_eval:
        from temrobbench.evaluation.quickstart import run_quickstart_evaluation

        _section("4. evaluate")
        print(run_quickstart_evaluation(result.out_dir, out / "eval"))
    for number, stage in enumerate(_plugin_stages(), start=5):
        if stage.skip_flag and getattr(args, stage.skip_flag, False):
            continue
        _section(f"{number}. {stage.title}")
        missing = [p for p in stage.requires if not has_module(p)]
        if missing:
            print(f"skipped: needs {', '.join(missing)} (pip install 'temrobbench[{stage.extra}]')")
            continue
        print(stage.run(result.out_dir, out))

    _section("done")
    print(f"Everything is under {out.resolve()} ({time.time() - started:.0f} s)")
    return 0
