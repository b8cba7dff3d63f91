"""Evaluation throughput: the protocol (1 clean + 4 adversarial queries per item) with shared work,
against the naive loop (decode the video and run a full forward for every query), in one run.

Ours: frames decoded once per video file; per video, the chat header and video block run through
the model once and every query of its 3 items continues from that KV cache (likelihood: one
forward of the query's text; generate: the query's text, then greedy decoding from a branch of
the cache). Naive: per query, decode frames and a full forward (likelihood) or a full
``model.generate`` (generate). Tiny Qwen2-VL (random weights) on CPU with realistic visual token
counts: 32 frames at 224x224 give 1,024 visual tokens, as Qwen2-VL. Generation is capped at
``--max-new-tokens`` (default 2: a letter and end-of-turn, what a model asked to "answer with the
option's letter directly" produces; the random model never stops by itself).

    python benchmarks/eval_throughput.py [--videos 4] [--frames 32] [--frame-size 224] [--repeats 3] [--scoring likelihood generate]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from temrobbench.build.pipeline import BuildConfig, build_benchmark
from temrobbench.evaluation import evaluate_temporal_robustness
from temrobbench.evaluation.data import load_items
from temrobbench.evaluation.frames import decode_frames
from temrobbench.evaluation.models.hf import HFVideoLM
from temrobbench.evaluation.protocol import plan_item, render_query
from temrobbench.evaluation.requests import VideoLMRequest
from temrobbench.source.synth import SynthConfig, synthesize_coin
from temrobbench.tiny_models import build_tiny_qwen2vl


def naive(model: HFVideoLM, items, num_frames: int, rounds: int, scoring: str) -> list[float]:
    """Seconds per query: decode + full forward (or full generate) every time."""
    times = []
    for clean, adversarial in items:
        for query in plan_item(clean, adversarial, rounds):
            start = time.perf_counter()
            frames = decode_frames(query.row["video"], num_frames)
            rendered = render_query(query)
            request = VideoLMRequest(query.row["id"], query.row["video_id"], query.row["perturbation"], query.row["category"], query.setting,
                                     query.round, frames, rendered.text, rendered.options, rendered.letters)
            model.letter_logprobs([request]) if scoring == "likelihood" else model.generate([request])
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--frame-size", type=int, default=224)
    parser.add_argument("--hidden-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=2)
    parser.add_argument("--scoring", nargs="+", default=["likelihood", "generate"], choices=["likelihood", "generate"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    work = Path(tempfile.mkdtemp(prefix="temrobbench-evalbench-"))
    coin = synthesize_coin(work / "src", SynthConfig(num_videos=args.videos, width=320, height=180), progress=False)
    bench = build_benchmark(coin, work / "src" / "videos", work / "bench", BuildConfig(num_videos=args.videos), progress=False).out_dir
    items = load_items(bench)
    model, processor = build_tiny_qwen2vl(hidden_size=args.hidden_size, frame_size=args.frame_size)
    cached = HFVideoLM(model, processor, max_new_tokens=args.max_new_tokens)
    full = HFVideoLM(model, processor, reuse_prefix=False, max_new_tokens=args.max_new_tokens)
    probe = decode_frames(items[0][0]["video"], args.frames)
    visual_tokens = processor(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=[probe], do_sample_frames=False, return_tensors="pt")["input_ids"].shape[1] - 2
    print(f"{len(items)} items ({args.videos} videos), {args.frames} frames at {args.frame_size}px = {visual_tokens} visual tokens per query")

    summary = []
    for scoring in args.scoring:
        ours_times, naive_query_times = [], []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            evaluate_temporal_robustness(cached, bench, num_frames=args.frames, scoring=scoring, progress=False)
            ours_times.append(time.perf_counter() - start)
            naive_query_times.append(statistics.median(naive(full, items, args.frames, 4, scoring)))
        ours_per_item = statistics.median(ours_times) / len(items)
        query = statistics.median(naive_query_times)
        print(f"\n{scoring} scoring")
        print(f"{'method':<34}{'items/s':>10}{'cost per item (single queries)':>34}")
        print(f"{'ours (shared decode + KV prefix)':<34}{1 / ours_per_item:>10.2f}{ours_per_item / query:>34.2f}")
        print(f"{'naive (decode + forward per query)':<34}{1 / (5 * query):>10.2f}{5.0:>34.2f}")
        summary.append(f"{scoring}: speed-up {5 * query / ours_per_item:.2f}x over naive; the whole protocol costs {ours_per_item / query:.2f}x one query")
    print("\n" + "\n".join(summary) + "  (goal <= 1.6x)")

if __name__ == "__main__":
    main()
