"""``panodpo`` command line: prepare, train, quickstart.

Each command validates its inputs first (cheap: no torch, no TRL) and imports the heavy parts after,
so a bad invocation fails in a second with one line (docs/cli.md, "The contract"; ``temrobbench.cli.contract``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from temrobbench.utils.errors import EXIT_RUNTIME, UserError, require_extra
from temrobbench.cli.contract import CliParser, run_cli
from temrobbench.cli.checks import at_least, check_output_dir, existing_dir, existing_file, find_media, most_common_cause, no_empty_folder_left
from temrobbench.utils.files import MEDIA_EXTENSIONS
from temrobbench.utils.hub_checks import check_local_or_hub, check_model_source, check_server

from panodpo.presets import PRESETS, preset_argv

TRAIN_EXTRA = ("trl", "peft", "accelerate")
# Files that mark a folder as a command's own earlier output (resumed, not refused).
PREPARE_MARKERS = (".prepare", "prepare_report.json")
TRAIN_MARKERS = ("adapter_config.json", "checkpoint-*", "trainer_state.json", "training_args.bin", "model.safetensors", "panodpo_run.json")
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
    p.add_argument("--openai-model", default="gpt-4o", help="chat model that writes the misleading questions (--perturber openai; the paper's GPT-4o)")
    p.add_argument("--base-url", default=None, help="an OpenAI-compatible server (vLLM, SGLang); the key comes from OPENAI_API_KEY")
    p.add_argument("--max-concurrency", type=int, default=8, help="requests in flight at once (--perturber openai)")
    p.add_argument("--captions", default=None, help="jsonl of {id, caption} given to the chat model (--perturber openai); "
                                                    "those rows' videos are not captioned")
    p.add_argument("--captioner", default=None,
                   help="video LMM that captions each distinct video first (--perturber openai): hf:<id-or-path>, openai:<model>[@base_url], "
                        "or none; default: the --openai-model at --base-url")
    from panodpo.data.captions import CAPTION_FRAMES

    p.add_argument("--caption-frames", type=int, default=CAPTION_FRAMES, help="frames sampled uniformly per video for its caption")
    p.add_argument("--materialize-rejected-videos", action="store_true", help="also write the rejected videos as files")
    from panodpo.rejected_videos import STRATEGIES, RejectedVideoSettings

    defaults = RejectedVideoSettings()  # the training config's defaults and choices, from one definition
    p.add_argument("--rejected-video-strategy", choices=STRATEGIES, default=defaults.strategy, help="how the rejected video is made")
    p.add_argument("--crop-area-ratio", type=float, default=defaults.crop_area_ratio, help="share of each frame's area the crop strategy removes")
    p.add_argument("--blank-frame-ratio", type=float, default=defaults.blank_frame_ratio, help="share of frames the replace strategy blanks")
    p.add_argument("--num-video-segments", type=int, default=defaults.num_segments, help="segments shuffle_segments / swap_segments reorder")
    p.add_argument("--num-frames", type=int, default=8, help="frames sampled per video for rejected videos")
    p.add_argument("--seed", type=int, default=0, help="fixes the rejected videos")
    from panodpo.media import DEFAULT_FRAMES_FPS

    p.add_argument("--frames-fps", type=float, default=DEFAULT_FRAMES_FPS,
                   help="frame rate of frame folders (frames 1/fps seconds apart): they are encoded at it, and prompt timestamps "
                        f"follow it (default {DEFAULT_FRAMES_FPS:g}: LLaVA-Hound-DPO's own extractor's rate, see docs/training.md)")
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
    if not args.frames_fps > 0:
        raise UserError(f"must be > 0, not {args.frames_fps:g}", "--frames-fps", "give the frame rate the frame folders were extracted at")
    existing_file(args.dpo_jsonl, "--dpo-jsonl", "give the ShareGPTVideo-DPO jsonl file")
    media = existing_dir(args.media, "--media", "give the folder the rows' video paths are relative to")
    if find_media(media, MEDIA_EXTENSIONS) is None:
        raise UserError("holds no video file or frame image", f"--media {media}", "give the folder the rows' video paths are relative to")
    if args.captions:
        existing_file(args.captions, "--captions", "give a jsonl of {id, caption}, or leave --captions out")
    check_output_dir(args.out, "--out", PREPARE_MARKERS, args.overwrite, "panodpo prepare")
    at_least(args.caption_frames, 1, "--caption-frames")
    if args.perturber == "openai":
        require_extra(["openai"], "--perturber openai")
        if args.base_url:
            check_server(args.base_url, "--base-url")
        elif not os.environ.get("OPENAI_API_KEY"):
            raise UserError("no API key: OPENAI_API_KEY is not set", "--perturber openai", "export OPENAI_API_KEY, or give --base-url of a local server, or use --perturber template")
    _validate_captioner(args)


def _validate_captioner(args: argparse.Namespace) -> None:
    """``--captioner``: a spec the prepare can use, checked before anything runs (cheap: no model loaded)."""
    from panodpo.data.captions import parse_captioner

    if args.captioner is None:
        return  # the perturber's own model (checked above), or none for the template perturber
    if args.perturber != "openai":
        raise UserError("the template perturber reads no caption", f"--captioner {args.captioner}",
                        "add --perturber openai to write q' from captions, or leave --captioner out")
    try:
        kind, argument = parse_captioner(args.captioner)
    except ValueError as err:
        raise UserError(str(err).partition(";")[0], f"--captioner {args.captioner}", "give hf:<id-or-path>, openai:<model>[@base_url] or none") from None
    if kind == "hf":
        check_model_source(argument, f"--captioner {args.captioner}")
    elif kind == "openai":
        base_url = argument.partition("@")[2]
        if base_url:
            check_server(base_url, f"--captioner {args.captioner}")
        elif not os.environ.get("OPENAI_API_KEY"):
            raise UserError("no API key: OPENAI_API_KEY is not set", f"--captioner {args.captioner}",
                            "export OPENAI_API_KEY, or give the captioner's server as openai:<model>@<base_url>, or --captioner none")


def _read_captions(path: str) -> tuple[dict[str, str], list]:
    """The captions and the lines skipped as undecodable (reported with the rows' problems)."""
    from panodpo.data.sharegptvideo import read_captions

    try:
        return read_captions(path)
    except ValueError as err:
        where, _, what = str(err).partition(": ")  # "line N: what is wrong"
        raise UserError(what, f"--captions {path} {where}", "fix the line") from None


def _command_line(command: str, argv: Sequence[str]) -> str:
    """The command as the lock file names it to a second run (secrets redacted, kept short)."""
    from temrobbench.utils.redaction import redact

    text = redact(" ".join([command, *argv]))
    return text if len(text) <= 300 else text[:297] + "..."


def _prepare(argv: Sequence[str]) -> int:
    args = _prepare_parser().parse_args(argv)
    _validate_prepare(args)
    captions, caption_problems = _read_captions(args.captions) if args.captions else ({}, [])
    from temrobbench.utils.files import exclusive_lock, remove_partials

    from panodpo.data.misleading_questions import MisleadingQuestionsUnusable
    from panodpo.data.prepare import PrepareConfig, prepare_dpo_data

    rejected_video = _rejected_video_settings(args)

    config = PrepareConfig(perturber=args.perturber, openai_model=args.openai_model, base_url=args.base_url, max_concurrency=args.max_concurrency,
                           captioner=args.captioner, caption_frames=args.caption_frames,
                           materialize_rejected_videos=args.materialize_rejected_videos, rejected_video=rejected_video, num_frames=args.num_frames,
                           seed=args.seed, frames_fps=args.frames_fps)
    try:
        # One writer per folder: a second prepare into it stops at once, naming the first.
        with no_empty_folder_left(args.out), exclusive_lock(args.out, _command_line("panodpo prepare", argv)):
            remove_partials(args.out)  # a killed run's half-written files (safe: the folder is ours now)
            report = prepare_dpo_data(args.dpo_jsonl, args.media, args.out, config, captions, caption_problems=caption_problems)
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
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Start over in an --output_dir of an earlier run: its checkpoints and "
                                                                       "recorded data and model identity (panodpo_run.json) are discarded."})
    preset: str | None = field(default=None, metadata={"help": "A named objective (panodpo/presets.py): sets every objective field "
                                                               "(loss_type, the term weights, anchor_margin, rejected_video_strategy); "
                                                               "flags given explicitly win.", "choices": list(PRESETS)})


