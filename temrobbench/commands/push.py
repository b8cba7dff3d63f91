"""``temrobbench push``: upload a built benchmark (or prepared data) to the Hugging Face Hub."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..hub_layout import PUBLISH_IGNORE, upload_plan, write_card


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("push", help="upload a built folder to the Hub as a dataset repository")
    p.add_argument("folder")
    p.add_argument("--repo-id", required=True, help="ORG/NAME")
    p.add_argument("--private", action="store_true")
    p.add_argument("--revision", default=None, help="branch to push to")
    p.add_argument("--dry-run", action="store_true", help="print what would be uploaded, upload nothing")
    p.set_defaults(func=run)


def push_folder(folder: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None, dry_run: bool = False) -> list[str]:
    """Upload ``folder`` as dataset repo ``repo_id``; returns the uploaded paths.

    The token comes from the environment (``HF_TOKEN``) or ``huggingface-cli login``; it is never
    printed or written anywhere. The card is re-rendered with ``repo_id`` in its usage snippets.
    """
    folder = Path(folder)
    plan = upload_plan(folder)
    report_path = folder / "build_report.json"
    if report_path.is_file() and "num_videos_built" in json.loads(report_path.read_text()):
        write_card(folder, json.loads(report_path.read_text()), repo_id=repo_id)
    if dry_run:
        return plan
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        ignore_patterns=PUBLISH_IGNORE,
        commit_message="Upload TemRobBench build",
    )
    return plan


def run(args: argparse.Namespace) -> int:
    try:
        plan = push_folder(args.folder, args.repo_id, private=args.private, revision=args.revision, dry_run=args.dry_run)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    verb = "Would upload" if args.dry_run else "Uploaded"
    print(f"{verb} {len(plan)} files from {args.folder} to https://huggingface.co/datasets/{args.repo_id}")
    if args.dry_run:
        for rel in plan:
            print(f"  {rel}")
    return 0
