r"""GPU check (issue 24): PanoDPO plain and shared-prefix against TRL's DPO step on a real-size
Qwen2-VL-7B with random weights, and the evaluation protocol's throughput, on one GPU.

Nothing is downloaded: the model is built from a ``Qwen2VLConfig`` with Qwen2-VL-7B's sizes set in
code (language model: hidden 3584, 28 layers, 28 heads, 4 key-value heads, intermediate 18944,
vocabulary 152064; vision tower: 32 blocks of width 1280, 16 heads, its merger into 3584) in bf16,
on the GPU; the processor is built in code as ``temrobbench.tiny_models`` builds it (byte-level
tokenizer, the Qwen2-VL chat template from the trl wheel), with Qwen2-VL-7B-Instruct's image and
video processor sizes (min_pixels 3136, max_pixels 12845056, patch 14, temporal patch 2, merge 2:
what loading the checkpoint gives, its video processor taking the image processor's config).
Videos are folders of synthetic frames (``--frames`` 32 at ``--frame-size`` 224: 16 frame pairs x
256 patches = 1,024 visual tokens per video).

Training variants: LoRA r=16 on every linear layer of the language model (the projector trained
in full, the tower frozen: ``panodpo.default_lora_config``), gradient checkpointing on
(non-reentrant), batch 1, ``--warmup`` 1 step then ``--steps`` 3 timed (CUDA-synchronized), live
reference (the adapter disabled):

    plain     PanoDPO, share_prefix=False (4 sequences in one forward)
    shared    PanoDPO, share_prefix=True
    trl       TRL's DPOTrainer (chosen / rejected; TRL takes images: every other frame, the video's
              visual tokens and patches)
    vanilla   vanilla DPO through PanoDPOTrainer (both extra weights 0, share_prefix=True)
    eval      the evaluation protocol through temrobbench's ``hf:`` adapter (HFVideoLM) on synthetic
              items (1 clean + 4 adversarial queries per item, 3 items per video): likelihood
              scoring with the shared video prefix (KV cache) and the naive full forward per query

Per training variant: step time, language-model tokens per second (positions processed, policy and
reference, from a forward pre-hook on the language model), trained tokens per second (the tokens
of the sequences), peak memory (``torch.cuda.max_memory_allocated`` over the timed steps) and above
what was allocated when the step began (activations and transients), the tower's estimated share
of a step (one tower pass timed alone, times the passes the step ran), and model FLOP utilization:

    MFU = [policy LM tokens x (4 N_lm + 2 N_trainable) + reference LM tokens x 2 N_lm
           + tower patches x 2 N_tower] / step time / 989e12 (H200 bf16 dense peak)

i.e. 6 x N_adj x tokens with the trainable-adjusted N_adj = (4 N_lm + 2 N_trainable) / 6 for a
policy token (forward 2N, backward through the frozen weights 2N, weight gradients only for the
trainable 2 N_trainable), 2N for a reference token and a tower patch; attention FLOPs and the
recomputation of gradient checkpointing are not counted. ``MFU 6N`` beside it is the plain
6 N_lm x policy tokens + 2 N_lm x reference tokens.

Each variant runs in its own process with a timeout (``--timeout``) inside a total budget
(``--budget``); a variant that runs out of memory, fails or times out is reported with what it
measured before (steps are written to a file as they finish) and the others still run.

    bash benchmarks/gpu_check.sh                       # on the GPU machine: at most ~8 minutes
    python benchmarks/gpu_check.py --dry-run           # here, on CPU: tiny sizes, the whole pipeline
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

PEAK_FLOPS = 989e12  # H200 (and H100 SXM) bf16 dense tensor-core peak

VARIANTS = {
    "plain": "PanoDPO plain",
    "shared": "PanoDPO shared-prefix",
    "trl": "TRL DPOTrainer",
    "eval": "eval protocol (hf: adapter)",
    "vanilla": "vanilla DPO via PanoDPOTrainer",
}
DEFAULT_VARIANTS = ("plain", "shared", "trl", "eval", "vanilla")

#: Qwen2-VL-7B (Qwen/Qwen2-VL-7B-Instruct's config.json), and a tiny model of the same shape for
#: --tiny / --dry-run.
SIZES = {
    "7b": dict(
        text=dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                  num_key_value_heads=4, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0, mrope_section=[16, 24, 24]),
        vision=dict(depth=32, embed_dim=1280, hidden_size=3584, num_heads=16, mlp_ratio=4),
    ),
    "tiny": dict(
        text=dict(vocab_size=None, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-6, rope_theta=10000.0, mrope_section=[4, 6, 6]),
        vision=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2),
    ),
}
#: Qwen2-VL-7B-Instruct's preprocessor_config.json (its video processor loads this config too).
PROCESSOR_SIZE = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 16384}

TEXTS = {"prompt": "What happens first?", "chosen": "Cutting the bread.", "rejected": "Adding the ham.",
         "rejected_prompt": "It starts with ham. What happens first?"}


# -- model, processor, data -----------------------------------------------------------------------


def build_qwen2vl(size: str, device: str, dtype):
    """A random Qwen2-VL of ``size`` ("7b" or "tiny") on ``device`` in ``dtype``, and its processor."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    from temrobbench.tiny_models import QWEN_SPECIAL_TOKENS, build_byte_tokenizer

    tokenizer = build_byte_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    text, vision = dict(SIZES[size]["text"]), dict(SIZES[size]["vision"])
    rope = {"rope_type": "default", "rope_theta": text.pop("rope_theta"), "mrope_section": text.pop("mrope_section")}
    text["vocab_size"] = text["vocab_size"] or len(tokenizer)
    config = Qwen2VLConfig(
        text_config={**text, "rope_parameters": rope, "hidden_act": "silu", "attention_dropout": 0.0, "tie_word_embeddings": False,
                     "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]},
        vision_config={**vision, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3, "hidden_act": "quick_gelu"},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default_dtype)
    # Built under the default dtype, parameters are in ``dtype`` while buffers made in float32 on
    # purpose (the rotary inverse frequencies) stay so, as from_pretrained(dtype=...) leaves them.
    model = model.eval()
    video_kwargs = dict(size=PROCESSOR_SIZE, do_sample_frames=False)
    try:
        video_processor = Qwen2VLVideoProcessor(**video_kwargs, cap_pixels_per_frame=True)  # the qwen-vl-utils pixel budget
    except (TypeError, ValueError):  # a transformers without the option
        video_processor = Qwen2VLVideoProcessor(**video_kwargs)
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(size=PROCESSOR_SIZE), video_processor=video_processor,
                                 tokenizer=tokenizer, chat_template=tokenizer.chat_template)
    return model, processor


