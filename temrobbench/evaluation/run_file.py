"""``run.json``: which run an output folder's results belong to.

An output folder holds the results of one run: one benchmark (the digest of the items it
evaluated, :func:`~temrobbench.evaluation.data.benchmark_identity`), one model
(:attr:`VideoLM.model_identity <temrobbench.evaluation.models.base.VideoLM.model_identity>`) and one
set of settings (scoring, frames, rounds, prompt, model options). A rerun with the same run
resumes; anything else is refused (:class:`RunMismatchError`) unless the caller asks to start over,
which removes the files evaluation itself wrote (:data:`EVAL_OUTPUTS`) and nothing else.

The outcome of the ``hf:`` adapter's run-time self-check of its fast paths is kept beside it, in
``fast_path_check.json`` (:func:`record_fast_path_check`), not in ``run.json``: ``run.json`` says
which run the folder holds and is compared on resume and rewritten, alike, by every session and
every rank; the check's outcome is a fact about one session (and one rank: each checks its own
first video), so it must neither take part in that comparison nor be raced over by ranks.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from temrobbench.utils.files import atomic_path

RUN_FILE = "run.json"
RUN_VERSION = 2
#: The settings compared as they are (``model`` is the adapter's name or identity string).
SETTING_KEYS = ("model", "scoring", "num_frames", "rounds", "system_prompt", "model_options")
#: The benchmark fields compared (``items`` follows from the digest, ``source`` is for people).
BENCHMARK_KEYS = ("sha256", "configs", "limit")
#: Every file evaluation writes into its output folder: what starting over removes.
EVAL_OUTPUTS = ("records.jsonl", "records.rank*.jsonl", "records.damaged.jsonl", "metrics.json", "report.md", "report.html",
                "accuracy.png", "shortcut_margin.png", "paper_reference.png", "benchmark.json", RUN_FILE,
                "fast_path_check.json", "fast_path_check.rank*.json")
#: The fast-path self-check outcomes of a folder's sessions (``fast_path_check.rank<r>.json`` under a launcher).
FAST_PATH_CHECK_FILE = "fast_path_check.json"
_RANK_FILE = re.compile(r"records\.rank(\d+)\.jsonl")


class RunMismatchError(ValueError):
    """The output folder holds results of another run (``differences``: recorded vs now), or of
    an older version that recorded no identity (``legacy``)."""

    def __init__(self, out: str | os.PathLike, differences: list[str], legacy: bool = False) -> None:
        self.out, self.differences, self.legacy = Path(out), differences, legacy
        super().__init__(f"{out} holds records of another run ({self.describe()}); use another output_dir, "
                         "or overwrite=True (--overwrite) to discard them and start over")

    def describe(self) -> str:
        if self.legacy:
            return "; ".join(self.differences) or "its run.json records no benchmark or model identity (written by an older temrobbench)"
        return "recorded vs now: " + "; ".join(self.differences)


def short(value: Any) -> str:
    """A hash as its first 12 characters, anything else as it is."""
    text = str(value)
    return text[:12] if re.fullmatch(r"[0-9a-f]{40,64}", text) else text


def read_run(out: str | os.PathLike) -> dict[str, Any] | None:
    """The folder's ``run.json`` (None when there is none); an unreadable one is refused."""
    path = Path(out) / RUN_FILE
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RunMismatchError(out, [f"{RUN_FILE} is not readable JSON"], legacy=True) from None
    if not isinstance(value, dict):
        raise RunMismatchError(out, [f"{RUN_FILE} is not a JSON object"], legacy=True)
    return value


def _describe_model(identity: dict[str, Any]) -> str:
    extra = ", ".join(f"{k} {short(v)}" for k, v in sorted(identity.items()) if k != "name" and v is not None)
    return f"{identity.get('name')}" + (f" ({extra})" if extra else "")


