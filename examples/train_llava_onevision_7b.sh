#!/usr/bin/env bash
# PanoDPO on LLaVA-OneVision-7B with the paper's settings (beta 0.1, lr 1e-5, 3 epochs, batch 64,
# cosine, warm-up 0.1), LoRA on the language model + trained projector, 8 GPUs with DeepSpeed ZeRO-3.
# Data: ShareGPTVideo's DPO rows and frames (https://huggingface.co/datasets/ShareGPTVideo/train_video_and_instruction).
set -euo pipefail

# 1. Misleading questions (q') with an OpenAI-compatible model; the key comes from OPENAI_API_KEY.
panodpo prepare \
  --dpo-jsonl sft_dpo_17k.jsonl \
  --media train_300k \
  --out data/sharegptvideo-panodpo \
  --perturber openai --openai-model gpt-4o-mini

# 2. Train. Every PanoDPOConfig / DPOConfig / TrainingArguments field is a flag.
accelerate launch --config_file examples/accelerate/deepspeed_zero3.yaml -m panodpo.cli train \
  --model llava-hf/llava-onevision-qwen2-7b-ov-hf \
  --data data/sharegptvideo-panodpo \
  --output_dir runs/llava-onevision-7b-panodpo \
  --num_frames 16 \
  --video_loss_weight 1.0 --text_loss_weight 1.0 --rejected_video_strategy shuffle \
  --beta 0.1 --learning_rate 1e-5 --num_train_epochs 3 --lr_scheduler_type cosine --warmup_ratio 0.1 \
  --per_device_train_batch_size 2 --gradient_accumulation_steps 4 \
  --bf16 true --gradient_checkpointing true \
  --logging_steps 10 --save_steps 500 --report_to tensorboard \
  --push_to_hub true --hub_model_id ORG/llava-onevision-7b-panodpo
