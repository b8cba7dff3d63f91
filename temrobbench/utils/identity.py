"""What produced a result: content fingerprints of local folders and files, and Hub revisions.

A result folder records the identity of its inputs (a benchmark's content, a model's weights and
configs) so that a rerun against other inputs is refused instead of silently reusing results of
another run. Fingerprints hash content, not names or times: a model re-saved with other weights
gets another fingerprint, a copied folder keeps its own.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

# Files of a model folder that are not part of the model (a card, our own lock and run files).
_NOT_MODEL = {"README.md", ".lock", "panodpo_run.json", "trainer_state.json", "training_args.bin"}
_digests: dict[tuple[str, int, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (memoised per path, size, mtime and inode within a process).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x")
    >>> _ = open(path, "w").write("abc")
    >>> file_digest(path)[:12]
    'ba7816bf8f01'
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _digests:
        with open(path, "rb") as f:
            _digests[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return _digests[key]


def files_fingerprint(root: str | os.PathLike, files: Iterable[str | os.PathLike]) -> str:
    """One sha256 over the relative names and contents of ``files`` (under ``root``)."""
    root = Path(root)
    h = hashlib.sha256()
    for path in sorted(Path(f) for f in files):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + file_digest(path).encode() + b"\n")
    return h.hexdigest()


def model_folder_fingerprint(folder: str | os.PathLike) -> str:
    """Fingerprint of a saved model or adapter: every top-level file (weights, configs, tokenizer,
    chat template) but its card and run bookkeeping; checkpoint sub-folders are not the model.

    >>> import tempfile, os
    >>> a = tempfile.mkdtemp()
    >>> _ = open(os.path.join(a, "config.json"), "w").write("{}")
    >>> before = model_folder_fingerprint(a)
    >>> _ = open(os.path.join(a, "model.safetensors"), "w").write("weights")
    >>> before == model_folder_fingerprint(a)
    False
    """
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.is_file() and p.name not in _NOT_MODEL and not p.name.startswith(".")]
    return files_fingerprint(folder, files)


def hub_revision(repo_id: str, repo_type: str = "model") -> str | None:
    """The commit a Hub id resolves to now: the cached snapshot's ``refs/main`` when offline or
    cached, else the Hub's answer; None when neither is known."""
    try:
        from huggingface_hub import constants

        cache = Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}" / "refs" / "main"
        if cache.is_file():
            return cache.read_text().strip() or None
    except Exception:  # noqa: BLE001 - no cache: ask the Hub
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE"):
        return None
    try:
        from huggingface_hub import HfApi

        info = HfApi().repo_info(repo_id, repo_type=repo_type)
        return getattr(info, "sha", None)
    except Exception:  # noqa: BLE001 - unreachable or private: unknown, never invented
        return None
