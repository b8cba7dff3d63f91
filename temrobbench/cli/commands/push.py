"""``temrobbench push``: upload a built benchmark (or prepared data) to the Hugging Face Hub."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from temrobbench.utils.errors import EXIT_RUNTIME, UserError
from temrobbench.utils.hub_checks import check_hub_reachable
from temrobbench.cli.checks import existing_dir
from temrobbench.utils.files import exclusive_lock
from temrobbench.hub.layout import PUBLISH_IGNORE, upload_plan
from temrobbench.hub.card import write_card


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("push", help="upload a built folder to the Hub as a dataset repository")
    p.add_argument("folder", help="a folder written by `temrobbench build` or `panodpo prepare`")
    p.add_argument("--repo-id", required=True, help="ORG/NAME")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", default=None, help="branch to push to")
    p.add_argument("--dry-run", action="store_true", help="print what would be uploaded, upload nothing")
    p.set_defaults(func=run)


def push_folder(folder: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None, dry_run: bool = False) -> list[str]:
    """Upload ``folder`` as dataset repo ``repo_id``; returns the uploaded paths.

    The token comes from the environment (``HF_TOKEN``) or ``huggingface-cli login``; it is never
    printed or written anywhere. The card is re-rendered with ``repo_id`` in its usage snippets.
    """
    folder = Path(folder)
    upload_plan(folder)  # refuses a folder that is not built, before the lock could create it
    # The card is rewritten and the files read while uploading: a build or prepare still writing
    # into the folder would publish half a benchmark, so push is one more writer to exclude.
    with exclusive_lock(folder, f"temrobbench push {folder} --repo-id {repo_id}"):
        plan = upload_plan(folder)
        report_path = folder / "build_report.json"
        if report_path.is_file() and "num_videos_built" in json.loads(report_path.read_text()):
            write_card(folder, json.loads(report_path.read_text()), repo_id=repo_id)
        if dry_run:
            return plan
        _upload(folder, repo_id, private, revision)
    return plan


def _upload(folder: Path, repo_id: str, private: bool, revision: str | None) -> None:
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


def check_token(repo_id: str) -> None:
    """A Hub token is there, the Hub answers, and it accepts the token: or one line saying which not."""
    from huggingface_hub import get_token

    subject = f"--repo-id {repo_id}"
    if not get_token():
        raise UserError("no Hugging Face token", subject, "run `hf auth login`, or set HF_TOKEN to a token with write access")
    check_hub_reachable(subject, "connect to the network (unset HF_HUB_OFFLINE) and rerun")
    from huggingface_hub import HfApi

    try:
        HfApi().whoami()
    except Exception as err:  # noqa: BLE001 - a 401 or a network failure, said in one line
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status in (401, 403):
            raise UserError("the Hugging Face Hub refused the token", subject, "run `hf auth login` again, or set HF_TOKEN to a valid token") from None
        raise UserError(f"cannot check the token with the Hugging Face Hub: {type(err).__name__}", subject, "check the network and rerun", EXIT_RUNTIME) from None


def run(args: argparse.Namespace) -> int:
    import re

    if not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repo_id):
        raise UserError("not a Hub repository id", f"--repo-id {args.repo_id}", "give ORG/NAME")
    folder = existing_dir(args.folder, "FOLDER", "give a folder written by `temrobbench build` or `panodpo prepare`")
    if not ((folder / "README.md").is_file() and (folder / "data").is_dir()):
        raise UserError("not a built benchmark or prepared data (no README.md and data/)", folder, "run `temrobbench build` or `panodpo prepare` first")
    if not args.dry_run:
        check_token(args.repo_id)  # before the card is re-rendered or anything is uploaded
    plan = push_folder(folder, args.repo_id, private=args.private, revision=args.revision, dry_run=args.dry_run)
    verb = "Would upload" if args.dry_run else "Uploaded"
    print(f"{verb} {len(plan)} files from {args.folder} to https://huggingface.co/datasets/{args.repo_id}")
    if args.dry_run:
        for rel in plan:
            print(f"  {rel}")
    return 0
