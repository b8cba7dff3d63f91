r"""Training step cost of PanoDPO, plain and with the shared prefix, against vanilla DPO and TRL's DPO step.

Measured side by side in one run on a tiny Qwen2-VL (random weights, LoRA r=8 on the language
model, the projector trained, the vision tower frozen) on CPU, each variant in its own process:

- **language-model tokens per example** (exact and machine-independent): a forward pre-hook on the
  language model counts the positions it processes (rows x length of its ``inputs_embeds``),
  padded and without padding, in the policy forwards (gradients on) and the reference forwards
  (gradients off) of the measured steps, divided by the examples; the vision tower's patches too
  (counted at its patch embedding, which a replayed frozen tower does not run);
- **step time**: the median over the steps after the first (warm-up; it also holds the
  shared-prefix path's one-off check against the plain path);
- **peak memory**: the kernel's resident high-water mark (VmHWM), reset when each step begins (its
  batch collated and resident) and read when it ends, the highest over the steps after the first,
  less the resident memory before the trainer is built (model and data loaded): the collator's
  transient memory between steps is left out, the batch itself (``batch MB``) is in. No sampling
  thread, which on a 2-core machine would compete with torch's threads and distort step times.
- **step memory**: what the step itself adds, its peak above the (trimmed) resident size when it
  began, plus its batch. This is the CPU analogue of a GPU's peak allocated memory above the weights
  and optimizer state (activations, their transients, the batch): the resident peak above also
  holds what collating leaves in the host's heap (decoded frames, processor buffers; ~0.4 GB at 32
  frames, the same for every PanoDPO variant), which on a GPU is host memory, not device memory.
  The memory goal is read on step memory; both are printed.

Variants (``--variants``; the first seven by default)::

    plain            panodpo plain: share_prefix=False, live reference (the frozen tower's outputs
                     of its reference forward reused by the policy forward: shared video encoding)
    shared           panodpo shared-prefix: share_prefix=True, live reference
    plain-pre        panodpo plain, reference log-probs precomputed (no reference forward in a step)
    shared-pre       panodpo shared-prefix, reference log-probs precomputed
    vanilla          vanilla DPO via PanoDPOTrainer (video_loss_weight=text_loss_weight=0, share_prefix=True)
    vanilla-plain    vanilla DPO plain (video per seq): weights 0, share_prefix=False and
                     share_video_encoding=False, every sequence encodes its video as TRL does
    trl              TRL DPOTrainer: TRL's own vision DPO step; TRL takes images, not videos, so the
                     frames go in as images: every other frame by default (``--trl-images half``),
                     which gives the same visual tokens and tower patches as the video (Qwen2-VL
                     encodes an image as 2 identical frames); ``--trl-images all`` gives it all of them
    plain-encoding   panodpo with neither the shared prefix nor shared video encoding
    naive            the PanoDPO loss as three separate DPO pairs (6 + 6 sequences per example)

``--calibrated`` sizes the tiny model to the real mix: 32 frames at 224 px (1,056 visual tokens
per video, as Qwen2-VL at that size), 94-117 text tokens per sequence (byte-level tokenizer, the
chat header included), a language model of width 128 x 2 layers and a frozen tower of width 32 x
4 blocks, measured at 11-13% of a plain PanoDPO step with a live reference on a shared 2-core
machine (the run prints the measured share and says when it falls outside 10-15%); batch 2, 4
steps. ``--memory-sweep`` adds peak memory at 8, 16 and 32 frames for
TRL's DPOTrainer, vanilla DPO through PanoDPOTrainer, PanoDPO plain and PanoDPO shared-prefix, as a
table and a PNG (``--plot``).

The arithmetic for a 7B model (N = 7e9 language-model parameters, one token forward F = 2N =
14 GFLOP) with a 0.6B frozen ViT at 32 frames (16 frame pairs x 256 patches = 4,096 patches, 1,024
visual tokens; a sequence of ~1.2k tokens: ~1.1k of chat header and video, ~0.1k of question and
answer):

- one ViT pass over a video: 2 x 0.6e9 x 4,096 = 4.9 TFLOP = 350 F. The tower runs 2 passes
  (v and v'), forward only: frozen, and its outputs in the reference forward are reused by the
  policy forward; 700 F per example.
- one policy token: forward + backward = 3F (LoRA with gradient checkpointing: forward,
  recomputation, and the backward through the frozen weights, F each; the LoRA weight gradients
  are negligible); one reference token: F.
- PanoDPO plain: 4 sequences x 1.2k = 4.8k tokens per forward: 4.8k x 3F + 4.8k x F + 700 F
  = 19.9k F (the tower is 3.5% of the FLOPs; of the time it is more, the ViT running at lower
  utilization: the calibration takes the 10-15% of the issue).
- PanoDPO shared prefix: 2 x ~1.1k prefix tokens (v's prefix, shared by y_w|v,q, y_l|v,q and
  y_w|v,q'; and y_w|v',q, which shares no video, in full) + 4 short suffixes (~0.1k each) = 2.6k
  tokens per forward instead of 4.8k: 2.6k x 4F + 700 F = 11.1k F.
- vanilla DPO (2 sequences, live reference): 2.4k x 4F = 9.6k F, plus its tower: 2 passes (the
  video encoded once per forward) = 10.3k F, or 4 passes as TRL does (every sequence its video,
  in the policy and the reference forward) = 11.0k F.
- so PanoDPO / vanilla DPO: 19.9k / 10.3k = ~1.9x plain, 11.1k / 10.3k = ~1.07-1.08x with the shared
  prefix (1.01x against TRL's 4 passes); vanilla DPO with the shared prompt (1.1k + 2 x 0.1k =
  1.3k tokens, 1 tower pass: 5.55k F) / TRL's DPO step (11.0k F) = ~0.5x; the policy's activations,
  most of the peak memory, scale with its tokens: 2.6k / 4.8k = ~0.54x.

A tiny language model spends a larger share of its time in attention than a 7B one (per token,
attention ~ 4 x context x width against ~2 x 20 x width^2 for the weights: ctx / (10 x width),
3% for the 7B at 1.2k tokens, far more at width 128), and fixed per-call overheads weigh more on
it: the token counts are the machine-independent figures, the times and memory a check on CPU.
Attention over the ~1.1k-token prefix, quadratic, is what the shared prefix saves most of, so on
this attention-heavy tiny model the shared prefix's time ratios come out better than the token
ratios; on a 7B model expect about the token ratios.

    python benchmarks/train_step.py [--calibrated] [--repeats 2] [--memory-sweep] [--plot PATH] [--variants plain shared ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Variant id -> (label, settings). ``share_prefix`` None: the field is left at its default (the
#: TRL and naive variants do not read it).
VARIANTS: dict[str, tuple[str, dict]] = {
    "plain": ("panodpo plain", dict(trainer="panodpo", share_prefix=False, share_video_encoding=True)),
    "shared": ("panodpo shared-prefix", dict(trainer="panodpo", share_prefix=True, share_video_encoding=True)),
    "plain-pre": ("panodpo plain (precomputed ref)", dict(trainer="panodpo", share_prefix=False, share_video_encoding=True, precomputed=True)),
    "shared-pre": ("panodpo shared-prefix (precomputed ref)", dict(trainer="panodpo", share_prefix=True, share_video_encoding=True, precomputed=True)),
    "vanilla": ("vanilla DPO via PanoDPOTrainer", dict(trainer="panodpo", weights=(0.0, 0.0), share_prefix=True, share_video_encoding=True)),
    "vanilla-plain": ("vanilla DPO plain (video per seq)", dict(trainer="panodpo", weights=(0.0, 0.0), share_prefix=False, share_video_encoding=False)),
    "trl": ("TRL DPOTrainer", dict(trainer="trl")),
    "plain-encoding": ("panodpo plain encoding", dict(trainer="panodpo", share_prefix=False, share_video_encoding=False)),
    "naive": ("naive (3 pairs, 6+6 sequences)", dict(trainer="naive", share_prefix=False, share_video_encoding=False)),
}
DEFAULT_VARIANTS = ("plain", "shared", "plain-pre", "shared-pre", "vanilla", "vanilla-plain", "trl")
SWEEP_VARIANTS = ("trl", "vanilla", "plain", "shared")

#: Model and data sizes: the default (quick), ``--vision-heavy`` (the tower about 40% of a step
#: without shared video encoding, kept for docs/training.md's earlier figures) and ``--calibrated``
#: (the real mix).
PRESETS = {
    "default": dict(frames=8, frame_size=56, hidden=64, layers=2, vision_dim=16, vision_depth=2, batch=4, steps=8, texts="long"),
    "vision-heavy": dict(frames=8, frame_size=112, hidden=64, layers=2, vision_dim=64, vision_depth=3, batch=4, steps=8, texts="long"),
    "calibrated": dict(frames=32, frame_size=224, hidden=128, layers=2, vision_dim=32, vision_depth=4, batch=2, steps=4, texts="short"),
}
CALIBRATION_TARGET = (0.10, 0.15)

#: Question, answers and misleading question of every example. The byte-level tokenizer of the tiny
#: model makes a token of every byte: "short" gives 90-115 text tokens per sequence (the chat header
#: included), in the 50-150 of real prompts; "long" (the earlier default) 130-165.
TEXTS = {
    "long": {"prompt": "What is the first step in the video?", "chosen": "The first step is cutting the bread.",
             "rejected": "The first step is adding the ham.", "rejected_prompt": "The video starts with adding ham. What is the first step in the video?"},
    "short": {"prompt": "What happens first?", "chosen": "Cutting the bread.", "rejected": "Adding the ham.",
              "rejected_prompt": "It starts with ham. What happens first?"},
}


def label(variant: str) -> str:
    return VARIANTS[variant][0]


def has_share_prefix() -> bool:
    from panodpo import PanoDPOConfig

    return "share_prefix" in {f.name for f in dataclasses.fields(PanoDPOConfig)}


NO_SHARE_PREFIX = "PanoDPOConfig has no share_prefix field yet (issue 24): not measured"


# -- counting what a step computes -----------------------------------------------------------------


class WorkCounter:
    """Positions the language model processes and patches the vision tower embeds, by kind of
    forward (``policy``: gradients on; ``reference``: off). Pre-hooks, registered on the model
    before a trainer wraps it (PEFT keeps the module objects): on the language model (rows x
    length of its inputs), on the module that calls it (its ``input_ids`` and ``attention_mask``
    give the positions without padding: the mask's last columns where one is passed, else the
    ids that are not the pad token), and on the tower's patch embedding (its first convolution
    or linear layer: a frozen tower replayed from the reference forward never reaches it)."""

    def __init__(self, model, pad_token_id: int | None) -> None:
        import torch

        from panodpo.model_parts import find_model_parts

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        parts = find_model_parts(base)
        self.pad_token_id = pad_token_id
        self.counts: dict[str, int] = {}
        self._pending = None
        self.language_model = base.get_submodule(parts.language_model)
        parent = parts.language_model.rpartition(".")[0]
        self.handles = [self.language_model.register_forward_pre_hook(self._language_model, with_kwargs=True)]
        if parent:
            self.handles.append(base.get_submodule(parent).register_forward_pre_hook(self._caller, with_kwargs=True))
        tower = base.get_submodule(parts.encoders[0])
        leaf = next((m for m in tower.modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.Conv2d))), None) \
            or next((m for m in tower.modules() if isinstance(m, torch.nn.Linear)), None)
        if leaf is not None:
            self.handles.append(leaf.register_forward_pre_hook(self._patches))

    @staticmethod
    def _kind() -> str:
        import torch

        return "policy" if torch.is_grad_enabled() else "reference"

    def _add(self, key: str, value: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + int(value)

    def _caller(self, module, args, kwargs) -> None:
        import torch

        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        self._pending = None
        if torch.is_tensor(ids) and ids.dim() == 2:
            rows, length = ids.shape
            if torch.is_tensor(mask) and mask.dim() == 2 and mask.shape[0] == rows and mask.shape[1] >= length:
                real = int(mask[:, -length:].sum())
            elif self.pad_token_id is not None:
                real = int((ids != self.pad_token_id).sum())
            else:
                real = rows * length
            self._pending = ((rows, length), real)

    def _language_model(self, module, args, kwargs) -> None:
        import torch

        x = kwargs.get("inputs_embeds")
        if not torch.is_tensor(x):
            x = kwargs.get("input_ids", args[0] if args else None)
        if not torch.is_tensor(x) or x.dim() < 2:
            return
        rows, length = x.shape[:2]
        padded = rows * length
        real = self._pending[1] if self._pending is not None and self._pending[0] == (rows, length) else padded
        self._pending = None
        kind = self._kind()
        self._add(f"{kind}_padded", padded)
        self._add(f"{kind}_real", real)
        self._add(f"{kind}_calls", 1)

    def _patches(self, module, args) -> None:
        import torch

        if args and torch.is_tensor(args[0]):
            self._add(f"{self._kind()}_patches", args[0].shape[0])

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)

    def reset(self) -> None:
        self.counts = {}


def per_example(steps: list[dict[str, int]], batch: int) -> dict[str, float]:
    """Median over the measured steps of each count, per example (calls: per step)."""
    keys = sorted({k for s in steps for k in s})
    out = {}
    for key in keys:
        value = statistics.median(s.get(key, 0) for s in steps)
        out[key] = value if key.endswith("_calls") else value / batch
    return out


# -- the worker: one variant in its own process ------------------------------------------------------


def _worker(variant: str, args: argparse.Namespace) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    import logging

    import torch
    from datasets import Dataset
    from transformers import TrainerCallback

    from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
    from panodpo.media import load_frames
    from temrobbench.source.synth import SynthConfig, synthesize_coin
    from temrobbench.tiny_models import build_tiny_qwen2vl

    name, spec = VARIANTS[variant]
    if spec.get("share_prefix") and not has_share_prefix():
        return {"skipped": NO_SHARE_PREFIX}
    logging.getLogger("panodpo").setLevel(logging.ERROR)  # the shared path's fallback line is reported below instead
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="panodpo-bench-"))
    synthesize_coin(work, SynthConfig(num_videos=4, seed=3), progress=False)
    videos = sorted(str(p) for p in work.glob("videos/*/*.mp4"))
    rows = [{"id": f"ex{i}", "video": videos[i % len(videos)], **TEXTS[args.texts]} for i in range(args.batch * (args.steps + 1))]
    model, processor = build_tiny_qwen2vl(hidden_size=args.hidden, num_layers=args.layers, vision_dim=args.vision_dim, vision_depth=args.vision_depth,
                                          frame_size=args.frame_size)
    counter = WorkCounter(model, processor.tokenizer.pad_token_id)
    tower_time = [0.0]
    tower = model.model.visual

    def tower_start(*_):
        tower_time.append(time.perf_counter())

    def tower_end(*_):
        tower_time[0] += time.perf_counter() - tower_time.pop()

    tower.register_forward_pre_hook(tower_start)
    tower.register_forward_hook(tower_end)

    class StepTimer(TrainerCallback):
        """Step times, tower time, work counts and the resident high-water mark of every step: the
        mark is reset when a step begins (its batch already collated and resident) and read when it
        ends, so the collator's own transient memory for the next batch is left out."""

        def __init__(self):
            self.times, self.tower, self.work, self.peaks, self.starts, self.start = [], [], [], [], [], 0.0

        def on_step_begin(self, *a, **k):
            self.starts.append(_trimmed_rss())
            _reset_peak_rss()
            counter.reset()
            tower_time[0] = 0.0
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            self.times.append(time.perf_counter() - self.start)
            self.peaks.append(_peak_rss())
            self.tower.append(tower_time[0])
            self.work.append(counter.snapshot())

    baseline = _trimmed_rss()  # the model and data are loaded; nothing of any trainer exists yet
    common = dict(output_dir=str(work / "out"), max_steps=args.steps, per_device_train_batch_size=args.batch, logging_steps=1000, report_to=[],
                  gradient_checkpointing=False, save_strategy="no", learning_rate=1e-4, disable_tqdm=True, seed=0)
    peft_config = default_lora_config(model, r=8, alpha=16)
    if spec["trainer"] == "trl":
        from PIL import Image
        from trl import DPOConfig, DPOTrainer

        def images(video):
            frames = load_frames(video, args.frames)
            return [Image.fromarray(f) for f in (frames[::2] if args.trl_images == "half" else frames)]

        image_rows = [{"images": images(r["video"]), "prompt": [{"role": "user", "content": r["prompt"]}],
                       "chosen": [{"role": "assistant", "content": r["chosen"]}], "rejected": [{"role": "assistant", "content": r["rejected"]}]}
                      for r in rows]
        trainer = DPOTrainer(model, args=DPOConfig(**common, max_length=None, bf16=False), train_dataset=Dataset.from_list(image_rows),
                             processing_class=processor, peft_config=peft_config)
    else:
        weights = spec.get("weights", (1.0, 1.0))
        extra = {"share_prefix": spec["share_prefix"]} if has_share_prefix() else {}
        config = PanoDPOConfig(**common, **extra, num_frames=args.frames, video_loss_weight=weights[0], text_loss_weight=weights[1],
                               precompute_ref_log_probs=bool(spec.get("precomputed")), share_video_encoding=spec["share_video_encoding"])
        trainer_class = NaivePanoDPOTrainer() if spec["trainer"] == "naive" else PanoDPOTrainer
        trainer = trainer_class(model, args=config, train_dataset=Dataset.from_list(rows), processing_class=processor, peft_config=peft_config)
    precompute = counter.snapshot()  # the reference log-probs precomputed in the constructor, if any
    timer = StepTimer()
    trainer.add_callback(timer)
    batch_bytes: list[int] = []
    training_step = trainer.training_step

    def measured_training_step(model, inputs, *a, **k):
        batch_bytes.append(tensor_bytes(inputs))  # what the collator hands the step, resident during it
        return training_step(model, inputs, *a, **k)

    trainer.training_step = measured_training_step
    trainer.train()
    measured = slice(1, None) if len(timer.times) > 1 else slice(None)
    result = {
        "label": name,
        "step_s": statistics.median(timer.times[measured]),
        "peak_mb": (max(timer.peaks[measured]) - baseline) / 2**20,
        "batch_mb": statistics.median(batch_bytes[measured] or [0]) / 2**20,
        # What the step itself adds above what was resident when it began, plus its batch: the
        # analogue of a GPU's peak allocated memory above the weights (see the module docstring).
        "step_mb": max(p - s for p, s in zip(timer.peaks[measured], timer.starts[measured])) / 2**20
                   + statistics.median(batch_bytes[measured] or [0]) / 2**20,
        "tower_share": statistics.median(t / s for t, s in zip(timer.tower[measured], timer.times[measured])),
        "work": per_example(timer.work[measured], args.batch),
        "precompute": {k: v / len(rows) for k, v in precompute.items() if not k.endswith("_calls")},
        "frames": args.frames,
    }
    status = getattr(trainer, "share_prefix_status", None)
    if status is not None:
        result["share_prefix_status"] = json.loads(json.dumps(status, default=str))
    if variant == "plain" or args.probe:
        result["probe"] = _probe(trainer, rows[:1], processor, args.frames)
    return result


