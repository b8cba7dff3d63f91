"""``report.html``: one self-contained page to explore an evaluation (or compare several).

The page holds the metric tables (with the paper's reference rows when asked), the plots as data
URIs, and a browser of items: the clean and the adversarial video side by side (played from the
benchmark's MP4 files by a path relative to the page), the descriptions (ETS), the options with
their roles, and each run's answer and role in every round, with filters by perturbation, category
and outcome. Comparing runs puts the items whose outcome differs first.

Everything is plain HTML, CSS and a little JavaScript from ``explorer.html.j2`` (next to this module); the data
is embedded as JSON and the item list is rendered a page at a time, so the page opens from disk
with no server and no network and stays fast on the full benchmark.

Where the benchmark is: ``temrobbench eval`` writes ``benchmark.json`` (``{"data": ...}``) into its
output folder. A local built folder gives videos and texts. A Hub id is read through ``datasets``
(its cache, or the Hub): texts, and a frame strip per video (the MP4 files are not at hand), for the
:data:`MAX_FRAME_STRIPS` most telling items (flips first) so the page stays small; when it cannot be
read either, a note says how to get it. Records alone still give the answers.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from temrobbench.utils.files import atomic_path
from temrobbench.utils.redaction import redact
from temrobbench.evaluation.report.formatting import adv_with_drop
from temrobbench.utils.formatting import percent

#: The file in an eval output folder naming the benchmark it ran on.
BENCHMARK_POINTER = "benchmark.json"
#: Plots embedded in the page, when the folder has them.
PLOT_FILES = ("accuracy.png", "shortcut_margin.png", "paper_reference.png")
#: Item outcomes, in the filter's order (round 0, as FR and WFR count them).
OUTCOMES = {
    "held": "held (correct clean and adversarial)",
    "shortcut": "flipped to shortcut",
    "incorrect": "flipped to incorrect",
    "invalid": "invalid answer",
    "clean_wrong": "wrong already on the clean video",
    "missing": "not evaluated in this run",
}
ROLE_CODES = {"correct": "c", "shortcut": "s", "incorrect": "i", "invalid": "n"}
MAX_OUTPUT_CHARS = 600
#: Items that get frame strips when the videos are not local files (2 strips of ~10 KB each).
MAX_FRAME_STRIPS = 150
STRIP_FRAMES, STRIP_HEIGHT = 6, 64


# --------------------------------------------------------------------------- benchmark location

def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_benchmark_pointer(output_dir: str | os.PathLike, data: Any) -> bool:
    """Record in ``output_dir/benchmark.json`` where the benchmark ``data`` is: the absolute path of
    a local folder, or a Hub id as given. Returns whether the file changed (datasets passed as
    objects leave no pointer)."""
    if not isinstance(data, (str, os.PathLike)):
        return False
    local = Path(data).expanduser()
    value = {"data": str(local.resolve()), "kind": "folder"} if local.exists() else {"data": str(data), "kind": "hub"}
    if read_benchmark_pointer(output_dir) == value["data"]:
        return False
    _write_text(Path(output_dir) / BENCHMARK_POINTER, json.dumps(value, indent=2) + "\n")
    return True


def read_benchmark_pointer(output_dir: str | os.PathLike) -> str | None:
    path = Path(output_dir) / BENCHMARK_POINTER
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("data")
    except (OSError, ValueError, AttributeError):
        return None


def _load_rows(data: str | None, item_ids: set[str]) -> tuple[dict[str, dict], str]:
    """``{item_id: {"clean": row, "adversarial": row}}`` of a local built folder, and a note for
    the page when the benchmark's texts and videos are not at hand."""
    from temrobbench.hub.layout import is_built_folder, read_local_split

    if not data:
        return {}, ("The benchmark of this run is not recorded (an evaluation from the Python API, or one older than this page): "
                    "the items show the model's answers only. Run `temrobbench report RESULTS_DIR --data BENCHMARK_DIR` to add videos and options.")
    if not is_built_folder(data):
        if Path(data).exists():
            return {}, f"{data} is not a built benchmark folder: the items show the model's answers only."
        download = (f"download it (`huggingface-cli download --repo-type dataset {data} --local-dir DIR`) and run "
                    "`temrobbench report RESULTS_DIR --data DIR`")
        try:
            pairs = _hub_items(data)
        except Exception as err:  # noqa: BLE001 - offline, not found, gated: the page says so and shows the answers
            return {}, (f"The benchmark is {data} (not a local folder here) and could not be read ({type(err).__name__}): the items show "
                        f"the model's answers only. To see texts and videos, {download}.")
        rows = {clean["id"]: {"clean": clean, "adversarial": adversarial} for clean, adversarial in pairs if clean["id"] in item_ids}
        return rows, (f"The benchmark is {data}, read through datasets: its MP4 files are not at hand, so videos show as frame strips "
                      f"for up to {MAX_FRAME_STRIPS} items, flipped ones first. To play the videos, {download}.")
    rows: dict[str, dict] = {}
    for config in ("intrinsic", "extrinsic"):
        for split in ("clean", "adversarial"):
            try:
                split_rows = read_local_split(data, config, split)
            except FileNotFoundError:
                continue
            for row in split_rows:
                if row["id"] in item_ids:
                    rows.setdefault(row["id"], {})[split] = row
    return rows, ""


