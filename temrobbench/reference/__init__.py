"""The paper's published numbers, to read a new run against (docs/design.md, "Metrics").

Numbers (percent) transcribed from Liang et al., 2025, "Investigating and Enhancing the Robustness
of Large Multimodal Models Against Temporal Inconsistency" (arXiv:2505.14405), measured by its
authors on their own 562-video TemRobBench build (1,686 items):

- ``paper_table1.csv``: Table 1, 16 LMMs; ITS and ETS clean and adversarial accuracy, FR, WFR
  (``frames``: the frames each model was given; ``group``: 7B, 13B or closed-source).
- ``paper_table3_table5.csv``: Table 3 (SFT, Prompt, vanilla DPO, PanoDPO on LLaVA-OV-7B and
  LLaVA-Hound-7B) and Table 5 (ablations), T-Acc and FR.

They are package data (read with ``importlib.resources``), so reports work without the repository.
A run on another build, with other frames or another scoring, is not comparable decimal for decimal:
every rendering here says so and labels which rows are published.

>>> rows = paper_table1()
>>> len(rows), rows[-1]["model"], rows[-1]["its_fr"]
(16, 'GPT-4o', 82.3)
>>> [r["method"] for r in paper_preference() if r["table"] == 3][:4]
['SFT', 'Prompt', 'Vanilla DPO', 'PanoDPO']
"""

from __future__ import annotations

import csv
import io
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from temrobbench.utils.formatting import percent

PAPER_TITLE = "Investigating and Enhancing the Robustness of Large Multimodal Models Against Temporal Inconsistency"
CITATION = (
    'Liang et al., "Investigating and Enhancing the Robustness of Large Multimodal Models Against Temporal '
    'Inconsistency", arXiv:2505.14405, 2025'
)
BIBTEX = """@article{liang2025temporal,
  title   = {Investigating and Enhancing the Robustness of Large Multimodal Models Against Temporal Inconsistency},
  author  = {Liang and others},
  journal = {arXiv preprint arXiv:2505.14405},
  year    = {2025}
}"""
#: What the published numbers were measured on, said wherever they are shown.
PAPER_BUILD = "the paper's own 562-video TemRobBench build (1,686 items)"
REFERENCES = ("paper",)

_TEXT_COLUMNS = {"group", "model", "base_model", "method"}


def _read(name: str) -> list[dict[str, Any]]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        rows.append({k: (v if k in _TEXT_COLUMNS else (int(v) if k in ("frames", "table") else float(v))) for k, v in raw.items()})
    return rows


@lru_cache(maxsize=None)
def _table1() -> tuple[dict[str, Any], ...]:
    return tuple(_read("paper_table1.csv"))


@lru_cache(maxsize=None)
def _preference() -> tuple[dict[str, Any], ...]:
    return tuple(_read("paper_table3_table5.csv"))


def paper_table1() -> list[dict[str, Any]]:
    """Table 1 rows: ``group, model, frames, its_clean_acc, its_adv_acc, its_fr, its_wfr,
    ets_clean_acc, ets_adv_acc, ets_fr, ets_wfr`` (percent)."""
    return [dict(r) for r in _table1()]


def paper_preference() -> list[dict[str, Any]]:
    """Tables 3 and 5 rows: ``table, base_model, method, frames, its_t_acc, its_fr, ets_t_acc, ets_fr``."""
    return [dict(r) for r in _preference()]


def check_reference(name: str | None) -> str | None:
    """``name`` if it is a known reference (or None); a ValueError listing the valid ones otherwise."""
    if name is not None and name not in REFERENCES:
        raise ValueError(f"unknown reference {name!r}; valid: {', '.join(REFERENCES)}")
    return name


