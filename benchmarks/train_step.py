"""Training step cost: PanoDPO's single forward against the naive way and TRL's vanilla DPO step.

Measured side by side in one run, tiny Qwen2-VL (random weights, LoRA) on CPU; ``--vision-heavy``
makes its vision tower about 40% of a plain PanoDPO step, as in a 7B model at 32 frames:

- panodpo shared (precomputed ref): one forward over the 4 sequences of each example, v and v'
  encoded once each (shared video encoding), no reference forward;
- panodpo shared: the same plus one reference forward (adapter disabled), the frozen tower's
  outputs reused by the policy forward;
- panodpo plain (...): the same without shared encoding (the video of every sequence encoded);
- naive: three separate DPO pair computations (chosen/rejected, real/rejected video,
  real/misleading question): 6 policy sequences and 6 reference sequences in 6 forwards;
- vanilla DPO (2 seqs, video per seq): chosen/rejected only, through PanoDPOTrainer without shared
  encoding (as TRL's DPOTrainer does it: every sequence carries its video);
- TRL DPOTrainer: TRL's own vision DPO step, the frames given as images (TRL takes no videos).

Each variant runs in its own process (so peak memory is its own): median step time over the steps
after warm-up, and peak resident memory during training above the resident memory before the
trainer is built (model and data loaded). The peak is the kernel's high-water mark (VmHWM), reset
when training starts: no sampling thread, which on a 2-core machine would compete with torch's
threads and distort step times.

    python benchmarks/train_step.py [--steps 8] [--batch 4] [--frames 8] [--hidden 64] [--threads 1] [--vision-heavy]
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

VARIANTS = (
    "panodpo shared (precomputed ref)",
    "panodpo shared",
    "panodpo plain (precomputed ref)",
    "panodpo plain",
    "naive (3 pairs, 6+6 sequences)",
    "vanilla DPO (2 seqs, video per seq)",
    "TRL DPOTrainer (frames as images)",
)


def _worker(variant: str, args: argparse.Namespace) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback

    from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
    from panodpo.media import load_frames
    from temrobbench.source.synth import SynthConfig, synthesize_coin
    from temrobbench.tiny_models import build_tiny_qwen2vl

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="panodpo-bench-"))
    synthesize_coin(work, SynthConfig(num_videos=4, seed=3), progress=False)
    videos = sorted(str(p) for p in work.glob("videos/*/*.mp4"))
    rows = [{"id": f"ex{i}", "video": videos[i % len(videos)], "prompt": "What is the first step in the video?", "chosen": "The first step is cutting the bread.",
             "rejected": "The first step is adding the ham.", "rejected_prompt": "The video starts with adding ham. What is the first step in the video?"}
            for i in range(args.batch * (args.steps + 1))]
    model, processor = build_tiny_qwen2vl(hidden_size=args.hidden, num_layers=args.layers, vision_dim=args.vision_dim, vision_depth=args.vision_depth,
                                          frame_size=args.frame_size)
    tower_time = [0.0]
    tower = model.model.visual

    def tower_start(*_):
        tower_time.append(time.perf_counter())

    def tower_end(*_):
        tower_time[0] += time.perf_counter() - tower_time.pop()

    tower.register_forward_pre_hook(tower_start)
    tower.register_forward_hook(tower_end)

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self.start = [], 0.0

            self.tower = []

        def on_step_begin(self, *a, **k):
            tower_time[0] = 0.0
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            self.times.append(time.perf_counter() - self.start)
            self.tower.append(tower_time[0])

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
                               precompute_ref_log_probs="precomputed" in variant, share_video_encoding="shared" in variant)
        trainer_class = NaivePanoDPOTrainer() if variant.startswith("naive") else PanoDPOTrainer
        trainer = trainer_class(model, args=config, train_dataset=Dataset.from_list(rows), processing_class=processor,
                                peft_config=default_lora_config(model, r=8, alpha=16))
    timer = StepTimer()
    trainer.add_callback(timer)
    _trimmed_rss()
    _reset_peak_rss()
    trainer.train()
    peak = _peak_rss()
    return {"step_s": statistics.median(timer.times[1:]), "peak_mb": (peak - baseline) / 2**20,
            "tower_share": statistics.median(t / s for t, s in zip(timer.tower[1:], timer.times[1:]))}


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
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vision-dim", "--vision_dim", dest="vision_dim", type=int, default=None, help="vision tower width (16)")
    parser.add_argument("--vision-depth", "--vision_depth", dest="vision_depth", type=int, default=None, help="vision tower blocks (2)")
    parser.add_argument("--frame-size", "--frame_size", dest="frame_size", type=int, default=None, help="frames resized to (56)")
    parser.add_argument("--vision-heavy", action="store_true",
                        help="a vision tower that takes about a third of a plain PanoDPO step, as in a 7B model at 32 frames "
                             "(sets --vision-dim 64 --vision-depth 3 --frame-size 112 unless given: 39% of a plain step here)")
    # One thread by default: with torch's threads on every core, any other load on the machine
    # stalls its thread barriers (measured: 0.19 s vs 7.3 s per step with a busy neighbour on 2 cores).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args)))
        return
    heavy = dict(vision_dim=64, vision_depth=3, frame_size=112) if args.vision_heavy else dict(vision_dim=16, vision_depth=2, frame_size=56)
    for key, value in heavy.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    results = {}
    for variant in VARIANTS:
        forwarded = [f"--{k}={v}" for k, v in vars(args).items() if k not in ("worker", "vision_heavy")]
        done = subprocess.run([sys.executable, __file__, "--worker", variant, *forwarded], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{variant} failed:\n{done.stderr[-3000:]}")
        results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  measured {variant}", file=sys.stderr)
    ours = results["panodpo shared"]
    print(f"\nbatch {args.batch}, {args.frames} frames, hidden {args.hidden} x {args.layers} layers, vision tower {args.vision_dim} x "
          f"{args.vision_depth} blocks at {args.frame_size}px; median over {args.steps - 1} steps after warm-up")
    print(f"{'variant':<38}{'step s':>8}{'x ours':>8}{'tower %':>9}{'peak MB':>9}{'x ours':>8}")
    for variant, r in results.items():
        print(f"{variant:<38}{r['step_s']:>8.3f}{r['step_s'] / ours['step_s']:>8.2f}{100 * r['tower_share']:>8.0f}%"
              f"{r['peak_mb']:>9.0f}{r['peak_mb'] / max(ours['peak_mb'], 1):>8.2f}")
    plain, trl, vanilla = results["panodpo plain"], results["TRL DPOTrainer (frames as images)"], results["vanilla DPO (2 seqs, video per seq)"]
    pre, pre_plain = results["panodpo shared (precomputed ref)"], results["panodpo plain (precomputed ref)"]
    print(f"\nvision tower share of a plain PanoDPO step (live reference): {100 * plain['tower_share']:.0f}%")
    print(f"shared / plain encoding step time: {ours['step_s'] / plain['step_s']:.2f}x (live reference), "
          f"{pre['step_s'] / pre_plain['step_s']:.2f}x (precomputed); peak memory {ours['peak_mb'] / max(plain['peak_mb'], 1):.2f}x")
    print(f"panodpo (4 sequences, shared encoding, live reference) / vanilla DPO (2 sequences, a video per sequence as TRL does): "
          f"{ours['step_s'] / vanilla['step_s']:.2f}x; / TRL DPOTrainer (frames as images): {ours['step_s'] / trl['step_s']:.2f}x")
    print(f"naive / panodpo shared: {results['naive (3 pairs, 6+6 sequences)']['step_s'] / ours['step_s']:.2f}x")

if __name__ == "__main__":
    main()