def synthetic_frames(index: int, count: int, size: int):
    """``count`` frames (size x size RGB uint8) of a moving pattern, different for each ``index``."""
    import numpy as np

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    frames = []
    for t in range(count):
        phase = t / max(count, 1) + 0.37 * index
        r = 127 + 120 * np.sin(2 * np.pi * (x * (2 + index) + phase))
        g = 127 + 120 * np.sin(2 * np.pi * (y * (3 + index) - phase))
        b = 127 + 120 * np.cos(2 * np.pi * ((x + y) * 2 + 2 * phase))
        frames.append(np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8))
    return frames


def frame_folders(root: Path, videos: int, count: int, size: int) -> list[str]:
    """Videos as folders of JPEG frames (``panodpo.media.load_frames`` reads them with OpenCV: no FFmpeg)."""
    import cv2

    folders = []
    for v in range(videos):
        folder = root / f"video{v}"
        folder.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(synthetic_frames(v, count, size)):
            cv2.imwrite(str(folder / f"frame_{t:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        folders.append(str(folder))
    return folders


def parameter_counts(model) -> dict[str, int]:
    """N_lm (the language model's matmul weights: its layers and the output head, not the input
    embedding), N_tower (the vision tower's frozen part) and N_merger."""
    from panodpo.model_parts import find_model_parts

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    parts = find_model_parts(base)
    lm = base.get_submodule(parts.language_model)
    embed = lm.get_input_embeddings() if hasattr(lm, "get_input_embeddings") else None
    head = base.get_output_embeddings()
    n_lm = sum(p.numel() for p in lm.parameters()) - (embed.weight.numel() if embed is not None else 0) + (head.weight.numel() if head is not None else 0)
    tower = base.get_submodule(parts.encoders[0])
    n_merger = sum(p.numel() for name in parts.projectors if parts.in_encoder(name) for p in base.get_submodule(name).parameters())
    n_tower = sum(p.numel() for p in tower.parameters()) - n_merger
    return {"n_lm": n_lm, "n_tower": n_tower, "n_merger": n_merger}


# -- workers ----------------------------------------------------------------------------------------


class Partial:
    """The worker's result so far, rewritten to a file as it grows (read back after a timeout)."""

    def __init__(self, path: str | None) -> None:
        self.path, self.data = path, {}

    def update(self, **values) -> None:
        self.data.update(values)
        if self.path:
            Path(self.path).write_text(json.dumps(self.data, default=str))


def train_worker(variant: str, args: argparse.Namespace, partial: Partial) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    import logging

    import torch
    from datasets import Dataset
    from transformers import TrainerCallback

    from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
    from panodpo.media import load_frames

    sys.path.insert(0, str(HERE))
    from train_step import WorkCounter, has_share_prefix, per_example, tensor_bytes

    if variant in ("shared", "vanilla") and not has_share_prefix():
        return {"skipped": "PanoDPOConfig has no share_prefix field (issue 24)"}
    logging.getLogger("panodpo").setLevel(logging.WARNING)
    cuda = args.device == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    started = time.perf_counter()
    model, processor = build_qwen2vl(args.size, args.device, dtype)
    counts = parameter_counts(model)
    partial.update(build_s=time.perf_counter() - started, weights_gib=torch.cuda.memory_allocated() / 2**30 if cuda else None, **counts)
    counter = WorkCounter(model, processor.tokenizer.pad_token_id)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    videos = frame_folders(work / "videos", 2, args.frames, args.frame_size)
    total_steps = args.warmup + args.steps
    rows = [{"id": f"ex{i}", "video": videos[i % len(videos)], **TEXTS} for i in range(total_steps)]

    class Steps(TrainerCallback):
        def __init__(self):
            self.times, self.work, self.peaks, self.above, self.trained = [], [], [], [], []

        def on_step_begin(self, *a, **k):
            sync()
            if cuda:
                torch.cuda.reset_peak_memory_stats()
                self.allocated = torch.cuda.memory_allocated()
            counter.reset()
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            sync()
            self.times.append(time.perf_counter() - self.start)
            self.work.append(counter.snapshot())
            if cuda:
                peak = torch.cuda.max_memory_allocated()
                self.peaks.append(peak / 2**30)
                self.above.append((peak - self.allocated) / 2**30)
            timed = slice(args.warmup, None)
            partial.update(steps_done=len(self.times), step_times=self.times, peaks_gib=self.peaks,
                           work=per_example(self.work[timed], 1) if self.work[timed] else None)

    common = dict(output_dir=str(work / "out"), max_steps=total_steps, per_device_train_batch_size=1, logging_steps=1000, report_to=[],
                  gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False}, save_strategy="no", learning_rate=1e-5,
                  disable_tqdm=True, seed=0, bf16=cuda, use_cpu=not cuda, dataloader_num_workers=0)
    peft_config = default_lora_config(model, r=16, alpha=32)
    if variant == "trl":
        from PIL import Image
        from trl import DPOConfig, DPOTrainer

        image_rows = [{"images": [Image.fromarray(f) for f in load_frames(r["video"], args.frames)[::2]],
                       "prompt": [{"role": "user", "content": r["prompt"]}], "chosen": [{"role": "assistant", "content": r["chosen"]}],
                       "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows]
        trainer = DPOTrainer(model, args=DPOConfig(**common, max_length=None), train_dataset=Dataset.from_list(image_rows),
                             processing_class=processor, peft_config=peft_config)
    else:
        weights = (0.0, 0.0) if variant == "vanilla" else (1.0, 1.0)
        extra = {"share_prefix": variant != "plain"} if has_share_prefix() else {}
        config = PanoDPOConfig(**common, **extra, num_frames=args.frames, video_loss_weight=weights[0], text_loss_weight=weights[1])
        trainer = PanoDPOTrainer(model, args=config, train_dataset=Dataset.from_list(rows), processing_class=processor, peft_config=peft_config)
    # N_trainable of the formula: the language model's trainable weights (LoRA), whose gradients
    # each policy token adds; the projector's (trained in full) run on the visual tokens only.
    trainable = sum(p.numel() for p in counter.language_model.parameters() if p.requires_grad)
    partial.update(n_trainable=trainable, n_trainable_all=sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
                   setup_s=time.perf_counter() - started)
    steps = Steps()
    trainer.add_callback(steps)
    trained: list[int] = []
    training_step = trainer.training_step

    def counted_training_step(model_, inputs, *a, **k):
        trained.append(int(inputs["attention_mask"].sum()))  # the tokens of the sequences this step trains
        partial.update(trained_tokens=trained, batch_mib=tensor_bytes(inputs) / 2**20)
        return training_step(model_, inputs, *a, **k)

    trainer.training_step = counted_training_step
    error = None
    try:
        trainer.train()
    except torch.OutOfMemoryError as err:
        error = f"CUDA out of memory after {len(steps.times)} step(s): {str(err).splitlines()[0][:200]}"
    status = getattr(trainer, "share_prefix_status", None)
    if status is not None:
        partial.update(share_prefix_status=json.loads(json.dumps(status, default=str)))
    if error:
        partial.update(error=error, peak_gib_at_error=torch.cuda.max_memory_allocated() / 2**30 if cuda else None)
        return partial.data
    partial.update(tower_pass_s=_time_tower(model, processor, videos[0], args, sync), patches_per_video=_patches_per_video(processor, videos[0], args))
    return partial.data


def _video_inputs(processor, video: str, args):
    from panodpo.media import load_frames

    frames = load_frames(video, args.frames)
    return processor.video_processor(videos=[frames], return_tensors="pt")


def _patches_per_video(processor, video: str, args) -> int:
    grid = _video_inputs(processor, video, args)["video_grid_thw"]
    return int(grid.prod(dim=-1).sum())


def _time_tower(model, processor, video: str, args, sync) -> float:
    """Seconds of one frozen-tower pass over one video (no gradients; median of 3 after 1 warm-up)."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    tower = base.model.visual
    inputs = _video_inputs(processor, video, args)
    pixels = inputs["pixel_values_videos"].to(args.device, next(tower.parameters()).dtype)
    grid = inputs["video_grid_thw"].to(args.device)
    times = []
    with torch.no_grad():
        for _ in range(4):
            sync()
            start = time.perf_counter()
            tower(pixels, grid_thw=grid)
            sync()
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def eval_worker(args: argparse.Namespace, partial: Partial) -> dict:
    """The protocol's likelihood scoring through HFVideoLM: per video, 3 items x (1 clean + 4
    adversarial rounds), with the shared video prefix and with a full forward per query."""
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    from temrobbench.evaluation.models.hf import HFVideoLM
    from temrobbench.evaluation.protocol import plan_item, render_query
    from temrobbench.evaluation.requests import VideoLMRequest

    sys.path.insert(0, str(HERE))
    from train_step import WorkCounter

    cuda = args.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    model, processor = build_qwen2vl(args.size, args.device, torch.bfloat16 if cuda else torch.float32)
    counter = WorkCounter(model, processor.tokenizer.pad_token_id)
    steps = ["cut bread", "spread butter", "add lettuce", "add cheese", "add ham", "close sandwich"]
    requests = []
    for v in range(args.eval_videos):
        frames = synthetic_frames(10 + v, args.frames, args.frame_size)
        for i in range(3):
            options = [", then ".join(steps[(i + k) % 6: (i + k) % 6 + 3] or steps[:3]) for k in range(4)]
            clean = {"id": f"v{v}i{i}", "video_id": f"v{v}", "perturbation": "shuffle", "category": "ITS", "video": f"v{v}",
                     "question": "In which order do the steps happen in the video?", "options": options,
                     "option_roles": ["correct", "shortcut", "incorrect", "incorrect"], "descriptions": []}
            adversarial = dict(clean, descriptions=[f"The video shows: {s}." for s in steps[i:i + 3]])
            for query in plan_item(clean, adversarial, 4):
                rendered = render_query(query)
                requests.append(VideoLMRequest(query.row["id"], query.row["video_id"], "shuffle", "ITS", query.setting, query.round, frames,
                                               rendered.text, rendered.options, rendered.letters, video_key=f"v{v}"))
    results = {"queries": len(requests), "videos": args.eval_videos}
    for name, reuse in (("shared prefix", True), ("full forward per query", False)):
        lm = HFVideoLM(model, processor, max_new_tokens=2, reuse_prefix=reuse)
        lm.letter_logprobs(requests[:5])  # warm-up
        times, tokens = [], []
        for _ in range(args.eval_repeats):
            counter.reset()
            sync()
            start = time.perf_counter()
            lm.letter_logprobs(requests)
            sync()
            times.append(time.perf_counter() - start)
            tokens.append(counter.snapshot().get("reference_padded", 0))
        seconds = statistics.median(times)
        results[name] = {"seconds": seconds, "queries_per_s": len(requests) / seconds, "items_per_s": len(requests) / 5 / seconds,
                         "lm_tokens": statistics.median(tokens), "lm_tokens_per_s": statistics.median(tokens) / seconds}
        partial.update(**results)
    full = results["full forward per query"]
    results["protocol_tokens_per_s"] = full["lm_tokens"] / results["shared prefix"]["seconds"]  # the queries' tokens, as if each ran in full
    partial.update(**results)
    return partial.data


# -- driver -----------------------------------------------------------------------------------------


def run_variant(variant: str, args: argparse.Namespace, timeout: float) -> dict:
    result_file = Path(tempfile.mkstemp(prefix=f"gpu-check-{variant}-", suffix=".json")[1])
    forwarded = [f"--size={args.size}", f"--device={args.device}", f"--frames={args.frames}", f"--frame-size={args.frame_size}",
                 f"--steps={args.steps}", f"--warmup={args.warmup}", f"--eval-videos={args.eval_videos}", f"--eval-repeats={args.eval_repeats}"]
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", variant, "--result-file", str(result_file), *forwarded],
                              capture_output=True, text=True, timeout=timeout, cwd=REPO)
        lines = done.stdout.strip().splitlines()
        try:
            result = json.loads(lines[-1]) if done.returncode == 0 and lines else None
        except json.JSONDecodeError:
            result = None
        if result is None:
            result = _read(result_file)
            tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["(no output)"]
            result["error"] = f"exit {done.returncode}: {tail[0][-300:]}"
            if args.verbose:
                print(done.stderr[-4000:], file=sys.stderr)
    except subprocess.TimeoutExpired:
        result = _read(result_file)
        result["error"] = f"timed out after {timeout:.0f} s ({result.get('steps_done', 0)} step(s) done)"
    result_file.unlink(missing_ok=True)
    result["wall_s"] = time.perf_counter() - start
    what = "skipped: " + result["skipped"] if "skipped" in result else "FAILED: " + result["error"] if "error" in result else "done"
    print(f"  {VARIANTS[variant]}: {what} [{result['wall_s']:.0f} s]", file=sys.stderr, flush=True)
    return result


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def summarize(variant: str, r: dict, warmup: int) -> dict | None:
    """Per-step figures of a training variant from its (possibly partial) result."""
    times = (r.get("step_times") or [])[warmup:]
    work = r.get("work")
    if not times or not work:
        return None
    step = statistics.median(times)
    policy, reference = work.get("policy_padded", 0), work.get("reference_padded", 0)
    patches = work.get("policy_patches", 0) + work.get("reference_patches", 0)
    n_lm, n_tower, trainable = r["n_lm"], r["n_tower"], r.get("n_trainable", 0)
    flops = policy * (4 * n_lm + 2 * trainable) + reference * 2 * n_lm + patches * 2 * n_tower
    flops_6n = 6 * n_lm * policy + 2 * n_lm * reference
    trained = statistics.median((r.get("trained_tokens") or [0])[warmup:] or [0])
    peaks = (r.get("peaks_gib") or [])[warmup:]
    tower = None
    if r.get("tower_pass_s") and r.get("patches_per_video"):
        tower = patches / r["patches_per_video"] * r["tower_pass_s"] / step
    return {"step_s": step, "steps": len(times), "lm_tokens": policy + reference, "policy": policy, "reference": reference,
            "lm_tok_s": (policy + reference) / step, "trained_tok_s": trained / step, "peak_gib": max(peaks) if peaks else None,
            "mfu": flops / step / PEAK_FLOPS, "mfu_6n": flops_6n / step / PEAK_FLOPS, "tower_share": tower, "calls": work.get("policy_calls", 0) +
            work.get("reference_calls", 0)}


def _count(n: float) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M"


def report(results: dict[str, dict], args: argparse.Namespace) -> None:
    import platform

    device = args.device
    try:
        import torch

        if device == "cuda" and torch.cuda.is_available():
            device = torch.cuda.get_device_name()
    except ImportError:
        pass
    print(f"\n{args.size} Qwen2-VL (random weights), {args.frames} frames at {args.frame_size}px, batch 1, LoRA r=16, gradient checkpointing, "
          f"{'bf16' if args.device == 'cuda' else 'fp32'} on {device}; median of {args.steps} step(s) after {args.warmup} warm-up "
          f"(python {platform.python_version()})")
    first = next((r for r in results.values() if r.get("n_lm")), None)
    if first:
        print(f"N_lm {_count(first['n_lm'])} (language model matmuls, output head included, input embedding not), N_tower "
              f"{_count(first['n_tower'])} (frozen), merger {_count(first['n_merger'])}; N_trainable {_count(first.get('n_trainable', 0))} "
              f"(LoRA in the language model; {_count(first.get('n_trainable_all', 0))} trainable in all); weights {first.get('weights_gib') or 0:.1f} GiB")
    print(f"\n{'variant':<32}{'step s':>8}{'LM tok/s':>10}{'trained tok/s':>15}{'peak GiB':>10}{'act GiB':>9}{'MFU':>7}{'MFU 6N':>8}"
          f"{'tower %':>9}{'LM tok/step (pol+ref)':>23}  notes")
    base = {}
    for variant, r in results.items():
        if variant == "eval":
            continue
        s = summarize(variant, r, args.warmup)
        note = r.get("skipped") or r.get("error") or ""
        status = r.get("share_prefix_status")
        if status is not None and variant in ("shared", "vanilla") and not status.get("enabled"):
            note = (note + "; " if note else "") + f"share_prefix fell back to plain: {status.get('reason')}"
        if s is None:
            print(f"{VARIANTS[variant]:<32}{'-':>8}  {note or 'no step measured'}")
            continue
        base[variant] = s
        act = ""
        if r.get("peaks_gib") and r.get("weights_gib") is not None:
            act = f"{s['peak_gib'] - r['weights_gib']:.1f}"
        tower = f"{100 * s['tower_share']:.0f}%" if s["tower_share"] is not None else "-"
        peak = f"{s['peak_gib']:.1f}" if s["peak_gib"] is not None else "-"
        print(f"{VARIANTS[variant]:<32}{s['step_s']:>8.3f}{s['lm_tok_s']:>10.0f}{s['trained_tok_s']:>15.0f}{peak:>10}{act:>9}"
              f"{100 * s['mfu']:>6.1f}%{100 * s['mfu_6n']:>7.1f}%{tower:>9}{s['lm_tokens']:>23.0f}  {note}")
    print("peak GiB: torch.cuda.max_memory_allocated over the timed steps; act GiB: the same less the model's weights after building.\n"
          "LM tok/s: positions the language model processed (policy and reference forwards, padded) per second; trained tok/s: the\n"
          "sequences' tokens per second.\n"
          "MFU = [policy LM tokens x (4 N_lm + 2 N_trainable) + reference LM tokens x 2 N_lm + tower patches x 2 N_tower] / step s / 989e12\n"
          "    (= 6 x N_adj x tokens, N_adj = (4 N_lm + 2 N_trainable) / 6 per policy token: LoRA computes no gradients of the frozen\n"
          "    weights; attention FLOPs and gradient checkpointing's recomputation not counted).\n"
          "MFU 6N = (6 N_lm x policy LM tokens + 2 N_lm x reference LM tokens) / step s / 989e12.\n"
          "tower %: one frozen-tower pass over one video timed alone, times the passes the step ran, over the step time.")

    def ratio(a, b, key, text):
        if a in base and b in base and base[b][key]:
            print(f"  {text}: {base[a][key] / base[b][key]:.2f}x")

    print()
    ratio("shared", "plain", "step_s", "PanoDPO shared-prefix / plain, step time")
    ratio("shared", "plain", "lm_tokens", "PanoDPO shared-prefix / plain, language-model tokens")
    if "shared" in base and "plain" in base and base["plain"]["peak_gib"] and first and first.get("weights_gib") is not None:
        w = first["weights_gib"]
        print(f"  PanoDPO shared-prefix / plain, peak memory above the weights: "
              f"{(base['shared']['peak_gib'] - w) / max(base['plain']['peak_gib'] - w, 1e-9):.2f}x (goal <= 0.65x)")
    ratio("shared", "trl", "step_s", "PanoDPO shared-prefix / TRL DPOTrainer, step time")
    ratio("plain", "trl", "step_s", "PanoDPO plain / TRL DPOTrainer, step time")
    ratio("vanilla", "trl", "step_s", "vanilla DPO via PanoDPOTrainer / TRL DPOTrainer, step time (goal <= 0.6x)")
    e = results.get("eval", {})
    if "shared prefix" in e:
        print(f"\nevaluation protocol, likelihood scoring, {e['queries']} queries over {e['videos']} video(s) (3 items x 5 queries each), "
              f"median of {args.eval_repeats}")
        print(f"{'method':<34}{'queries/s':>11}{'items/s':>9}{'LM tok/s':>11}{'LM tokens':>11}")
        for name in ("shared prefix", "full forward per query"):
            if name in e:
                m = e[name]
                print(f"{name:<34}{m['queries_per_s']:>11.1f}{m['items_per_s']:>9.2f}{m['lm_tokens_per_s']:>11.0f}{m['lm_tokens']:>11.0f}")
        if "protocol_tokens_per_s" in e:
            print(f"  protocol tokens/s (the queries' full prompts, as if each ran in full, over the shared-prefix time): "
                  f"{e['protocol_tokens_per_s']:.0f}; speed-up {e['full forward per query']['seconds'] / e['shared prefix']['seconds']:.2f}x")
    elif "eval" in results:
        print(f"\nevaluation protocol: {e.get('skipped') or e.get('error') or 'not measured'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(DEFAULT_VARIANTS), help="what to run, in this order")
    parser.add_argument("--size", choices=list(SIZES), default="7b", help="model sizes (7b; --tiny: tiny)")
    parser.add_argument("--tiny", action="store_true", help="tiny model sizes (any device)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the whole pipeline on CPU: --tiny, --device cpu, 8 frames at 56px, 1 warm-up + 1 step, 1 eval video")
    parser.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    parser.add_argument("--frames", type=int, default=None, help="frames per video (32)")
    parser.add_argument("--frame-size", type=int, default=None, help="synthetic frames' side in pixels (224: 1,024 visual tokens at 32 frames)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (3)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up steps (1)")
    parser.add_argument("--eval-videos", type=int, default=None, help="videos of the eval check, 15 queries each (2)")
    parser.add_argument("--eval-repeats", type=int, default=None, help="timed repeats of the eval check (2)")
    parser.add_argument("--timeout", type=float, default=110, help="seconds per variant (110)")
    parser.add_argument("--budget", type=float, default=420, help="seconds for everything (420); a variant that would start with less "
                                                                  "than 40 s left is skipped")
    parser.add_argument("--json", default=None, help="write every result to this JSON file (default: $OUT/gpu_check.json when $OUT is set)")
    parser.add_argument("--verbose", action="store_true", help="print a failed variant's error output")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dry_run:
        args.tiny = True
        args.device = args.device or "cpu"
        defaults = dict(frames=8, frame_size=56, steps=1, eval_videos=1, eval_repeats=1)
    else:
        defaults = dict(frames=32, frame_size=224, steps=3, eval_videos=2, eval_repeats=2)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.tiny:
        args.size = "tiny"
    if args.device is None:
        try:
            import torch

            args.device = "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            args.device = "cpu"
    if args.worker:
        partial = Partial(args.result_file)
        result = eval_worker(args, partial) if args.worker == "eval" else train_worker(args.worker, args, partial)
        print(json.dumps(result, default=str))
        return 0
    if args.device == "cpu" and args.size == "7b":
        parser.error("the 7b model on CPU would take hours: use --tiny or --dry-run here, the 7b sizes on the GPU")
    start = time.perf_counter()
    results: dict[str, dict] = {}
    for variant in args.variants:
        left = args.budget - (time.perf_counter() - start)
        if left < 40:
            results[variant] = {"skipped": f"budget: {left:.0f} s left of {args.budget:.0f}"}
            print(f"  {VARIANTS[variant]}: skipped (budget)", file=sys.stderr, flush=True)
            continue
        results[variant] = run_variant(variant, args, min(args.timeout, left))
    report(results, args)
    out = args.json or (str(Path(os.environ["OUT"]) / "gpu_check.json") if os.environ.get("OUT") else None)
    if out:
        Path(out).write_text(json.dumps({"settings": vars(args), "results": results}, indent=1, default=str))
        print(f"\nresults: {out}")
    print(f"total {time.perf_counter() - start:.0f} s")
    measured = any(summarize(v, r, args.warmup) or "shared prefix" in r for v, r in results.items())
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