def tensor_bytes(value) -> int:
    """Bytes of the tensors in a (nested) batch."""
    import torch

    if torch.is_tensor(value):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return sum(tensor_bytes(v) for v in value.values()) if hasattr(value, "values") and callable(value.values) else 0


def _probe(trainer, rows, processor, num_frames: int) -> dict:
    """Visual tokens per video and text tokens per sequence of one example (for the calibration)."""
    from panodpo.media import load_frames

    video_pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    frames = load_frames(rows[0]["video"], num_frames)
    ids = processor(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=[frames], return_tensors="pt")["input_ids"]
    visual = int((ids == video_pad).sum())
    batch = trainer.data_collator(rows)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    text = [int(n) - int((row == video_pad).sum()) for n, row in zip(lengths, batch["input_ids"])]
    return {"visual_tokens_per_video": visual, "text_tokens_per_sequence": [min(text), max(text)], "sequence_tokens": [min(lengths), max(lengths)]}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _trimmed_rss() -> int:
    """Resident bytes after glibc returns its freed heap to the system: without this, memory freed
    by the reference precompute (in the trainer's constructor) or by the warm-up step stays
    resident and would hide part of a variant's training peak, or count against it."""
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
                keys = ("input_ids", "attention_mask", "completion_mask", "mm_token_type_ids", "video_grid_thw")
                out = {key: value[idx] for key, value in inputs.items() if key in keys}
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