def _train_paths(argv: Sequence[str]) -> argparse.Namespace:
    """The path flags, read before anything heavy is imported, to validate them in a second."""
    p = CliParser(prog="panodpo train", add_help=False)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--output_dir", "--output-dir", required=True)
    p.add_argument("--media_root", "--media-root", default=None)
    p.add_argument("--split", default="train")
    p.add_argument("--overwrite", nargs="?", const="true", default="false")
    p.add_argument("--overwrite_output_dir", "--overwrite-output-dir", nargs="?", const="true", default="false")
    p.add_argument("--preset", default=None)
    return p.parse_known_args(list(argv))[0]


def with_preset(argv: Sequence[str]) -> list[str]:
    """``argv`` with its ``--preset NAME`` expanded: the preset's flags first, then the user's, whose
    explicit values win (argparse keeps a flag's last value). No preset: ``argv`` unchanged.

    >>> with_preset(["--preset", "mdpo", "--anchor_loss_weight", "0.5"])[-4:]
    ['--preset', 'mdpo', '--anchor_loss_weight', '0.5']
    >>> "--anchor_loss_weight" in with_preset(["--preset", "mdpo"])
    True
    """
    name = _train_paths_preset(argv)
    if name is None:
        return list(argv)
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}", f"--preset {name}", f"choose one of {', '.join(PRESETS)}")
    return preset_argv(name) + list(argv)


