"""Training step cost: PanoDPO's single forward against the naive way and TRL's vanilla DPO step.

Measured side by side in one run, tiny Qwen2-VL (random weights, LoRA) on CPU:

- panodpo (precomputed ref): one forward over the 4 sequences of each example, no reference forward;
- panodpo: the same plus one reference forward (adapter disabled) over the 4 sequences;
- naive: three separate DPO pair computations (chosen/rejected, real/rejected video,
  real/misleading question): 6 policy sequences and 6 reference sequences in 6 forwards;
- vanilla DPO (ours, weights 0): chosen/rejected only, through PanoDPOTrainer;
- TRL DPOTrainer: TRL's own vision DPO step, the frames given as images (TRL takes no videos).

Each variant runs in its own process (so peak memory is its own): median step time over the steps
after warm-up, and peak resident memory during training above the resident memory before the
trainer is built (model and data loaded). The peak is the kernel's high-water mark (VmHWM), reset
when training starts: no sampling thread, which on a 2-core machine would compete with torch's
threads and distort step times.

    python benchmarks/train_step.py [--steps 8] [--batch 4] [--frames 8] [--hidden 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = ("panodpo (precomputed ref)", "panodpo", "naive (3 pairs, 6+6 sequences)", "vanilla DPO (ours, weights 0)", "TRL DPOTrainer (frames as images)")


def _worker(variant: str, args: argparse.Namespace) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback

    from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
    from panodpo.media import load_frames
    from temrobbench.synth import SynthConfig, synthesize_coin
    from temrobbench.tiny_models import build_tiny_qwen2vl

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="panodpo-bench-"))
    synthesize_coin(work, SynthConfig(num_videos=4, seed=3), progress=False)
    videos = sorted(str(p) for p in work.glob("videos/*/*.mp4"))
    rows = [{"id": f"ex{i}", "video": videos[i % len(videos)], "prompt": "What is the first step in the video?", "chosen": "The first step is cutting the bread.",
             "rejected": "The first step is adding the ham.", "rejected_prompt": "The video starts with adding ham. What is the first step in the video?"}
            for i in range(args.batch * (args.steps + 1))]
    model, processor = build_tiny_qwen2vl(hidden_size=args.hidden, num_layers=2)

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self.start = [], 0.0

        def on_step_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            self.times.append(time.perf_counter() - self.start)

    baseline = _trimmed_rss()  # the model and data are loaded; nothing of any trainer exists yet
    common = dict(output_dir=str(work / "out"), max_steps=args.steps, per_device_train_batch_size=args.batch, logging_steps=1000, report_to=[],
                  gradient_checkpointing=False, save_strategy="no", learning_rate=1e-4, disable_tqdm=True, seed=0)
    if variant.startswith("TRL"):
        from trl import DPOConfig, DPOTrainer

        image_rows = [{"images": [__import__("PIL.Image", fromlist=["Image"]).fromarray(f) for f in load_frames(r["video"], args.frames)],
                       "prompt": [{"role": "user", "content": r["prompt"]}], "chosen": [{"role": "assistant", "content": r["chosen"]}],
                       "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows]
        trainer = DPOTrainer(model, args=DPOConfig(**common, max_length=None, bf16=False), train_dataset=Dataset.from_list(image_rows),
                             processing_class=processor, peft_config=default_lora_config(model, r=8, alpha=16))
    else:
        weights = (0.0, 0.0) if variant.startswith("vanilla") else (1.0, 1.0)
        config = PanoDPOConfig(**common, num_frames=args.frames, video_loss_weight=weights[0], text_loss_weight=weights[1],
                               precompute_ref_log_probs=variant.startswith("panodpo (pre"))
        trainer_class = NaivePanoDPOTrainer() if variant.startswith("naive") else PanoDPOTrainer
        trainer = trainer_class(model, args=config, train_dataset=Dataset.from_list(rows), processing_class=processor,
                                peft_config=default_lora_config(model, r=8, alpha=16))
    timer = StepTimer()
    trainer.add_callback(timer)
    _trimmed_rss()
    _reset_peak_rss()
    trainer.train()
    peak = _peak_rss()
    return {"step_s": statistics.median(timer.times[1:]), "peak_mb": (peak - baseline) / 2**20}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _trimmed_rss() -> int:
    """Resident bytes after glibc returns its freed heap to the system: without this, memory freed
    by the reference precompute (in the trainer's constructor) stays resident and would hide part
    of the precomputed variant's training peak, or count against it, depending on the baseline."""
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return _status_kb("VmRSS") * 1024


def _reset_peak_rss() -> None:
    """Resets the process's resident high-water mark to the current resident size (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_rss() -> int:
    return _status_kb("VmHWM") * 1024


def NaivePanoDPOTrainer():
    """The PanoDPO loss computed the naive way: three DPO pairs, each with its own policy and
    reference forwards (6 + 6 sequences per example)."""
    import torch

    from panodpo import PanoDPOTrainer
    from panodpo.loss import panodpo_loss

    class Naive(PanoDPOTrainer):
        def _compute_loss(self, model, inputs, return_outputs):
            n = inputs["input_ids"].shape[0] // 4
            per_row = inputs["pixel_values_videos"].shape[0] // inputs["input_ids"].shape[0]

            def select(kinds):
                idx = torch.cat([torch.arange(k * n, (k + 1) * n) for k in kinds])
                out = {key: value[idx] for key, value in inputs.items() if key in ("input_ids", "attention_mask", "completion_mask", "mm_token_type_ids", "video_grid_thw")}
                pixel_idx = torch.cat([torch.arange(i * per_row, (i + 1) * per_row) for i in idx.tolist()])
                out["pixel_values_videos"] = inputs["pixel_values_videos"][pixel_idx]
                return out

            self.rows = [0, 1]
            policy, ref = torch.zeros(4, n), torch.zeros(4, n)
            for other in (1, 2, 3):
                pair = select([0, other])
                logps, _ = self._sequence_logps(model, pair)
                ref_logps = self.compute_ref_log_probs(model, pair)
                policy = policy.clone()
                policy[0], policy[other] = logps[0], logps[1]
                ref[0], ref[other] = ref_logps[0], ref_logps[1]
            self.rows = [0, 1, 2, 3]
            loss, _ = panodpo_loss(policy, ref, beta=self.beta, video_weight=1.0, text_weight=1.0)
            return loss

    return Naive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    # One thread by default: with torch's threads on every core, any other load on the machine
    # stalls its thread barriers (measured: 0.19 s vs 7.3 s per step with a busy neighbour on 2 cores).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args)))
        return
    results = {}
    for variant in VARIANTS:
        command = [sys.executable, __file__, "--worker", variant] + [f"--{k}={v}" for k, v in vars(args).items() if k != "worker"]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        results[variant] = json.loads(output)
        print(f"  measured {variant}", file=sys.stderr)
    ours = results[VARIANTS[0]]
    print(f"\nbatch {args.batch}, {args.frames} frames, hidden {args.hidden}; median over {args.steps - 1} steps after warm-up")
    print(f"{'variant':<36}{'step s':>8}{'x ours':>8}{'peak MB':>9}{'x ours':>8}")
    for variant, r in results.items():
        print(f"{variant:<36}{r['step_s']:>8.3f}{r['step_s'] / ours['step_s']:>8.2f}{r['peak_mb']:>9.0f}{r['peak_mb'] / max(ours['peak_mb'], 1):>8.2f}")
    naive, live, trl = results[VARIANTS[2]], results[VARIANTS[1]], results[VARIANTS[4]]
    print(f"\nnaive / panodpo step time: {naive['step_s'] / live['step_s']:.2f}x (same reference forward each step), "
          f"{naive['step_s'] / ours['step_s']:.2f}x (precomputed reference)")
    print(f"panodpo / TRL vanilla DPO step time: {live['step_s'] / trl['step_s']:.2f}x (precomputed: {ours['step_s'] / trl['step_s']:.2f}x) "
          f"for 2x the sequences")


if __name__ == "__main__":
    main()
