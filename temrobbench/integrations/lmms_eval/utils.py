"""lmms-eval task functions for TemRobBench: thin adapters over the project's own evaluation.

The task YAMLs (``tasks/``) point here. lmms-eval asks one question per *doc*; TemRobBench asks
each item 1 + 4 questions (the clean version once, the adversarial one in 4 rounds with the options
rotated, ``temrobbench.evaluation.protocol``). So ``process_docs`` expands the rows of a config's
two splits into one doc per planned query, ``doc_to_text`` is ``render_query`` of that query (the
exact prompt of ``render_prompt``), ``process_results`` reads the answer with the same parser as
``evaluate_temporal_robustness`` and makes the same record, and every metric aggregates those
records with ``temrobbench.metrics.compute``. Nothing here imports lmms-eval.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from temrobbench import metrics as metrics_module
from temrobbench.evaluation.answers.parsing import parse_answer
from temrobbench.evaluation.evaluate import evaluate_temporal_robustness
from temrobbench.evaluation.protocol import PlannedQuery, plan_item, render_query

#: Adversarial rounds per item: the default of ``evaluate_temporal_robustness`` (its one home).
ROUNDS: int = inspect.signature(evaluate_temporal_robustness).parameters["rounds"].default
#: Where videos embedded in the Parquet shards are written once for lmms-eval's models, which take
#: file paths. Default: ``<datasets cache>/temrobbench_lmms_eval_videos``.
VIDEO_CACHE_ENV = "TEMROBBENCH_VIDEO_CACHE"
#: lmms-eval metric name -> ``temrobbench.metrics`` key.
METRICS = {"acc_clean": "clean_acc", "acc_adversarial": "adv_acc", "fr": "fr", "wfr": "wfr", "t_acc": "t_acc", "invalid_rate": "invalid_rate"}


def video_cache_dir() -> Path:
    if os.environ.get(VIDEO_CACHE_ENV):
        return Path(os.environ[VIDEO_CACHE_ENV])
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE) / "temrobbench_lmms_eval_videos"


def _video_file(video: Any) -> str:
    """A local file path for a ``datasets`` Video value (``decode=False``): embedded bytes are
    written once, named by their content (safe for several ranks writing at once)."""
    if isinstance(video, str):
        return video
    data, path = video.get("bytes"), video.get("path")
    if not data:
        if path and os.path.isfile(path):
            return str(path)
        raise FileNotFoundError(f"video {path!r}: no embedded bytes and no such file")
    folder = video_cache_dir()
    target = folder / f"{hashlib.sha1(data).hexdigest()}{Path(path or 'video.mp4').suffix or '.mp4'}"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".partial")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    return str(target)


def process_docs(dataset: Any) -> Any:
    """Rows of both splits of one config (clean and adversarial, paired by ``id``) -> one doc per
    query of ``plan_item``: the row with ``setting`` and ``round`` set and ``video`` a file path."""
    import datasets

    if "video" in dataset.features:
        dataset = dataset.cast_column("video", datasets.Video(decode=False))
    rows: dict[str, dict[str, dict]] = defaultdict(dict)
    paths: dict[str, str] = {}
    for row in dataset:
        video = row["video"]
        key = video if isinstance(video, str) else (video.get("path") or "") + ":" + hashlib.sha1(video.get("bytes") or b"").hexdigest()
        if key not in paths:
            paths[key] = _video_file(video)
        rows[row["id"]][row["setting"]] = {**row, "video": paths[key]}
    unpaired = sorted(i for i, by_setting in rows.items() if set(by_setting) != {"clean", "adversarial"})
    if unpaired:
        raise ValueError(f"rows {unpaired[:5]} appear in only one of the clean/adversarial splits: give both splits' files in data_files")
    docs = [
        {**query.row, "setting": query.setting, "round": query.round}
        for item_id in sorted(rows)
        for query in plan_item(rows[item_id]["clean"], rows[item_id]["adversarial"], ROUNDS)
    ]
    return datasets.Dataset.from_list(docs)


def _rendered(doc: Mapping[str, Any]):
    return render_query(PlannedQuery(doc, doc["setting"], int(doc["round"])))


def doc_to_visual(doc: Mapping[str, Any]) -> list[str]:
    return [doc["video"]]


def doc_to_text(doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
    """Exactly ``render_prompt``'s text for this round (model-specific pre/post prompts are not
    applied: the prompt is part of the benchmark)."""
    return _rendered(doc).text


def doc_to_target(doc: Mapping[str, Any]) -> str:
    """The letter the correct option is shown under in this round."""
    return _rendered(doc).letter_of_role("correct")


def record_for(doc: Mapping[str, Any], output: str) -> dict[str, Any]:
    """The record ``evaluate_temporal_robustness`` writes for ``output`` (generate scoring)."""
    rendered = _rendered(doc)
    choice = parse_answer(str(output), rendered.letters, rendered.options)
    record = {
        "item_id": doc["id"], "video_id": doc["video_id"], "perturbation": doc["perturbation"], "category": doc["category"],
        "setting": doc["setting"], "round": int(doc["round"]), "order": list(rendered.order),
        "correct_letter": rendered.letter_of_role("correct"), "shortcut_letter": rendered.letter_of_role("shortcut"),
        "output": str(output), "choice": choice, "role": rendered.role_of_letter(choice) if choice else "invalid",
    }
    if not choice:
        record["invalid_reason"] = "no option named in the output"
    return record


def process_results(doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, dict[str, Any]]:
    record = record_for(doc, results[0] if results else "")
    return {name: record for name in METRICS}


def _aggregate(records: Sequence[Mapping[str, Any]], name: str) -> float:
    """One metric over a task's records; NaN where it is undefined (no item, or none correct when clean)."""
    if not records:
        return math.nan
    perturbation = records[0]["perturbation"]
    value = metrics_module.compute(records, rounds=ROUNDS)[perturbation][METRICS[name]]
    return math.nan if value is None else value


def aggregate_acc_clean(records):
    return _aggregate(records, "acc_clean")


def aggregate_acc_adversarial(records):
    return _aggregate(records, "acc_adversarial")


def aggregate_fr(records):
    return _aggregate(records, "fr")


def aggregate_wfr(records):
    return _aggregate(records, "wfr")


def aggregate_t_acc(records):
    return _aggregate(records, "t_acc")


def aggregate_invalid_rate(records):
    return _aggregate(records, "invalid_rate")