def _train_paths_preset(argv: Sequence[str]) -> str | None:
    p = CliParser(prog="panodpo train", add_help=False)
    p.add_argument("--preset", default=None)
    return p.parse_known_args(list(argv))[0].preset


def _is_true(value: object) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _preference_data_problem(split: str):
    required = {"video", "prompt", "chosen", "rejected"}

    def problem(folder: Path) -> tuple[str, str] | None:
        from panodpo.data.prepare import prepared_split_files

        files = prepared_split_files(folder, split)
        hint = "make it with `panodpo prepare --dpo-jsonl FILE --media DIR --out DIR`"
        if not files:
            return f"not prepared preference data (no data/{split}-*.parquet)", hint
        import pyarrow.parquet as pq

        for shard in files:  # every shard's footer (cheap): a torn one fails here, not hours into training
            try:
                schema = pq.read_schema(shard)
            except Exception as err:  # noqa: BLE001 - a torn or foreign file
                raise UserError(f"unreadable Parquet shard of --data ({type(err).__name__}: truncated or not Parquet)", str(shard),
                                "rebuild it: rerun `panodpo prepare` into a new folder", EXIT_RUNTIME) from None
            missing = required - set(schema.names)
            if missing:
                return f"not prepared preference data (no column {', '.join(sorted(missing))} in {shard.name})", hint
        return None

    return problem


def _validate_train(paths: argparse.Namespace) -> None:
    check_model_source(paths.model, f"--model {paths.model}")
    check_local_or_hub(paths.data, f"--data {paths.data}", "dataset", _preference_data_problem(paths.split))
    if paths.media_root:
        existing_dir(paths.media_root, "--media_root", "give the folder relative video paths are under")
    if paths.preset is not None and paths.preset not in PRESETS:
        raise UserError(f"unknown preset {paths.preset!r}", f"--preset {paths.preset}", f"choose one of {', '.join(PRESETS)}")
    overwrite = _is_true(paths.overwrite) or _is_true(paths.overwrite_output_dir)
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


# -- the output folder: one writer, resumable checkpoints, the identity of what it was trained on --

RUN_RECORD = "panodpo_run.json"
# Files a checkpoint folder holds once Trainer finished it: the weights (written first) and
# trainer_state.json (written last); a run killed in between leaves a folder without one of them.
CHECKPOINT_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
                      "pytorch_model.bin", "pytorch_model.bin.index.json")
RESUME_LATEST = ("last", "latest", "true", "yes", "1")