# -- the driver --------------------------------------------------------------------------------------


def run_variant(variant: str, args: argparse.Namespace, **overrides) -> dict:
    """One variant in its own process; a failure or a timeout is a result, never an exception."""
    settings = {k: v for k, v in vars(args).items() if k in WORKER_ARGS}
    settings.update(overrides)
    forwarded = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", variant, *forwarded], capture_output=True, text=True,
                              timeout=args.timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        result = {"error": f"timed out after {args.timeout} s"}
    else:
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines:
            try:
                result = json.loads(lines[-1])
            except json.JSONDecodeError:
                result = {"error": f"no result line; output ends: {lines[-1][-300:]}"}
        else:
            tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["(no output)"]
            result = {"error": f"exit {done.returncode}: {tail[0][-400:]}", "stderr": done.stderr[-3000:]}
    result.setdefault("label", label(variant))
    took = time.perf_counter() - start
    what = "skipped: " + result["skipped"] if "skipped" in result else "FAILED: " + result["error"] if "error" in result else "done"
    print(f"  {label(variant)} ({settings.get('frames')} frames): {what} [{took:.0f} s]", file=sys.stderr, flush=True)
    if "error" in result and args.verbose and result.get("stderr"):
        print(result["stderr"], file=sys.stderr)
    return result