def differences(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two runs, each as ``<what> <recorded> vs <now>``."""
    found: list[str] = []
    for key in SETTING_KEYS:
        a, b = previous.get(key), current.get(key)
        if a == b:
            continue
        if key == "model_options" and isinstance(a, dict) and isinstance(b, dict):
            found += [f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        else:
            found.append(f"{key} {a} vs {b}")
    a, b = previous.get("benchmark") or {}, current.get("benchmark") or {}
    if any(a.get(k) != b.get(k) for k in BENCHMARK_KEYS):
        found.append(f"benchmark {short(a.get('sha256'))} vs {short(b.get('sha256'))}"
                     + "".join(f", {k} {a.get(k)} vs {b.get(k)}" for k in ("configs", "limit") if a.get(k) != b.get(k)))
    a, b = previous.get("model_identity") or {}, current.get("model_identity") or {}
    # An unknown value (a Hub revision while offline) is no evidence of another model.
    if any(a.get(k) != b.get(k) for k in set(a) | set(b) if a.get(k) is not None and b.get(k) is not None) or set(a) != set(b):
        found.append(f"model {_describe_model(a)} vs {_describe_model(b)}")
    return found


def check_run(out: str | os.PathLike, current: dict[str, Any], overwrite: bool = False) -> bool:
    """Whether the run ``current`` must start over in ``out``: False to resume (the same run, or
    none yet); True when ``overwrite`` and the folder holds another run's results; otherwise
    another run raises :class:`RunMismatchError`. Nothing is changed here."""
    out = Path(out)
    try:
        previous = read_run(out)
    except RunMismatchError:
        if overwrite:
            return True
        raise
    if previous is None:
        if any(out.glob("records*.jsonl")) and not overwrite:
            raise RunMismatchError(out, ["records without a run.json: of an unknown benchmark and model"], legacy=True)
        return bool(overwrite and any(out.glob("records*.jsonl")))
    if "benchmark" not in previous or "model_identity" not in previous:
        if overwrite:
            return True
        raise RunMismatchError(out, [], legacy=True)
    found = differences(previous, current)
    if found and not overwrite:
        raise RunMismatchError(out, found)
    return bool(found)


def owned_files(out: str | os.PathLike, patterns: tuple[str, ...], rank: int, world: int) -> list[Path]:
    """The files of ``out`` matching ``patterns`` that this process may change: all of them in a
    single process; under a launcher, each rank its own record file, rank 0 the rest (but the
    live ranks' record files), so no rank removes or rewrites what another is writing."""
    out = Path(out)
    owned = []
    for pattern in patterns:
        for path in sorted(out.glob(pattern)):
            if not path.is_file():
                continue
            match = _RANK_FILE.fullmatch(path.name)
            if world > 1 and match and int(match.group(1)) < world:
                mine = int(match.group(1)) == rank
            else:
                mine = world == 1 or rank == 0
            if mine:
                owned.append(path)
    return owned


def discard_results(out: str | os.PathLike, rank: int = 0, world: int = 1) -> list[Path]:
    """Remove this process's share of the files evaluation wrote into ``out`` (starting over)."""
    removed = owned_files(out, EVAL_OUTPUTS, rank, world)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def write_run(out: str | os.PathLike, current: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (every rank writes the same content)."""
    from temrobbench.evaluation.records import naming

    with naming(Path(out) / RUN_FILE), atomic_path(Path(out) / RUN_FILE) as tmp:
        Path(tmp).write_text(json.dumps({"version": RUN_VERSION, **current}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def fast_path_check_path(out: str | os.PathLike, rank: int = 0, world: int = 1) -> Path:
    """Where this process records its fast-path self-check (one file per rank under a launcher)."""
    return Path(out) / (FAST_PATH_CHECK_FILE if world == 1 else f"fast_path_check.rank{rank}.json")


def record_fast_path_check(out: str | os.PathLike, outcome: dict[str, Any], rank: int = 0, world: int = 1) -> Path:
    """Append one session's self-check outcome (``HFVideoLM.fast_path_check[scoring]``, or a
    ``{"checked": false, ...}`` note) to the folder's list, oldest first: a resumed run's records
    come from several sessions and each checked itself. Starting over removes the file with the
    other results (:data:`EVAL_OUTPUTS`); an unreadable one is replaced, as it only informs."""
    from temrobbench.evaluation.records import naming

    path = fast_path_check_path(out, rank, world)
    try:
        checks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        checks = []
    checks = (checks if isinstance(checks, list) else []) + [outcome]
    with naming(path), atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(checks, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