def _hub_items(data: str) -> list[tuple[dict, dict]]:
    """(clean, adversarial) rows of a benchmark on the Hub, videos as embedded bytes; fails fast
    (instead of retrying for half a minute) when it is neither cached nor reachable."""
    from temrobbench.utils.hub_checks import check_local_or_hub
    from temrobbench.evaluation.data import load_items

    check_local_or_hub(data, f"benchmark {data}", "dataset")
    return load_items(data)


def frame_strip(video: Any, frames: int = STRIP_FRAMES, height: int = STRIP_HEIGHT) -> str | None:
    """A JPEG data URI of ``frames`` uniformly sampled frames side by side, or None when the video
    does not decode (``video``: a ``datasets`` Video value with bytes, or a path)."""
    import cv2
    import numpy as np

    from temrobbench.evaluation.frames import decode_frames

    try:
        sampled = decode_frames(video, frames)
    except Exception:  # noqa: BLE001 - an undecodable video gets no strip, the page says so
        return None
    scaled = [cv2.resize(f, (max(1, round(f.shape[1] * height / f.shape[0])), height), interpolation=cv2.INTER_AREA) for f in sampled]
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(np.hstack(scaled), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii") if ok else None


# --------------------------------------------------------------------------- page data

def _roles(roles: Sequence[str]) -> str:
    return "".join(ROLE_CODES.get(r, "i") for r in roles)


def _outcome(clean: dict | None, adversarial: dict | None) -> str:
    if clean is None or adversarial is None:
        return "missing"
    if clean["role"] == "invalid" or adversarial["role"] == "invalid":
        return "invalid"
    if clean["role"] != "correct":
        return "clean_wrong"
    return {"correct": "held", "shortcut": "shortcut"}.get(adversarial["role"], "incorrect")


def _query(record: dict) -> list:
    """One query, compact: [round (-1 = clean), letter, stored option index, role code, margin, output, error],
    without trailing nulls."""
    choice, order = record.get("choice"), record.get("order") or []
    index = None
    if isinstance(choice, str) and len(choice) == 1 and 0 <= ord(choice) - ord("A") < len(order):
        index = order[ord(choice) - ord("A")]
    output = record.get("output")
    output = None if output is None or str(output).strip() == choice else str(output)[:MAX_OUTPUT_CHARS]
    margin = record.get("shortcut_margin")
    error = record.get("error") or record.get("invalid_reason")
    query = [-1 if record["setting"] == "clean" else int(record["round"]), choice, index, ROLE_CODES.get(record.get("role"), "n"),
             None if margin is None else round(float(margin), 3), output, None if not error else redact(error)[:200]]
    while query[-1] is None:  # trailing nulls left out: 8,430 queries a run add up
        query.pop()
    return query


def _run_answers(records: Sequence[dict], rounds: int) -> dict[str, dict]:
    by_item: dict[str, list[dict]] = {}
    for record in records:
        by_item.setdefault(record["item_id"], []).append(record)
    answers = {}
    for item_id, item_records in by_item.items():
        item_records.sort(key=lambda r: (r["setting"] != "clean", int(r["round"])))
        clean = next((r for r in item_records if r["setting"] == "clean"), None)
        adv0 = next((r for r in item_records if r["setting"] == "adversarial" and int(r["round"]) == 0), None)
        margins = [r["shortcut_margin"] for r in item_records if r["setting"] == "adversarial" and r.get("shortcut_margin") is not None]
        answers[item_id] = {
            "o": _outcome(clean, adv0),
            "k": sum(1 for r in item_records if r["setting"] == "adversarial" and r.get("role") == "correct"),
            "m": None if not margins else round(sum(margins) / len(margins), 3),
            "q": [_query(r) for r in item_records],
        }
    return answers


def _item(item_id: str, records: Sequence[dict], pair: dict | None, page_dir: Path, data: str | None, strip: bool = False) -> dict:
    first = records[0]
    item = {"id": item_id, "p": first["perturbation"], "c": first["category"], "v": first.get("video_id", "")}
    if not pair or "clean" not in pair or "adversarial" not in pair:
        return item
    clean, adversarial = pair["clean"], pair["adversarial"]

    def video(row: dict) -> dict:
        if row["video"].get("bytes"):  # read through datasets: no file to play
            return {"strip": frame_strip(row["video"]) if strip else None, "ok": False}
        path = Path(row["video"]["path"])
        if not path.is_absolute():
            path = Path(data) / path
        return {"src": Path(os.path.relpath(path, page_dir)).as_posix(), "ok": path.is_file()}

    item.update(
        t=clean.get("task", ""), q=clean["question"], o=list(clean["options"]), rc=_roles(clean["option_roles"]),
        ra=_roles(adversarial["option_roles"]), dc=list(clean.get("descriptions") or []), da=list(adversarial.get("descriptions") or []),
        e=list(clean.get("events") or []), ec=list(clean.get("order") or []), ea=list(adversarial.get("order") or []),
        vc=video(clean), va=video(adversarial),
    )
    return item


def explorer_data(runs: Sequence[Any], labels: Sequence[str], page_dir: str | os.PathLike, data: str | None) -> tuple[dict, str]:
    """The JSON the page embeds, and the note on the benchmark (empty when videos and texts are
    at hand). ``runs``: :class:`EvalReport` objects with their records."""
    page_dir = Path(page_dir).resolve()
    if data and Path(data).expanduser().exists():
        data = str(Path(data).expanduser().resolve())
    by_item: dict[str, list[dict]] = {}
    for report in runs:
        for record in report.records:
            by_item.setdefault(record["item_id"], []).append(record)
    pairs, note = _load_rows(data, set(by_item))
    if data and not note and len(pairs) < len(by_item):
        note = f"{len(by_item) - len(pairs)} of {len(by_item)} evaluated items are not in {data} (another build?): they show the answers only."
    order = {name: i for i, name in enumerate(("intrinsic", "extrinsic"))}
    item_ids = sorted(by_item, key=lambda i: (order.get(by_item[i][0]["perturbation"], 9), i))
    # Frame strips (videos not at hand as files): the most telling items first, flips before holds.
    first_run = _run_answers(runs[0].records, runs[0].rounds) if runs else {}
    priority = {"shortcut": 0, "incorrect": 1, "invalid": 2, "clean_wrong": 3, "held": 4}
    striped = set(sorted(pairs, key=lambda i: (priority.get(first_run.get(i, {}).get("o"), 5), i))[:MAX_FRAME_STRIPS])
    items = [_item(i, by_item[i], pairs.get(i), page_dir, data, strip=i in striped) for i in item_ids]
    run_data = []
    for report, label in zip(runs, labels):
        answers = _run_answers(report.records, report.rounds)
        counts = Counter(answers[i]["o"] if i in answers else "missing" for i in item_ids)
        run_data.append({"label": label, "model": report.model, "scoring": report.scoring, "rounds": report.rounds,
                         "a": answers, "counts": dict(counts)})
    return {"items": items, "runs": run_data, "outcomes": OUTCOMES, "version": 1}, note


# --------------------------------------------------------------------------- markdown and assets

def markdown_to_html(text: str) -> str:
    """The small markdown of ``report.md``: pipe tables, ``##`` headings, paragraphs, ``**bold**``,
    `` `code` `` and ``*em*``. Everything is escaped first."""

    def inline(s: str) -> str:
        s = html.escape(s.strip(), quote=False)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)
        return re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", s)

    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c for c in lines[i].strip().strip("|").split("|")])
                i += 1
            header, body = block[0], [r for r in block[1:] if not all(set(c.strip()) <= set("-:") for c in r)]
            out.append("<table class='metrics'><thead><tr>" + "".join(f"<th>{inline(c)}</th>" for c in header) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in body) + "</tbody></table>")
            continue
        if line.startswith("#"):
            out.append(f"<h3>{inline(line.lstrip('#'))}</h3>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _plots(folder: Path) -> list[dict[str, str]]:
    plots = []
    for name in PLOT_FILES:
        path = folder / name
        if path.is_file():
            plots.append({"name": name, "uri": "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")})
    return plots