WORKER_ARGS = ("steps", "batch", "frames", "hidden", "layers", "vision_dim", "vision_depth", "frame_size", "threads", "trl_images", "texts")


def combine(runs: list[dict]) -> dict:
    """One result from interleaved repeats of a variant: the run with the shortest step time (on a
    shared machine other load only ever adds time), its peak memory replaced by the median."""
    measured = [r for r in runs if ok(r)]
    if not measured:
        return runs[0]
    best = dict(min(measured, key=lambda r: r["step_s"]))
    best["peak_mb"] = statistics.median(r["peak_mb"] for r in measured)
    best["step_mb"] = statistics.median(r["step_mb"] for r in measured)
    best["runs"] = len(measured)
    best["step_s_all"] = [r["step_s"] for r in measured]
    return best


def ok(result: dict | None) -> bool:
    return bool(result) and "step_s" in result


def why_not(name: str, result: dict | None) -> str:
    if not result:
        return f"{name} not run (see --variants)"
    return f"{name} {'skipped' if 'skipped' in result else 'failed'}"


def ratio_line(text: str, top: dict | None, bottom: dict | None, key, goal: float | None = None, top_name: str = "", bottom_name: str = "",
               note: str = "") -> str:
    if not ok(top) or not ok(bottom):
        missing = why_not(top_name, top) if not ok(top) else why_not(bottom_name, bottom)
        return f"  {text}: n/a ({missing})"
    a, b = key(top), key(bottom)
    if not b:
        return f"  {text}: n/a (zero denominator)"
    value = a / b
    verdict = "" if goal is None else f"  (goal <= {goal:g}x: {'met' if value <= goal else 'NOT met'})"
    return f"  {text}: {value:.2f}x{verdict}{note}"


