"""``panodpo`` command line: prepare, train, quickstart.

Each command validates its inputs first (cheap: no torch, no TRL) and imports the heavy parts after,
so a bad invocation fails in a second with one line (README "Failures", ``temrobbench.cli.contract``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from temrobbench.utils.errors import EXIT_RUNTIME, UserError, require_extra
from temrobbench.cli.contract import CliParser, run_cli
from temrobbench.cli.checks import (
    at_least,
    check_output_dir,
    existing_dir,
    existing_file,
    find_media,
    most_common_cause,
    no_empty_folder_left,
)
from temrobbench.utils.files import MEDIA_EXTENSIONS
from temrobbench.utils.hub_checks import check_local_or_hub, check_model_source, check_server

TRAIN_EXTRA = ("trl", "peft", "accelerate")
# Files that mark a folder as a command's own earlier output (resumed, not refused).
PREPARE_MARKERS = (".prepare", "prepare_report.json")
TRAIN_MARKERS = ("adapter_config.json", "checkpoint-*", "trainer_state.json", "training_args.bin", "model.safetensors")
QUICKSTART_MARKERS = ("dpo.jsonl", "data/prepare_report.json", "source/COIN.json")
# The usable contents of a --media folder: video files, or folders of frame images.


# ----------------------------------------------------------------------------------------------
# prepare
# ----------------------------------------------------------------------------------------------


def _prepare_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="panodpo prepare", description="ShareGPTVideo-DPO rows -> PanoDPO preference data (Hub layout), resumable")
    p.add_argument("--dpo-jsonl", required=True, help="rows with id, video, prompt, chosen, rejected (+ answer, scores)")
    p.add_argument("--media", required=True, help="folder the rows' video paths are relative to (video files or frame folders)")
    p.add_argument("--out", required=True, help="output folder; an earlier prepare there is resumed")
    p.add_argument("--perturber", choices=("template", "openai"), default="template", help="how misleading questions are made")
    p.add_argument("--openai-model", default="gpt-4o-mini", help="chat model that writes the misleading questions (--perturber openai)")
    p.add_argument("--base-url", default=None, help="an OpenAI-compatible server (vLLM, SGLang); the key comes from OPENAI_API_KEY")
    p.add_argument("--max-concurrency", type=int, default=8, help="requests in flight at once (--perturber openai)")
    p.add_argument("--captions", default=None, help="jsonl of {id, caption} given to the chat model (--perturber openai)")
    p.add_argument("--materialize-rejected-videos", action="store_true", help="also write the rejected videos as files")
    from panodpo.rejected_videos import STRATEGIES, RejectedVideoSettings

    defaults = RejectedVideoSettings()  # the training config's defaults and choices, from one definition
    p.add_argument("--rejected-video-strategy", choices=STRATEGIES, default=defaults.strategy, help="how the rejected video is made")
    p.add_argument("--crop-area-ratio", type=float, default=defaults.crop_area_ratio, help="share of each frame's area the crop strategy removes")
    p.add_argument("--blank-frame-ratio", type=float, default=defaults.blank_frame_ratio, help="share of frames the replace strategy blanks")
    p.add_argument("--num-video-segments", type=int, default=defaults.num_segments, help="segments shuffle_segments / swap_segments reorder")
    p.add_argument("--num-frames", type=int, default=8, help="frames sampled per video for rejected videos")
    p.add_argument("--seed", type=int, default=0, help="fixes the rejected videos")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that is not an earlier prepare")
    return p


def _rejected_video_settings(args: argparse.Namespace) -> Any:
    from panodpo.rejected_videos import RejectedVideoSettings

    try:
        return RejectedVideoSettings(args.rejected_video_strategy, args.crop_area_ratio, args.blank_frame_ratio, args.num_video_segments)
    except ValueError as err:
        raise UserError(str(err), "--crop-area-ratio / --blank-frame-ratio / --num-video-segments", "give a value in range") from None


def _validate_prepare(args: argparse.Namespace) -> None:
    _rejected_video_settings(args)
    at_least(args.max_concurrency, 1, "--max-concurrency")
    at_least(args.num_frames, 1, "--num-frames")
    existing_file(args.dpo_jsonl, "--dpo-jsonl", "give the ShareGPTVideo-DPO jsonl file")
    media = existing_dir(args.media, "--media", "give the folder the rows' video paths are relative to")
    if find_media(media, MEDIA_EXTENSIONS) is None:
        raise UserError("holds no video file or frame image", f"--media {media}", "give the folder the rows' video paths are relative to")
    if args.captions:
        existing_file(args.captions, "--captions", "give a jsonl of {id, caption}, or leave --captions out")
    check_output_dir(args.out, "--out", PREPARE_MARKERS, args.overwrite, "panodpo prepare")
    if args.perturber == "openai":
        require_extra(["openai"], "--perturber openai")
        if args.base_url:
            check_server(args.base_url, "--base-url")
        elif not os.environ.get("OPENAI_API_KEY"):
            raise UserError("no API key: OPENAI_API_KEY is not set", "--perturber openai", "export OPENAI_API_KEY, or give --base-url of a local server, or use --perturber template")


def _read_captions(path: str) -> dict[str, str]:
    captions = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                captions[str(entry["id"])] = entry["caption"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise UserError(f"not a {{id, caption}} json line ({type(err).__name__})", f"--captions {path} line {number}", "fix the line") from None
    return captions


def _prepare(argv: Sequence[str]) -> int:
    args = _prepare_parser().parse_args(argv)
    _validate_prepare(args)
    captions = _read_captions(args.captions) if args.captions else {}
    from panodpo.data.misleading_questions import MisleadingQuestionsUnusable
    from panodpo.data.prepare import PrepareConfig, prepare_dpo_data

    rejected_video = _rejected_video_settings(args)

    config = PrepareConfig(perturber=args.perturber, openai_model=args.openai_model, base_url=args.base_url, max_concurrency=args.max_concurrency,
                           materialize_rejected_videos=args.materialize_rejected_videos, rejected_video=rejected_video, num_frames=args.num_frames,
                           seed=args.seed)
    try:
        with no_empty_folder_left(args.out):
            report = prepare_dpo_data(args.dpo_jsonl, args.media, args.out, config, captions)
    except MisleadingQuestionsUnusable as err:
        raise UserError(str(err), f"--perturber openai --openai-model {args.openai_model}", "rows finished so far are kept; rerun after fixing") from None
    report_path = Path(args.out) / "prepare_report.json"
    if report["num_rows_prepared"] == 0:
        cause = most_common_cause(f"{p['reason']}: {p['message']}" if p.get("message") else p["reason"] for p in report["skipped_rows"])
        why = f"most common cause: {cause[0]} ({cause[1]} of {cause[2]} rows)" if cause else "the file has no rows"
        raise UserError(f"prepared 0 rows; {why}", f"--dpo-jsonl {args.dpo_jsonl}", f"see {report_path}", EXIT_RUNTIME)
    print(f"Prepared {report['num_rows_prepared']} rows into {args.out}" + (f"; skipped {report['skipped']}" if report["skipped"] else ""))
    print(f"Report: {report_path}. Upload: temrobbench push {args.out} --repo-id ORG/NAME")
    return 0


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------


@dataclass
class TrainArguments:
    model: str = field(metadata={"help": "Hub id or path of the video LMM (any AutoModelForImageTextToText)."})
    data: str = field(metadata={"help": "Prepared data: a folder from `panodpo prepare` or a hub dataset id."})
    media_root: str | None = field(default=None, metadata={"help": "Folder relative video paths are under (data with path columns)."})
    split: str = field(default="train", metadata={"help": "Split of --data to train on."})
    use_lora: bool = field(default=True, metadata={"help": "LoRA on the language model + trained projector (the paper's setup); False: full fine-tuning, vision tower frozen."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    dtype: str = field(default="auto", metadata={"help": "Model dtype: auto, bfloat16, float16, float32."})
    overwrite: bool = field(default=False, metadata={"help": "Write into a non-empty --output_dir that is not an earlier training run."})


def _train_paths(argv: Sequence[str]) -> argparse.Namespace:
    """The path flags, read before anything heavy is imported, to validate them in a second."""
    p = CliParser(prog="panodpo train", add_help=False)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--output_dir", "--output-dir", required=True)
    p.add_argument("--media_root", "--media-root", default=None)
    p.add_argument("--split", default="train")
    p.add_argument("--overwrite", nargs="?", const="true", default="false")
    return p.parse_known_args(list(argv))[0]


def _preference_data_problem(split: str):
    required = {"video", "prompt", "chosen", "rejected"}

    def problem(folder: Path) -> tuple[str, str] | None:
        from panodpo.data.prepare import prepared_split_files

        files = prepared_split_files(folder, split)
        hint = "make it with `panodpo prepare --dpo-jsonl FILE --media DIR --out DIR`"
        if not files:
            return f"not prepared preference data (no data/{split}-*.parquet)", hint
        import pyarrow.parquet as pq

        try:
            missing = required - set(pq.read_schema(files[0]).names)
        except Exception as err:  # noqa: BLE001 - a torn or foreign file
            return f"unreadable Parquet file {files[0].name} ({type(err).__name__})", hint
        if missing:
            return f"not prepared preference data (no column {', '.join(sorted(missing))} in {files[0].name})", hint
        return None

    return problem


def _validate_train(paths: argparse.Namespace) -> None:
    check_model_source(paths.model, f"--model {paths.model}")
    check_local_or_hub(paths.data, f"--data {paths.data}", "dataset", _preference_data_problem(paths.split))
    if paths.media_root:
        existing_dir(paths.media_root, "--media_root", "give the folder relative video paths are under")
    overwrite = str(paths.overwrite).lower() in ("true", "1", "yes")
    check_output_dir(paths.output_dir, "--output_dir", TRAIN_MARKERS, overwrite, "panodpo train")
    require_extra(TRAIN_EXTRA, "panodpo train")


def _own_fields(cls) -> list[str]:
    """Fields ``cls`` declares itself (PanoDPO's, and the DPO defaults it changes)."""
    return list(vars(cls).get("__annotations__", {}))


def _short_train_help() -> str:
    """PanoDPO's own flags with their defaults; the full TRL/Trainer list is behind --help-all."""
    lines = ["usage: panodpo train --model ID|PATH --data DIR|ORG/NAME --output_dir DIR [flags]", "",
             "Train a PanoDPO adapter. Its own flags first; every DPOConfig / TrainingArguments flag works too:",
             "`panodpo train --help-all` lists them all.", ""]
    groups = [("data and model", TrainArguments, [f.name for f in fields(TrainArguments)])]
    try:
        from panodpo.config import PanoDPOConfig

        groups.append(("PanoDPO (and the DPO defaults it changes)", PanoDPOConfig, _own_fields(PanoDPOConfig)))
    except ImportError:
        lines.append("(PanoDPOConfig flags: pip install 'temrobbench[train]' to list them)")
    for title, cls, names in groups:
        lines.append(f"{title}:")
        by_name = {f.name: f for f in fields(cls)}
        for name in names:
            f = by_name[name]
            help_text = f.metadata.get("help", "")
            lines.append(f"  --{name} ({_default_text(f)})  {help_text}")
        lines.append("")
    return "\n".join(lines)


def _default_text(f) -> str:
    if f.default is not MISSING:
        return f"default: {f.default}"
    if f.default_factory is not MISSING:
        return f"default: {f.default_factory()}"
    return "required"


def _train(argv: Sequence[str]) -> int:
    argv = list(argv)
    if "--help-all" in argv:
        argv = ["--help"]
    elif "-h" in argv or "--help" in argv:
        print(_short_train_help())
        return 0
    paths = _train_paths(argv)
    _validate_train(paths)

    from transformers import AutoModelForImageTextToText, AutoProcessor, HfArgumentParser

    from temrobbench.cli.contract import one_line_errors

    from panodpo.config import PanoDPOConfig
    from panodpo.lora import default_lora_config
    from panodpo.trainer import PanoDPOTrainer

    parser = one_line_errors(HfArgumentParser((TrainArguments, PanoDPOConfig), prog="panodpo train",
                                              description="Train a PanoDPO adapter: every PanoDPOConfig / DPOConfig / TrainingArguments field is a flag."))
    script, config = parser.parse_args_into_dataclasses(args=argv)
    import datasets

    with no_empty_folder_left(config.output_dir):
        if Path(script.data).is_dir():
            from panodpo.data.prepare import prepared_split_files

            # A local folder: its shards, whatever the folder's card says.
            files = [str(p) for p in prepared_split_files(script.data, script.split)]
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


# ----------------------------------------------------------------------------------------------
# quickstart
# ----------------------------------------------------------------------------------------------


def _quickstart(argv: Sequence[str]) -> int:
    p = CliParser(prog="panodpo quickstart", description="a few PanoDPO steps on a tiny offline model")
    p.add_argument("--out", default="panodpo-quickstart", help="working folder")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that is not an earlier quickstart")
    args = p.parse_args(argv)
    check_output_dir(args.out, "--out", QUICKSTART_MARKERS, args.overwrite, "panodpo quickstart")
    require_extra(TRAIN_EXTRA, "panodpo quickstart")
    from panodpo.quickstart import run_quickstart_training

    with no_empty_folder_left(args.out):
        print(run_quickstart_training(args.out))
    return 0


COMMANDS = {
    "prepare": (_prepare, "ShareGPTVideo-DPO rows -> preference data with misleading questions (resumable)"),
    "train": (_train, "train a PanoDPO adapter on prepared data (every DPOConfig flag works)"),
    "quickstart": (_quickstart, "a few PanoDPO steps on a tiny offline model"),
}


def _usage() -> str:
    lines = ["usage: panodpo COMMAND [flags]   (panodpo COMMAND --help for its flags and defaults)", "", "commands:"]
    lines += [f"  {name:<11} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Failures print one line and exit 2 (fix the invocation) or 1 (the run failed); --debug (or TEMROBBENCH_DEBUG=1) shows tracebacks."]
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(_usage())
        return 0
    if not argv:
        raise UserError("no command given", "panodpo", f"give one of {', '.join(COMMANDS)} (panodpo --help)")
    if argv[0] not in COMMANDS:
        raise UserError(f"unknown command {argv[0]!r}", "panodpo", f"give one of {', '.join(COMMANDS)} (panodpo --help)")
    return COMMANDS[argv[0]][0](argv[1:])


def main(argv: Sequence[str] | None = None) -> int:
    """The ``panodpo`` console script: returns the exit status (README "Failures")."""
    return run_cli(_main, argv, "panodpo")


if __name__ == "__main__":
    sys.exit(main())
