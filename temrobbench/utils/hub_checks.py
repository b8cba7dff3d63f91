"""Checked before any work: a server or the Hugging Face Hub is reachable, a name is a usable
local folder or a Hub id that can be fetched (:func:`check_local_or_hub`, :func:`check_model_source`).

Library code uses these too (the ``hf:`` adapter checks its model source, the explorer its
benchmark), so they live here and raise :class:`~temrobbench.utils.errors.UserError`; the command
line calls the same functions up front. Cheap to import: standard library only.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from temrobbench.utils.errors import EXIT_RUNTIME, UserError


def unreachable_reason(url: str, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to ``url``'s host and port opens, else why not."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if not parsed.hostname:
        return f"not a URL: {url!r}"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return None
    except OSError as err:
        reason = err.strerror or type(err).__name__
        return f"{reason.lower()} at {url}"


def check_server(base_url: str, flag: str) -> None:
    reason = unreachable_reason(base_url)
    if reason:
        raise UserError(f"cannot reach the OpenAI-compatible server: APIConnectionError: {reason}", f"{flag} {base_url}",
                        "start the server (e.g. vllm serve MODEL) or fix the URL", EXIT_RUNTIME)


def looks_like_path(value: str) -> bool:
    """Whether ``value`` is meant as a local path rather than a Hub id (``ORG/NAME`` or ``NAME``).

    >>> [looks_like_path(v) for v in ("ORG/NAME", "gpt2", "./model", "/data/x", "a/b/c", "~/m")]
    [False, False, True, True, True, True]
    """
    return value.startswith((".", "/", "~")) or "\\" in value or value.count("/") > 1 or value.endswith("/") or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", value)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _cached_on_hub(repo_id: str, repo_type: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        filename = "README.md" if repo_type == "dataset" else "config.json"
        return isinstance(try_to_load_from_cache(repo_id, filename, repo_type=repo_type), str)
    except Exception:  # noqa: BLE001 - a malformed id, an unreadable cache: not cached
        return False


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def check_hub_reachable(subject: str, hint: str) -> None:
    """Fail fast when the Hub cannot be reached (offline mode or no connection)."""
    if hub_offline():
        raise UserError("the Hugging Face Hub is unreachable: HF_HUB_OFFLINE=1 is set", subject, hint, EXIT_RUNTIME)
    reason = unreachable_reason(hub_endpoint())
    if reason:
        raise UserError(f"the Hugging Face Hub is unreachable: {reason}", subject, hint, EXIT_RUNTIME)


def check_local_or_hub(value: str, subject: str, repo_type: str, local_problem: Callable[[Path], tuple[str, str] | None] | None = None) -> str:
    """``value`` names a usable local folder, or a Hub id that can be fetched (or is cached).

    ``local_problem(folder)`` returns ``(what, hint)`` when an existing folder is not usable, else
    None. ``subject`` names the input in the message (e.g. ``--data ORG/NAME``). Returns ``"local"``
    or ``"hub"``.
    """
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError("is a file, not a folder", subject, "give a folder or a Hub id")
        problem = local_problem(path) if local_problem else None
        if problem:
            raise UserError(problem[0], subject, problem[1])
        return "local"
    if looks_like_path(value):
        raise UserError("no such folder", subject, "check the path (a Hub id reads ORG/NAME)")
    if _cached_on_hub(value, repo_type):
        return "hub"
    if hub_offline():
        raise UserError("not a local folder, and the Hugging Face Hub is unreachable: HF_HUB_OFFLINE=1 is set", subject,
                        "give a local folder, or unset HF_HUB_OFFLINE", EXIT_RUNTIME)
    reason = unreachable_reason(hub_endpoint())
    if reason:
        raise UserError(f"not a local folder, and the Hugging Face Hub is unreachable: {reason}", subject,
                        "give a local folder, or connect to the network", EXIT_RUNTIME)
    return "hub"


def check_model_source(argument: str, subject: str | None = None) -> None:
    """For ``hf:<id-or-path>``: a local model folder, or a Hub id that can be fetched."""

    def local_problem(folder: Path) -> tuple[str, str] | None:
        if not any((folder / name).is_file() for name in ("config.json", "adapter_config.json")):
            return "not a model folder (no config.json)", "give a folder saved with save_pretrained, or a Hub id"
        return None

    check_local_or_hub(argument, subject or f"hf:{argument}", "model", local_problem)