def lm_tokens(result: dict, padded: bool = True) -> float:
    kind = "padded" if padded else "real"
    return result["work"].get(f"policy_{kind}", 0) + result["work"].get(f"reference_{kind}", 0)


def print_report(results: dict[str, dict], args: argparse.Namespace) -> None:
    print(f"\nbatch {args.batch}, {args.frames} frames at {args.frame_size}px, language model {args.hidden} x {args.layers} layers, vision tower "
          f"{args.vision_dim} x {args.vision_depth} blocks; CPU, {args.threads} thread(s); median over the {args.steps - 1} steps after warm-up"
          + (f", the fastest of {args.repeats} interleaved runs (peak memory: their median)" if args.repeats > 1 else ""))
    probe = next((r["probe"] for r in results.values() if ok(r) and "probe" in r), None)
    if probe:
        print(f"visual tokens per video: {probe['visual_tokens_per_video']}; text tokens per sequence: "
              f"{probe['text_tokens_per_sequence'][0]}-{probe['text_tokens_per_sequence'][1]}; sequences of "
              f"{probe['sequence_tokens'][0]}-{probe['sequence_tokens'][1]} tokens")
    base = results.get("vanilla-plain") if ok(results.get("vanilla-plain")) else next((r for r in results.values() if ok(r)), None)
    base_name = "vanilla DPO plain" if base is results.get("vanilla-plain") else (base or {}).get("label", "")

    print("\nlanguage-model tokens per example (positions the language model processes; padded / without padding) and tower patches per example")
    print(f"{'variant':<42}{'policy':>15}{'reference':>15}{'total':>15}{'LM calls':>10}{'patches':>9}{'precomputed ref':>17}")
    for variant, r in results.items():
        if not ok(r):
            print(f"{r['label']:<42}  {r.get('skipped') or 'FAILED: ' + r.get('error', '?')}")
            continue
        w = r["work"]

        def pair(kind):
            return f"{w.get(kind + '_padded', 0):>7.0f}/{w.get(kind + '_real', 0):<7.0f}"

        total = f"{lm_tokens(r):>7.0f}/{lm_tokens(r, False):<7.0f}"
        calls = w.get("policy_calls", 0) + w.get("reference_calls", 0)
        patches = w.get("policy_patches", 0) + w.get("reference_patches", 0)
        pre = r.get("precompute", {}).get("reference_padded")
        print(f"{r['label']:<42}{pair('policy'):>15}{pair('reference'):>15}{total:>15}{calls:>10.0f}{patches:>9.0f}"
              f"{(f'{pre:.0f}' if pre else '-'):>17}")

    print(f"\nstep time and peak memory (x: against {base_name})")
    print(f"{'variant':<42}{'step s':>9}{'x':>7}{'tower %':>9}{'peak MB':>9}{'x':>7}{'step MB':>9}{'x':>7}{'batch MB':>10}  shared prefix")
    for variant, r in results.items():
        if not ok(r):
            continue
        status = r.get("share_prefix_status")
        if status is None:
            shared = "-"
        elif status.get("enabled"):
            diff = status.get("max_abs_difference")
            shared = "on" + (f" (first batch within {diff:.1e} of plain)" if isinstance(diff, (int, float)) else "")
        else:
            shared = "off" + (f": {status.get('reason')}" if VARIANTS[variant][1].get("share_prefix") else "")
        print(f"{r['label']:<42}{r['step_s']:>9.3f}{r['step_s'] / base['step_s']:>7.2f}{100 * r['tower_share']:>8.0f}%"
              f"{r['peak_mb']:>9.0f}{r['peak_mb'] / max(base['peak_mb'], 1):>7.2f}{r['step_mb']:>9.0f}{r['step_mb'] / max(base['step_mb'], 1):>7.2f}"
              f"{r.get('batch_mb', 0):>10.0f}  {shared}")
        if VARIANTS[variant][1].get("share_prefix") and status is not None and not status.get("enabled"):
            print(f"{'':<42}  ^ asked for share_prefix=True but ran the plain path: its figures are the plain path's")

    plain, shared = results.get("plain"), results.get("shared")
    vanilla, vanilla_plain, trl = results.get("vanilla"), results.get("vanilla-plain"), results.get("trl")
    if ok(plain):
        low, high = CALIBRATION_TARGET
        share = plain["tower_share"]
        verdict = "within" if low <= share <= high else "OUTSIDE"
        print(f"\nvision tower share of a plain PanoDPO step (live reference): {100 * share:.1f}% ({verdict} the calibration target "
              f"{100 * low:.0f}-{100 * high:.0f}%{'' if args.preset == 'calibrated' else '; this run is not --calibrated'})")
    step, peak, step_memory = (lambda r: r["step_s"]), (lambda r: r["peak_mb"]), (lambda r: r["step_mb"])
    names = {k: label(k) for k in VARIANTS}
    print("\ngoals")
    print(ratio_line("PanoDPO shared-prefix / vanilla DPO plain, step time", shared, vanilla_plain, step, 1.1, names["shared"], names["vanilla-plain"]))
    print(ratio_line("   the same in language-model tokens (policy + reference, padded)", shared, vanilla_plain, lm_tokens, None,
                     names["shared"], names["vanilla-plain"]))
    print(ratio_line("vanilla DPO via PanoDPOTrainer / TRL DPOTrainer, step time", vanilla, trl, step, 0.6, names["vanilla"], names["trl"]))
    print(ratio_line("   the same in language-model tokens", vanilla, trl, lm_tokens, None, names["vanilla"], names["trl"]))
    at = "" if args.frames == 32 else f" [at {args.frames} frames; the goal is stated at 32]"
    print(ratio_line("PanoDPO shared-prefix / PanoDPO plain, step memory (the step's own peak + its batch)", shared, plain, step_memory, 0.65,
                     names["shared"], names["plain"], note=at))
    print(ratio_line("   the same in resident peak above the loaded model and data (host residue included)", shared, plain, peak, 0.65,
                     names["shared"], names["plain"], note=at))
    print("\nother ratios")
    print(ratio_line("PanoDPO plain / vanilla DPO plain, step time", plain, vanilla_plain, step, None, names["plain"], names["vanilla-plain"]))
    print(ratio_line("PanoDPO shared-prefix / PanoDPO plain, step time", shared, plain, step, None, names["shared"], names["plain"]))
    print(ratio_line("PanoDPO shared-prefix / PanoDPO plain, language-model tokens", shared, plain, lm_tokens, None, names["shared"], names["plain"]))
    print(ratio_line("PanoDPO shared-prefix (precomputed ref) / PanoDPO plain (precomputed ref), step time", results.get("shared-pre"),
                     results.get("plain-pre"), step, None, names["shared-pre"], names["plain-pre"]))
    print(ratio_line("vanilla DPO via PanoDPOTrainer / vanilla DPO plain, step time", vanilla, vanilla_plain, step, None, names["vanilla"],
                     names["vanilla-plain"]))
    print(ratio_line("PanoDPO shared-prefix / TRL DPOTrainer, step time", shared, trl, step, None, names["shared"], names["trl"]))
    if "naive" in results:
        print(ratio_line("naive / PanoDPO plain, step time", results["naive"], plain, step, None, names["naive"], names["plain"]))
    if args.trl_images == "half" and trl is not None:
        print(f"\n(TRL DPOTrainer was given every other frame as an image: {args.frames // 2} images, the video's visual tokens and patches; "
              "--trl-images all gives it every frame, twice as many)")


