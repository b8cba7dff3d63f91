"""The quickstart's training stage: a few PanoDPO steps on a tiny Qwen2-VL, offline."""

from __future__ import annotations

import json
import warnings
from pathlib import Path


def _stage(built_dir: Path, quickstart_dir: Path) -> str:
    return run_quickstart_training(quickstart_dir / "panodpo")


def run_quickstart_training(out_dir: str | Path, steps: int = 4) -> str:
    """Synthesize videos, prepare preference rows (template misleading questions), train ``steps`` PanoDPO
    steps with LoRA, save the adapter and its card; return a summary."""
    from temrobbench.source.synth import SYNTH_TASKS, SynthConfig, synthesize_coin
    from temrobbench.tiny_models import build_tiny_qwen2vl

    from panodpo.config import PanoDPOConfig
    from panodpo.data.prepare import prepare_dpo_data, prepared_split_files
    from panodpo.lora import default_lora_config
    from panodpo.trainer import PanoDPOTrainer

    warnings.filterwarnings("ignore")
    out = Path(out_dir)
    coin = synthesize_coin(out / "source", SynthConfig(num_videos=4, seed=1), progress=False)
    database = json.loads(coin.read_text())["database"]
    rows = []
    for video_id, entry in sorted(database.items()):
        steps_done = [a["label"] for a in entry["annotation"]]
        wrong = next(s for s in SYNTH_TASKS[[t[0] for t in SYNTH_TASKS].index(entry["class"])][2] if s != steps_done[0])
        rows.append({"id": video_id, "video": f"{entry['recipe_type']}/{video_id}.mp4", "prompt": "<video>\nWhat is the first step shown in the video?",
                     "chosen": f"The first step is {steps_done[0]}.", "rejected": f"The first step is {wrong}."})
    source = out / "dpo.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    prepare_dpo_data(source, out / "source" / "videos", out / "data", progress=False)

    import datasets

    dataset = datasets.load_dataset("parquet", data_files=[str(p) for p in prepared_split_files(out / "data")], split="train")
    model, processor = build_tiny_qwen2vl()
    args = PanoDPOConfig(output_dir=str(out / "adapter"), max_steps=steps, per_device_train_batch_size=2, logging_steps=1, report_to=[],
                         num_frames=4, gradient_checkpointing=False, save_strategy="no", learning_rate=1e-2, disable_tqdm=True)
    trainer = PanoDPOTrainer(model, args=args, train_dataset=dataset, processing_class=processor, peft_config=default_lora_config(model, r=4, alpha=8),
                             dataset_name=str(out / "data"))
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the summary below shows the per-term metrics
    trainer.train()
    trainer.save_model(args.output_dir)  # the adapter and its card (README.md)
    logs = [e for e in trainer.state.log_history if "loss" in e]
    lines = [f"PanoDPO, {steps} steps on a tiny random Qwen2-VL (LoRA + projector), {len(dataset)} preference rows:",
             "step  loss    dpo/margin  dpov/margin  dpot/margin"]
    for i, e in enumerate(logs, start=1):
        lines.append(f"{i:>4}  {e['loss']:.4f}  {e['dpo/reward_margin']:+.4f}     {e['dpov/reward_margin']:+.4f}      {e['dpot/reward_margin']:+.4f}")
    lines.append(f"Preference data: {out / 'data'}; adapter and model card: {args.output_dir} (README.md)")
    return "\n".join(lines)


def _quickstart_stage():
    from temrobbench.cli.commands.quickstart import QuickstartStage

    return QuickstartStage("PanoDPO training steps", _stage, requires=("trl", "peft", "accelerate"), extra="train", skip_flag="skip_train")


#: ``temrobbench quickstart``'s training stage (the ``temrobbench.quickstart_stages`` entry point).
STAGE = _quickstart_stage()
