"""``panodpo`` command line: prepare, train, quickstart."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence


def _prepare(argv: Sequence[str]) -> int:
    from .data.prepare import PrepareConfig, prepare_dpo_data

    p = argparse.ArgumentParser(prog="panodpo prepare", description="ShareGPTVideo-DPO rows -> PanoDPO preference data (Hub layout), resumable")
    p.add_argument("--dpo-jsonl", required=True, help="rows with id, video, prompt, chosen, rejected (+ answer, scores)")
    p.add_argument("--media", required=True, help="folder the rows' video paths are relative to (video files or frame folders)")
    p.add_argument("--out", required=True)
    p.add_argument("--perturber", choices=("template", "openai"), default="template", help="how misleading questions are made")
    p.add_argument("--openai-model", default="gpt-4o-mini")
    p.add_argument("--base-url", default=None, help="an OpenAI-compatible server (vLLM, SGLang); the key comes from OPENAI_API_KEY")
    p.add_argument("--max-concurrency", type=int, default=8)
    p.add_argument("--captions", default=None, help="jsonl of {id, caption} given to the openai perturber")
    p.add_argument("--materialize-rejected-videos", action="store_true", help="also write the rejected videos as files")
    p.add_argument("--rejected-video-strategy", choices=("shuffle", "crop", "replace"), default="shuffle")
    p.add_argument("--num-frames", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    captions = {}
    if args.captions:
        with open(args.captions, encoding="utf-8") as f:
            captions = {str(e["id"]): e["caption"] for e in map(json.loads, filter(str.strip, f))}
    config = PrepareConfig(perturber=args.perturber, openai_model=args.openai_model, base_url=args.base_url, max_concurrency=args.max_concurrency,
                           materialize_rejected_videos=args.materialize_rejected_videos, rejected_video_strategy=args.rejected_video_strategy,
                           num_frames=args.num_frames, seed=args.seed)
    try:
        report = prepare_dpo_data(args.dpo_jsonl, args.media, args.out, config, captions)
    except (RuntimeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Prepared {report['num_rows_prepared']} rows into {args.out}" + (f"; skipped {report['skipped']}" if report["skipped"] else ""))
    print(f"Report: {Path(args.out) / 'prepare_report.json'}. Upload: temrobbench push {args.out} --repo-id ORG/NAME")
    return 0


@dataclass
class TrainArguments:
    model: str = field(metadata={"help": "Hub id or path of the video LMM (any AutoModelForImageTextToText)."})
    data: str = field(metadata={"help": "Prepared data: a folder from `panodpo prepare` or a hub dataset id."})
    media_root: str | None = field(default=None, metadata={"help": "Folder relative video paths are under (data with path columns)."})
    split: str = field(default="train")
    use_lora: bool = field(default=True, metadata={"help": "LoRA on the language model + trained projector (the paper's setup); False: full fine-tuning, vision tower frozen."})
    lora_r: int = field(default=16)
    lora_alpha: int = field(default=32)
    lora_dropout: float = field(default=0.05)
    dtype: str = field(default="auto", metadata={"help": "Model dtype: auto, bfloat16, float16, float32."})


def _train(argv: Sequence[str]) -> int:
    from transformers import AutoModelForImageTextToText, AutoProcessor, HfArgumentParser

    from .config import PanoDPOConfig
    from .lora import default_lora_config
    from .trainer import PanoDPOTrainer

    parser = HfArgumentParser((TrainArguments, PanoDPOConfig), prog="panodpo train",
                              description="Train a PanoDPO adapter: every PanoDPOConfig / DPOConfig / TrainingArguments field is a flag.")
    script, config = parser.parse_args_into_dataclasses(args=list(argv))
    import datasets

    if Path(script.data).is_dir():
        # A local folder is read directly: datasets caches local folders by name only.
        files = sorted(str(p) for p in (Path(script.data) / "data").glob(f"{script.split}-*.parquet"))
        dataset = datasets.load_dataset("parquet", data_files=files, split="train")
    else:
        dataset = datasets.load_dataset(script.data, split=script.split)
    processor = AutoProcessor.from_pretrained(script.model)
    model = AutoModelForImageTextToText.from_pretrained(script.model, dtype=script.dtype)
    peft_config = default_lora_config(model, script.lora_r, script.lora_alpha, script.lora_dropout) if script.use_lora else None
    trainer = PanoDPOTrainer(model, args=config, train_dataset=dataset, processing_class=processor, peft_config=peft_config, media_root=script.media_root,
                             dataset_name=script.data)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    trainer.save_model(config.output_dir)  # the adapter and its card (README.md); pushed too with --push_to_hub
    print(f"Adapter and model card: {config.output_dir}")
    return 0


def _quickstart(argv: Sequence[str]) -> int:
    from .quickstart import run_quickstart_training

    p = argparse.ArgumentParser(prog="panodpo quickstart", description="a few PanoDPO steps on a tiny offline model")
    p.add_argument("--out", default="panodpo-quickstart")
    print(run_quickstart_training(p.parse_args(argv).out))
    return 0


COMMANDS = {"prepare": _prepare, "train": _train, "quickstart": _quickstart}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: panodpo {prepare,train,quickstart} ...  (panodpo COMMAND --help for its flags)", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