def memory_sweep(results: dict[str, dict], args: argparse.Namespace) -> None:
    frames = args.sweep_frames
    table: dict[str, dict[int, dict]] = {v: {} for v in SWEEP_VARIANTS}
    for variant in SWEEP_VARIANTS:
        for n in frames:
            if n == args.frames and ok(results.get(variant)):
                table[variant][n] = results[variant]
            else:
                table[variant][n] = run_variant(variant, args, frames=n, steps=args.sweep_steps)
    plain, shared = table["plain"], table["shared"]
    for key, title in (("step_mb", "step memory (MB: the step's own peak above what was resident when it began, plus its batch)"),
                       ("peak_mb", "resident peak (MB above the loaded model and data; host residue of collating included)")):
        print(f"\n{title} by frames, batch {args.batch}, over the steps after warm-up")
        print(f"{'variant':<42}" + "".join(f"{f'{n} frames':>12}" for n in frames))
        for variant in SWEEP_VARIANTS:
            cells = "".join(f"{table[variant][n][key]:>12.0f}" if ok(table[variant][n]) else f"{'n/a':>12}" for n in frames)
            print(f"{label(variant):<42}{cells}")
        for n in frames:
            if ok(plain.get(n)) and ok(shared.get(n)):
                print(f"  PanoDPO shared-prefix / plain at {n} frames: {shared[n][key] / max(plain[n][key], 1):.2f}x"
                      + ("  (goal <= 0.65x: " + ("met)" if shared[n][key] <= 0.65 * plain[n][key] else "NOT met)") if n == 32 else ""))
    path = plot_path(args.plot)
    if path is None:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(no plot: matplotlib is not installed; pip install 'temrobbench[plots]')")
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, ylabel in ((axes[0], "step_mb", "step memory: the step's peak + its batch (MB)"),
                            (axes[1], "peak_mb", "resident peak above the loaded model (MB)")):
        for variant in SWEEP_VARIANTS:
            points = [(n, table[variant][n][key]) for n in frames if ok(table[variant][n])]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label(variant))
        ax.set_xlabel("frames per video")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xticks(list(frames))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"training step memory, tiny Qwen2-VL on CPU (batch {args.batch})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