def script_json(value: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``</`` (which would end
    the element), no ``<!--``, and the two line separators JavaScript once choked on."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _summary_row(report: Any, label: str) -> list[str]:
    
    its, ets = report.metrics["intrinsic"], report.metrics["extrinsic"]
    return [label, percent(its["clean_acc"]), adv_with_drop(its), percent(its["fr"]), percent(its["wfr"]), percent(ets["clean_acc"]),
            adv_with_drop(ets), percent(ets["fr"]), percent(ets["wfr"]), percent(its["t_acc"]), percent(ets["t_acc"])]


# --------------------------------------------------------------------------- the page

def render_explorer(runs: Sequence[Any], folders: Sequence[str | os.PathLike], page_path: str | os.PathLike, *,
                    data: str | None = None, reference: str | None = None, labels: Sequence[str] | None = None) -> str:
    """The HTML of the explorer page for ``runs`` (EvalReports with records) saved in ``folders``,
    to be written at ``page_path`` (video paths are relative to its folder). ``data``: the
    benchmark (default: the first folder's ``benchmark.json``)."""
    import jinja2
    from markupsafe import Markup


    page_dir = Path(page_path).resolve().parent
    folders = [Path(f) for f in folders]
    if data is None:
        data = next((d for d in (read_benchmark_pointer(f) for f in folders) if d), None)
    elif Path(data).expanduser().exists():
        data = str(Path(data).expanduser().resolve())
    if labels is None:
        labels = _labels(runs, folders)
    payload, note = explorer_data(runs, labels, page_dir, data)
    if reference:
        from temrobbench.reference import reference_markdown
    sections = [{"label": label, "folder": str(folder), "markdown": Markup(markdown_to_html(report.to_markdown())),
                 "reference": Markup(markdown_to_html(reference_markdown(report, reference))) if reference else "",
                 "plots": _plots(folder)} for report, label, folder in zip(runs, labels, folders)]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent)), autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("explorer.html.j2").render(
        title=("Compare: " + " vs ".join(labels)) if len(runs) > 1 else f"TemRobBench: {labels[0]}",
        compare=len(runs) > 1,
        summary_header=["Run", "ITS Clean Acc", "ITS Adv Acc (Δ)", "ITS FR", "ITS WFR", "ETS Clean Acc", "ETS Adv Acc (Δ)", "ETS FR", "ETS WFR", "ITS T-Acc", "ETS T-Acc"],
        summary_rows=[_summary_row(r, label) for r, label in zip(runs, labels)],
        sections=sections,
        note=note,
        data_location=data or "",
        payload=Markup(script_json(payload)),
    )


def _labels(runs: Sequence[Any], folders: Sequence[Path]) -> list[str]:
    names = [r.model or f.name for r, f in zip(runs, folders)]
    if len(set(names)) < len(names):  # the same model twice (e.g. before and after training): name the folders
        names = [f"{n} ({f.name})" for n, f in zip(names, folders)]
    return names


def write_explorer(page_path: str | os.PathLike, runs: Sequence[Any], folders: Sequence[str | os.PathLike], *,
                   data: str | None = None, reference: str | None = None) -> Path:
    """Render and write the page atomically; returns its path."""
    page_path = Path(page_path)
    page_path.parent.mkdir(parents=True, exist_ok=True)
    _write_text(page_path, render_explorer(runs, folders, page_path, data=data, reference=reference))
    return page_path
