#!/usr/bin/env bash
# Evaluate several models on TemRobBench; each run resumes if interrupted.
set -euo pipefail
DATA=${DATA:-ORG/temrobbench}

temrobbench eval --data "$DATA" --model hf:Qwen/Qwen2-VL-7B-Instruct --out results/qwen2-vl-7b --scoring likelihood
temrobbench eval --data "$DATA" --model hf:Qwen/Qwen2-VL-7B-Instruct --out results/qwen2-vl-7b-prompt --trust-video-prompt
temrobbench eval --data "$DATA" --model blind:hf:Qwen/Qwen2-VL-7B-Instruct --out results/qwen2-vl-7b-blind  # blind: no video is shown, whatever --frames says
temrobbench eval --data "$DATA" --model hf:llava-hf/llava-onevision-qwen2-7b-ov-hf --out results/llava-ov-7b

# GPT-4o (OPENAI_API_KEY from the environment), or any model served by vLLM:
temrobbench eval --data "$DATA" --model openai:gpt-4o --out results/gpt-4o
#   vllm serve Qwen/Qwen2-VL-72B-Instruct --tensor-parallel-size 8 --port 8000 &
#   temrobbench eval --data "$DATA" --model openai:Qwen/Qwen2-VL-72B-Instruct@http://localhost:8000/v1 --out results/qwen2-vl-72b

# hf: models sharded over 8 GPUs (each rank takes every 8th video; rank 0 merges):
#   accelerate launch --num_processes 8 -m temrobbench.cli eval --data "$DATA" --model hf:Qwen/Qwen2-VL-7B-Instruct --out results/qwen2-vl-7b
