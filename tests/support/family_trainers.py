"""A two-example preference dataset and a one-step PanoDPOTrainer on any tiny family: the set-up
the shared-encoding and shared-prefix tests compare their fast path with the plain path on."""

from __future__ import annotations

from datasets import Dataset

from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
from tests.support.tiny_families import build_tiny


def two_examples(benchmark) -> Dataset:
    """Two rows over the first two clean videos of a built benchmark (responses of different lengths)."""
    videos = sorted(str(p) for p in (benchmark / "videos").glob("*/clean.mp4"))[:2]
    return Dataset.from_list([
        {"id": f"ex{i}", "video": v, "prompt": "<video>\nWhich step comes first?", "chosen": "cut bread" + " now" * i, "rejected": "add ham",
         "rejected_prompt": "The video opens with adding ham. Which step comes first?"}
        for i, v in enumerate(videos)
    ])


def make_family_trainer(family: str, dataset: Dataset, tmp_path, **overrides) -> PanoDPOTrainer:
    """One step, batch 2, 4 frames, LoRA r=4 without dropout; ``overrides`` are PanoDPOConfig fields."""
    model, processor = build_tiny(family, seed=1)
    settings = dict(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, report_to=[], num_frames=4, gradient_checkpointing=False,
                    save_strategy="no", learning_rate=5e-2, warmup_ratio=0.0, seed=0, rejected_video_strategy="shuffle")
    settings.update(overrides)
    return PanoDPOTrainer(model, args=PanoDPOConfig(**settings), train_dataset=dataset, processing_class=processor,
                          peft_config=default_lora_config(model, r=4, alpha=8, dropout=0.0))