def _is_main_process() -> bool:
    """Rank 0 of a launcher (torchrun, accelerate), or a plain process: the one writer of a run."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0) == 0


def checkpoint_problem(folder: Path) -> str | None:
    """Why a ``checkpoint-N`` folder cannot be resumed from (None when it is complete)."""
    state = folder / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "a torn trainer_state.json"
    if not any((folder / name).is_file() for name in CHECKPOINT_WEIGHTS):
        return "no weights"
    return None


def checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """The ``checkpoint-N`` folders of ``output_dir``, oldest (lowest step) first."""
    found = [p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and p.name.split("-", 1)[1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]))


def resolve_resume(output_dir: str, value: str | None, overwrite_output_dir: bool, say: bool = True) -> str | None:
    """The checkpoint folder ``--resume_from_checkpoint`` names: a path, or ``last`` / ``True``
    for the newest complete checkpoint in ``output_dir`` (incomplete ones, left by a kill, are
    skipped with one stderr line each when ``say``). Without the flag, a folder that holds
    checkpoints is refused unless ``overwrite_output_dir``: a new run would overwrite them."""
    flag = f"--resume_from_checkpoint {value}"
    resuming = value is not None and str(value).strip().lower() not in ("", "false", "no", "0", "none")
    if resuming and overwrite_output_dir and (str(value).strip().lower() in RESUME_LATEST or _inside(value, output_dir)):
        raise UserError("--overwrite_output_dir discards the checkpoints that --resume_from_checkpoint would resume from", f"{flag} --overwrite_output_dir",
                        "give one of the two: resume, or start over")
    if not resuming:
        existing = checkpoints(output_dir)
        if existing and not overwrite_output_dir:
            raise UserError(f"the folder holds checkpoints of an earlier run ({', '.join(p.name for p in existing[-3:])})", f"--output_dir {output_dir}",
                            "resume with --resume_from_checkpoint last, or pass --overwrite_output_dir to start over (discarding them)")
        return None
    if str(value).strip().lower() in RESUME_LATEST:
        for folder in reversed(checkpoints(output_dir)):
            problem = checkpoint_problem(folder)
            if problem is None:
                return str(folder)
            if say:
                print(f"skipped incomplete checkpoint ({folder}): {problem}, left by an interrupted run", file=sys.stderr)
        raise UserError("no complete checkpoint to resume from", f"{flag} in --output_dir {output_dir}",
                        "train without --resume_from_checkpoint, or give a checkpoint folder")
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise UserError("no such checkpoint folder", flag, "give a checkpoint-N folder, or `last` for the newest in --output_dir")
    problem = checkpoint_problem(folder)
    if problem:
        raise UserError(f"not a complete checkpoint ({problem})", flag, "give another checkpoint, or `last` for the newest complete one")
    return str(folder)


def _inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    path, folder = Path(path).expanduser().resolve(), Path(folder).expanduser().resolve()
    return path == folder or folder in path.parents


def model_identity(model: str) -> dict[str, Any]:
    """What ``--model`` is: a local folder's content fingerprint, or a Hub id and its revision."""
    from temrobbench.utils.identity import hub_revision, model_folder_fingerprint

    if Path(model).expanduser().is_dir():
        folder = Path(model).expanduser().resolve()
        return {"source": str(folder), "fingerprint": model_folder_fingerprint(folder)}
    return {"source": model, "revision": hub_revision(model, "model")}


def data_identity(data: str, split: str) -> dict[str, Any]:
    """What ``--data`` is: the fingerprint of the split's prepared shards, or a Hub id and revision."""
    from temrobbench.utils.identity import files_fingerprint, hub_revision

    from panodpo.data.prepare import prepared_split_files

    if Path(data).expanduser().is_dir():
        folder = Path(data).expanduser().resolve()
        return {"source": str(folder), "split": split, "fingerprint": files_fingerprint(folder, prepared_split_files(folder, split))}
    return {"source": data, "split": split, "revision": hub_revision(data, "dataset")}


def _same(recorded: dict[str, Any], now: dict[str, Any]) -> bool:
    """Content decides where both have a fingerprint (a moved copy is the same data); else the
    Hub id, split and, when both are known, the revision."""
    if recorded.get("fingerprint") and now.get("fingerprint"):
        return recorded["fingerprint"] == now["fingerprint"] and recorded.get("split") == now.get("split")
    if bool(recorded.get("fingerprint")) != bool(now.get("fingerprint")):
        return False
    if (recorded.get("source"), recorded.get("split")) != (now.get("source"), now.get("split")):
        return False
    return not (recorded.get("revision") and now.get("revision")) or recorded["revision"] == now["revision"]