DEFAULT_PLOT = "benchmarks/out/train_memory.png"


def plot_path(given: str | None) -> Path | None:
    """``--plot`` as given; by default benchmarks/out/train_memory.png when git ignores it, else
    out/train_memory.png (the repository's ignored /out/ folder): a default run never leaves a file
    git would pick up. ``--plot none`` writes no plot."""
    if given is not None:
        return None if given.lower() == "none" else Path(given)
    default = REPO / DEFAULT_PLOT
    try:
        ignored = subprocess.run(["git", "check-ignore", "-q", DEFAULT_PLOT], cwd=REPO, capture_output=True).returncode == 0
    except OSError:
        ignored = False
    if ignored:
        return default
    fallback = REPO / "out" / "train_memory.png"
    print(f"({DEFAULT_PLOT} is not git-ignored: the plot goes to {fallback.relative_to(REPO)}; pass --plot PATH to choose)")
    return fallback


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrated", action="store_true",
                        help="the real mix: 32 frames at 224px (~1,050 visual tokens per video), a frozen tower ~10-15%% of a plain step "
                             "(sets --frames 32 --frame-size 224 --hidden 128 --layers 2 --vision-dim 32 --vision-depth 4 --texts short "
                             "--batch 2 --steps 4 unless given)")
    parser.add_argument("--vision-heavy", action="store_true",
                        help="a vision tower that takes about 40%% of a PanoDPO step without shared video encoding (variant "
                             "plain-encoding; ~18%% of plain, whose policy forward reuses the reference's tower outputs): sets --vision-dim 64 "
                             "--vision-depth 3 --frame-size 112 unless given; docs/training.md's earlier figures")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None,
                        help=f"which to run, in this order (default: {' '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--steps", type=int, default=None, help="training steps per variant, the first a warm-up (8; calibrated 4)")
    parser.add_argument("--batch", type=int, default=None, help="examples per step (4; calibrated 2)")
    parser.add_argument("--frames", type=int, default=None, help="frames per video (8; calibrated 32)")
    parser.add_argument("--hidden", type=int, default=None, help="language model width (64; calibrated 128)")
    parser.add_argument("--layers", type=int, default=None, help="language model layers (2)")
    parser.add_argument("--vision-dim", "--vision_dim", dest="vision_dim", type=int, default=None, help="vision tower width (16; calibrated 32)")
    parser.add_argument("--vision-depth", "--vision_depth", dest="vision_depth", type=int, default=None, help="vision tower blocks (2; calibrated 4)")
    parser.add_argument("--frame-size", "--frame_size", dest="frame_size", type=int, default=None,
                        help="frames resized to about this square (56; calibrated 224)")
    parser.add_argument("--texts", choices=list(TEXTS), default=None, help="question and answer lengths (long; calibrated short)")
    parser.add_argument("--trl-images", choices=("half", "all"), default="half",
                        help="frames given to TRL's DPOTrainer as images: every other one (the video's visual tokens) or all")
    # One thread by default: with torch's threads on every core, any other load on the machine
    # stalls its thread barriers (measured: 0.19 s vs 7.3 s per step with a busy neighbour on 2 cores).
    parser.add_argument("--threads", type=int, default=1, help="torch threads per variant (1)")
    parser.add_argument("--memory-sweep", action="store_true", help="also peak memory at --sweep-frames for TRL's DPOTrainer, vanilla DPO via "
                                                                     "PanoDPOTrainer, PanoDPO plain and shared-prefix: a table and a PNG")
    parser.add_argument("--sweep-frames", type=int, nargs="+", default=[8, 16, 32], help="frames of the memory sweep (8 16 32)")
    parser.add_argument("--sweep-steps", type=int, default=3, help="steps per sweep run (3: the peak of 2 after warm-up)")
    parser.add_argument("--plot", default=None, help=f"the sweep's PNG (default {DEFAULT_PLOT} where git ignores it, else out/train_memory.png; "
                                                     "'none': no plot)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run the variants this many times, interleaved, and keep each one's fastest run (its median peak memory): "
                             "on a shared machine, other load only adds time (1)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per variant before it counts as failed (900)")
    parser.add_argument("--json", default=None, help="also write every result to this JSON file")
    parser.add_argument("--verbose", action="store_true", help="print a failed variant's error output")
    parser.add_argument("--probe", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args)))
        return
    args.preset = "calibrated" if args.calibrated else "vision-heavy" if args.vision_heavy else "default"
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.steps < 2:
        parser.error("--steps must be >= 2 (the first is a warm-up)")
    if not has_share_prefix():
        print(f"note: {NO_SHARE_PREFIX}; the shared-prefix variants are skipped", file=sys.stderr)
    variants = args.variants or DEFAULT_VARIANTS
    rounds = [{variant: run_variant(variant, args) for variant in variants} for _ in range(args.repeats)]
    results = {variant: combine([r[variant] for r in rounds]) for variant in variants}
    print_report(results, args)
    if args.memory_sweep:
        memory_sweep(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": {k: v for k, v in vars(args).items() if k != "worker"}, "results": results}, indent=1,
                                              default=str))


if __name__ == "__main__":
    main()