def _yours(metrics: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """The run's numbers under the column names of the paper's tables."""
    its, ets = metrics["intrinsic"], metrics["extrinsic"]
    return {
        "its_clean_acc": its["clean_acc"], "its_adv_acc": its["adv_acc"], "its_fr": its["fr"], "its_wfr": its["wfr"], "its_t_acc": its["t_acc"],
        "ets_clean_acc": ets["clean_acc"], "ets_adv_acc": ets["adv_acc"], "ets_fr": ets["fr"], "ets_wfr": ets["wfr"], "ets_t_acc": ets["t_acc"],
    }


def _lower_than(value: float | None, column: str) -> str:
    if value is None:
        return "–"
    return f"{sum(value < r[column] for r in _table1())} of {len(_table1())}"


def reference_markdown(report: Any, name: str = "paper") -> str:
    """The run of ``report`` (an :class:`~temrobbench.evaluation.EvalReport`) among the paper's
    Table 1 (sorted by ITS FR, lower is more robust) and Tables 3/5, with the citation."""
    check_reference(name)
    yours = _yours(report.metrics)
    label = f"**{report.model or 'your model'} (this run)**"
    n_its, n_ets = report.metrics["intrinsic"]["n"], report.metrics["extrinsic"]["n"]
    cols = ("its_clean_acc", "its_adv_acc", "its_fr", "its_wfr", "ets_clean_acc", "ets_adv_acc", "ets_fr", "ets_wfr")
    rows = [(r["its_fr"], f"| {r['model']} ({r['group']}) | published | {r['frames']} | " + " | ".join(percent(r[c]) for c in cols) + " |") for r in _table1()]
    rows.append((yours["its_fr"] if yours["its_fr"] is not None else float("inf"),
                 f"| {label} | this run: {n_its} ITS, {n_ets} ETS items | – | " + " | ".join(f"**{percent(yours[c])}**" for c in cols) + " |"))
    rows.sort(key=lambda r: r[0])
    lines = [
        "## Beside the paper's published numbers",
        "",
        f"Rows marked *published* are the numbers of {CITATION}, Table 1, measured by its authors on {PAPER_BUILD}. "
        f"Your row is this run ({report.scoring or 'unknown'} scoring, {report.rounds} rounds) on your build: another build, "
        "frame count or scoring moves numbers by several points, so read the ranking, not the decimals.",
        "",
        "| Model | Source | Frames | ITS Clean Acc | ITS Adv Acc | ITS FR | ITS WFR | ETS Clean Acc | ETS Adv Acc | ETS FR | ETS WFR |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *[line for _, line in rows],
        "",
        f"Your ITS FR is lower (more robust) than that of {_lower_than(yours['its_fr'], 'its_fr')} published models; "
        f"your ETS FR, than {_lower_than(yours['ets_fr'], 'ets_fr')}.",
        "",
        f"Preference optimization, published (Tables 3 and 5 of the paper, on {PAPER_BUILD}):",
        "",
        "| Table | Base model | Method | ITS T-Acc | ITS FR | ETS T-Acc | ETS FR |",
        "|---|---|---|---|---|---|---|",
        *[f"| {r['table']} | {r['base_model']} | {r['method']} | {percent(r['its_t_acc'])} | {percent(r['its_fr'])} | {percent(r['ets_t_acc'])} | {percent(r['ets_fr'])} |"
          for r in _preference()],
        f"| – | {label} | this run | **{percent(yours['its_t_acc'])}** | **{percent(yours['its_fr'])}** | **{percent(yours['ets_t_acc'])}** | **{percent(yours['ets_fr'])}** |",
        "",
        f"Cite: {CITATION}.",
    ]
    return "\n".join(lines)


def save_reference_plot(report: Any, output_dir: str | os.PathLike, name: str = "paper") -> Path:
    """``paper_reference.png``: clean accuracy against FR for ITS and ETS, the 16 published models
    as grey labelled points and this run as a red star. Needs matplotlib (the ``[plots]`` extra)."""
    check_reference(name)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yours = _yours(report.metrics)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, prefix, title in zip(axes, ("its", "ets"), ("Intrinsic (video) shortcut", "Extrinsic (text) shortcut")):
        for r in _table1():
            ax.scatter(r[f"{prefix}_clean_acc"], r[f"{prefix}_fr"], color="grey", s=18)
            ax.annotate(f"{r['model']}" + ("-13B" if r["group"] == "13B" else ""), (r[f"{prefix}_clean_acc"], r[f"{prefix}_fr"]),
                        fontsize=6, color="dimgrey", xytext=(3, 2), textcoords="offset points")
        x, y = yours[f"{prefix}_clean_acc"], yours[f"{prefix}_fr"]
        if x is not None and y is not None:
            ax.scatter(x, y, marker="*", s=180, color="tab:red", zorder=3, label=f"{report.model or 'your model'} (this run)")
            ax.legend(fontsize=8, loc="lower right")
        ax.set(xlabel="clean accuracy (%)", ylabel="FR (%)", xlim=(0, 105), ylim=(0, 105), title=title)
    fig.suptitle(f"Grey: published, {CITATION.split(',')[0]} 2025 (arXiv:2505.14405), Table 1, on the paper's 562-video build", fontsize=9)
    fig.tight_layout()
    path = Path(output_dir) / "paper_reference.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