def _describe(identity: dict[str, Any]) -> str:
    detail = identity.get("fingerprint") or identity.get("revision") or "revision unknown"
    return f"{identity.get('source')} @ {str(detail)[:12]}"


def check_run_identity(output_dir: str, identity: dict[str, dict[str, Any]], overwrite_output_dir: bool) -> None:
    """Refuse an ``output_dir`` whose recorded run used other data or another model."""
    record = Path(output_dir) / RUN_RECORD
    if overwrite_output_dir or not record.is_file():
        return
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # unreadable bookkeeping: rewritten below, never a reason to refuse
    for what in ("data", "model"):
        before = recorded.get(what)
        if isinstance(before, dict) and not _same(before, identity[what]):
            raise UserError(f"--output_dir holds a run on other {what}: recorded {_describe(before)}, now {_describe(identity[what])}",
                            f"--output_dir {output_dir}", "give another --output_dir, or pass --overwrite_output_dir to start over")


def write_run_record(output_dir: str, identity: dict[str, dict[str, Any]]) -> None:
    from temrobbench.utils.files import atomic_path

    with atomic_path(Path(output_dir) / RUN_RECORD) as tmp:
        Path(tmp).write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")


def _start_over(output_dir: str) -> None:
    """``--overwrite_output_dir``: the earlier run's checkpoints and record go, so that ``last``
    can never pick a checkpoint of the discarded run."""
    import shutil

    for folder in checkpoints(output_dir):
        shutil.rmtree(folder)
    (Path(output_dir) / RUN_RECORD).unlink(missing_ok=True)


def _check_media_paths(dataset: Any, column: str, media_root: str) -> None:
    """Every path of a path column stays under ``--media_root``: checked up front (nothing is
    read), so a row's ``../`` fails the run in a second with its id, not hours into training."""
    from temrobbench.utils.files import contained_path

    feature = dataset.features.get(column)
    if getattr(feature, "dtype", None) not in ("string", "large_string"):
        return  # embedded videos (a Video feature): nothing to resolve
    ids = dataset["id"] if "id" in dataset.column_names else range(len(dataset))
    for row_id, video in zip(ids, dataset[column]):
        if video and contained_path(media_root, video) is None:
            raise UserError("a video path of the data leads outside --media_root", f"row {row_id}: {video!r}, --media_root {media_root}",
                            "give paths relative to --media_root (no '..', absolute paths or symlinks leading out)")


def _register_token(argv: Sequence[str]) -> None:
    """Redact ``--hub_token``'s value from every line this run may print, from the very start."""
    from temrobbench.utils.redaction import register_secret

    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in ("--hub_token", "--hub-token"):
            register_secret(value or (argv[i + 1] if i + 1 < len(argv) else None))


def _full_train_help() -> int:
    """``--help-all``: every flag (TrainArguments, PanoDPOConfig, DPOConfig, TrainingArguments)."""
    require_extra(TRAIN_EXTRA, "panodpo train --help-all")
    from transformers import HfArgumentParser

    from panodpo.config import PanoDPOConfig

    HfArgumentParser((TrainArguments, PanoDPOConfig), prog="panodpo train",
                     description="Train a PanoDPO adapter: every PanoDPOConfig / DPOConfig / TrainingArguments field is a flag.").print_help()
    return 0


def _train(argv: Sequence[str]) -> int:
    argv = list(argv)
    if "--help-all" in argv:
        return _full_train_help()
    if "-h" in argv or "--help" in argv:
        print(_short_train_help())
        return 0
    _register_token(argv)
    paths = _train_paths(argv)
    _validate_train(paths)
    main_process = _is_main_process()
    from temrobbench.utils.files import exclusive_lock

    # Only the main process owns the folder (the lock, removing it again on an early failure):
    # the other ranks of a launch only read, and a refused rank 0 ends the launch for them.
    owned = (no_empty_folder_left(paths.output_dir), exclusive_lock(paths.output_dir, _command_line("panodpo train", argv))) \
        if main_process else ()
    with contextlib.ExitStack() as stack:
        for context in owned:
            stack.enter_context(context)
        _run_training(argv, main_process)
    return 0


