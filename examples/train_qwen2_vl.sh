#!/usr/bin/env bash
# PanoDPO on Qwen2-VL-7B-Instruct (or Qwen/Qwen2-VL-2B-Instruct on one GPU), FSDP on 8 GPUs.
# Ablations are configurations: --video_loss_weight 0 (w/o DPOv), --text_loss_weight 0 (w/o DPOt),
# both 0 (vanilla DPO); --rejected_video_strategy crop|replace for the rejected-video ablation.
set -euo pipefail

accelerate launch --config_file examples/accelerate/fsdp.yaml -m panodpo.cli train \
  --model Qwen/Qwen2-VL-7B-Instruct \
  --data data/sharegptvideo-panodpo \
  --output_dir runs/qwen2-vl-7b-panodpo \
  --num_frames 16 \
  --beta 0.1 --learning_rate 1e-5 --num_train_epochs 3 --lr_scheduler_type cosine --warmup_ratio 0.1 \
  --per_device_train_batch_size 2 --gradient_accumulation_steps 4 \
  --precompute_ref_log_probs true \
  --bf16 true --gradient_checkpointing true --report_to tensorboard

# Then measure the effect on TemRobBench (merge the adapter first, or evaluate the base model to compare):
#   temrobbench eval --data ORG/temrobbench --model hf:runs/qwen2-vl-7b-panodpo-merged --out results/qwen2-vl-7b-panodpo
