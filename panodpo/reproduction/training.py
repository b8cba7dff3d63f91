"""Training of the mini reproduction: SFT from scratch, then preference training with PanoDPOTrainer."""

from __future__ import annotations

import copy
import random
from dataclasses import fields
from pathlib import Path
from typing import Any


def build_model(config):
    """The tiny Qwen2-VL of the reproduction (hidden 64, 2 layers, vision depth 2, ~0.34M parameters)."""
    from temrobbench.tiny_models import build_tiny_qwen2vl

    return build_tiny_qwen2vl(hidden_size=config.hidden_size, num_layers=2, vision_depth=2, vision_dim=64, frame_size=56, seed=config.seed)


def sft_model(config, examples: list[dict], log: list, cache: Path | None = None):
    """The SFT model of one seed and world; with ``cache``, trained once and read back after that."""
    import torch

    model, processor = build_model(config)
    if cache is not None and cache.exists():
        model.load_state_dict(torch.load(cache, map_location="cpu", weights_only=True))
        model.eval()
        log.append({"stage": "sft", "loaded": str(cache)})
        return model, processor
    train_sft(model, processor, examples, config, log)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial")
        torch.save(model.state_dict(), partial)
        partial.replace(cache)
    return model, processor


def train_sft(model, processor, examples: list[dict], config, log: list) -> None:
    """Plain supervised fine-tuning on the answers (loss on answer tokens only)."""
    import torch

    from temrobbench.processor_inputs import adds_special_tokens, chat_prompt, video_kwargs
    from temrobbench.prompt import video_chat_messages

    from panodpo.media import load_frames

    frames = {}
    encoded = []
    for example in examples:
        if example["video"] not in frames:  # a path: every question of a video shares its frames
            frames[example["video"]] = load_frames(example["video"], config.frames)
        # The evaluation adapter's prompt (messages, template switches, special tokens, frame timing).
        prompt = chat_prompt(processor, video_chat_messages(example["question"]))
        full = prompt + example["answer"] + processor.tokenizer.eos_token
        video = video_kwargs([frames[example["video"]]], processor)
        special = adds_special_tokens(processor.tokenizer, prompt)
        inputs = processor(text=[full], return_tensors="pt", add_special_tokens=special, **video)
        prompt_length = processor(text=[prompt], return_tensors="pt", add_special_tokens=special, **video)["input_ids"].shape[1]
        labels = inputs["input_ids"].clone()
        labels[:, :prompt_length] = -100
        encoded.append((inputs, labels))
    pad = processor.tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.sft_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 30))
    rng = random.Random(f"mini-repro-sft:{config.seed}")
    model.train()
    for step in range(config.sft_steps):
        batch = [encoded[rng.randrange(len(encoded))] for _ in range(config.sft_batch)]
        length = max(b[0]["input_ids"].shape[1] for b in batch)
        ids = torch.full((len(batch), length), pad)
        labels = torch.full((len(batch), length), -100)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        mm = torch.zeros((len(batch), length), dtype=torch.long)
        for row, (inputs, lab) in enumerate(batch):
            n = inputs["input_ids"].shape[1]
            ids[row, :n], labels[row, :n], mask[row, :n], mm[row, :n] = inputs["input_ids"][0], lab[0], 1, inputs["mm_token_type_ids"][0]
        out = model(input_ids=ids, attention_mask=mask, mm_token_type_ids=mm, labels=labels,
                    pixel_values_videos=torch.cat([b[0]["pixel_values_videos"] for b in batch]),
                    video_grid_thw=torch.cat([b[0]["video_grid_thw"] for b in batch]))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 100 == 0 or step == config.sft_steps - 1:
            log.append({"stage": "sft", "step": step, "loss": out.loss.item()})
    model.eval()


def variant_overrides(variant: tuple[float, float, str] | dict[str, Any]) -> dict[str, Any]:
    """The ``PanoDPOConfig`` fields a preference row sets: a dict is that already; an in-format
    variant tuple (lambda_v, lambda_t, rejected-video strategy) names three of them.

    >>> variant_overrides((0.0, 1.0, "shuffle"))
    {'video_loss_weight': 0.0, 'text_loss_weight': 1.0, 'rejected_video_strategy': 'shuffle'}
    """
    if isinstance(variant, dict):
        return dict(variant)
    return {"video_loss_weight": variant[0], "text_loss_weight": variant[1], "rejected_video_strategy": variant[2]}


def preference_args(config, variant: tuple[float, float, str] | dict[str, Any], out_dir: Path):
    """The run's shared preference settings with the row's ``PanoDPOConfig`` overrides on top."""
    from panodpo import PanoDPOConfig

    settings = dict(
        output_dir=str(out_dir), max_steps=config.pref_steps, per_device_train_batch_size=config.pref_batch, learning_rate=config.pref_lr,
        beta=config.beta, num_frames=config.frames, rejected_video_strategy=config.rejected_video_strategy, num_video_segments=5,
        frame_cache_size=4096, precompute_ref_log_probs=True, gradient_checkpointing=False, report_to=[], save_strategy="no", logging_steps=50,
        disable_tqdm=True, seed=config.seed, warmup_ratio=0.1, lr_scheduler_type="cosine", disable_dropout=True,
    )
    overrides = variant_overrides(variant)
    known = {f.name for f in fields(PanoDPOConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"preference row overrides {', '.join(unknown)}: not PanoDPOConfig fields")
    return PanoDPOConfig(**{**settings, **overrides})


def train_preference(sft_model, processor, rows, variant: tuple[float, float, str] | dict[str, Any], config, out_dir: Path, log: list):
    """A copy of the SFT model trained with PanoDPOTrainer on ``rows`` (a list of dicts or a
    ``datasets.Dataset``): ``variant`` = (lambda_v, lambda_t, rejected-video strategy), or a dict
    of ``PanoDPOConfig`` overrides."""
    from datasets import Dataset

    from panodpo import PanoDPOTrainer

    model = copy.deepcopy(sft_model)
    args = preference_args(config, variant, out_dir)
    dataset = rows if isinstance(rows, Dataset) else Dataset.from_list(rows)
    trainer = PanoDPOTrainer(model, args=args, train_dataset=dataset, processing_class=processor)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer.train()
    for entry in trainer.state.log_history:  # every logging step's, and the run's mean loss (train_loss)
        if "loss" in entry or "train_loss" in entry:
            log.append({"stage": str(variant), **{k: v for k, v in entry.items() if isinstance(v, (int, float))}})
    return trainer.model.eval()