def parse_train_args(argv: Sequence[str]) -> tuple[TrainArguments, Any]:
    """``panodpo train``'s flags as (TrainArguments, PanoDPOConfig), a ``--preset`` expanded first
    (explicit flags win over it); a bad flag or value is one line, as every CLI error."""
    from transformers import HfArgumentParser

    from temrobbench.cli.contract import one_line_errors

    from panodpo.config import PanoDPOConfig

    parser = one_line_errors(HfArgumentParser((TrainArguments, PanoDPOConfig), prog="panodpo train",
                                              description="Train a PanoDPO adapter: every PanoDPOConfig / DPOConfig / TrainingArguments field is a flag."))
    return tuple(parser.parse_args_into_dataclasses(args=with_preset(argv)))  # type: ignore[return-value]


def _run_training(argv: list[str], main_process: bool) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from panodpo.lora import default_lora_config
    from panodpo.media import MediaOutsideRoot
    from panodpo.trainer import PanoDPOTrainer

    script, config = parse_train_args(argv)
    start_over = script.overwrite_output_dir
    resume = resolve_resume(config.output_dir, config.resume_from_checkpoint, start_over, say=main_process)
    identity = {"data": data_identity(script.data, script.split), "model": model_identity(script.model)}
    check_run_identity(config.output_dir, identity, start_over)
    config.resume_from_checkpoint = resume
    import datasets

    if Path(script.data).is_dir():
        from panodpo.data.prepare import prepared_split_files

        # A local folder: its shards, whatever the folder's card says.
        files = [str(p) for p in prepared_split_files(script.data, script.split)]
        dataset = datasets.load_dataset("parquet", data_files=files, split="train")
    else:
        dataset = datasets.load_dataset(script.data, split=script.split)
    if script.media_root:
        _check_media_paths(dataset, config.video_column, script.media_root)
    processor = AutoProcessor.from_pretrained(script.model)
    model = AutoModelForImageTextToText.from_pretrained(script.model, dtype=script.dtype)
    peft_config = default_lora_config(model, script.lora_r, script.lora_alpha, script.lora_dropout) if script.use_lora else None
    try:
        trainer = PanoDPOTrainer(model, args=config, train_dataset=dataset, processing_class=processor, peft_config=peft_config,
                                 media_root=script.media_root, dataset_name=script.data, run_identity=identity)
        if main_process:  # everything checked: from here on the folder is this run's
            if start_over:
                _start_over(config.output_dir)
            write_run_record(config.output_dir, identity)  # before training: a killed run's checkpoints are named too
        if resume and _finished(resume, config.max_steps):
            # transformers 5.24 resumes a checkpoint taken at max_steps mid-epoch by training one more
            # step: that checkpoint is the finished run, so it is loaded and saved as it is.
            if main_process:
                print(f"{resume} is the last step (max_steps={config.max_steps}): saving it, nothing left to train", file=sys.stderr)
            from transformers import TrainerState

            trainer._load_from_checkpoint(resume)
            trainer.state = TrainerState.load_from_json(os.path.join(resume, "trainer_state.json"))  # the card reports its steps
        else:
            trainer.train(resume_from_checkpoint=resume)
    except MediaOutsideRoot as err:  # e.g. a symlinked frame of a frames folder
        raise UserError("a video of the data leads outside --media_root; nothing of it was read", err.path,
                        "fix the data (paths and symlinks under --media_root)") from None
    trainer.save_model(config.output_dir)  # the adapter and its card (README.md); pushed too with --push_to_hub
    if main_process:
        print(f"Adapter and model card: {config.output_dir}")


def _finished(checkpoint: str, max_steps: int) -> bool:
    """Whether ``checkpoint`` was taken at ``max_steps`` (> 0): its run has nothing left to train."""
    if max_steps <= 0:
        return False
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return int(state.get("global_step", 0)) >= max_steps


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
    """The ``panodpo`` console script: returns the exit status (docs/cli.md, "The contract")."""
    return run_cli(_main, argv, "panodpo")


if __name__ == "__main__":
    sys.exit(main())
