"""EvalReport: metrics of one run as a Table-1-style markdown table, JSON and PNG plots."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from temrobbench import metrics as metrics_module
from temrobbench.items.categories import CATEGORIES, report_order
from temrobbench.evaluation.report.formatting import adv_with_drop
from temrobbench.utils.formatting import percent, signed

CATEGORY_ORDER = tuple(c.name for c in CATEGORIES)  # plot order: the categories table


@dataclass
class EvalReport:
    """Metrics (percent) per perturbation and category, with the run's identity."""

    model: str
    scoring: str
    rounds: int
    metrics: dict[str, dict[str, Any]]
    num_records: int = 0
    num_errors: int = 0
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: Why ``save`` wrote no plots (None when it wrote them), for the commands to say so.
    plots_skipped: str | None = field(default=None, repr=False)

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]], *, model: str = "", scoring: str = "", rounds: int = 4) -> "EvalReport":
        records = list(records)
        if records and not model:
            model, scoring = records[0].get("model", ""), records[0].get("scoring", "")
        return cls(
            model=model,
            scoring=scoring,
            rounds=rounds,
            metrics=metrics_module.compute(records, rounds=rounds),
            num_records=len(records),
            num_errors=sum(1 for r in records if r.get("error")),
            records=records,
        )

    def to_markdown(self, reference: str | None = None) -> str:
        """The paper's Table 1 layout (ITS and ETS: Clean Acc, Adv Acc with the drop, FR, WFR;
        then T-Acc), and a per-category table. ``reference="paper"`` adds the paper's published
        Tables 1, 3 and 5 with this run placed among them (``temrobbench.reference``)."""
        from temrobbench.reference import check_reference

        check_reference(reference)
        its, ets = self.metrics["intrinsic"], self.metrics["extrinsic"]
        lines = [
            f"Model: `{self.model}` (scoring: {self.scoring}, {self.rounds} adversarial rounds)",
            "",
            "| Model | ITS Clean Acc | ITS Adv Acc (Δ) | ITS FR | ITS WFR | ETS Clean Acc | ETS Adv Acc (Δ) | ETS FR | ETS WFR | ITS T-Acc | ETS T-Acc |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {self.model} | {percent(its['clean_acc'])} | {adv_with_drop(its)} | {percent(its['fr'])} | {percent(its['wfr'])} | "
            f"{percent(ets['clean_acc'])} | {adv_with_drop(ets)} | {percent(ets['fr'])} | {percent(ets['wfr'])} | {percent(its['t_acc'])} | {percent(ets['t_acc'])} |",
            "",
            "| Group | n | Clean Acc | Adv Acc (Δ) | FR | WFR | T-Acc | Invalid |" + (" Shortcut margin |" if self.scoring == "likelihood" else ""),
            "|---|---|---|---|---|---|---|---|" + ("---|" if self.scoring == "likelihood" else ""),
        ]
        for name in report_order():
            m = self.metrics[name]
            row = f"| {name} | {m['n']} | {percent(m['clean_acc'])} | {adv_with_drop(m)} | {percent(m['fr'])} | {percent(m['wfr'])} | {percent(m['t_acc'])} | {percent(m['invalid_rate'])} |"
            if self.scoring == "likelihood":
                margin = m.get("shortcut_margin")
                row += f" {'–' if margin is None else signed(margin, 3)} |"
            lines.append(row)
        if self.num_errors:
            lines += ["", f"{self.num_errors} queries failed with an error (counted invalid); rerun to retry them."]
        lines += self._cost_lines()
        if reference:
            from temrobbench.reference import reference_markdown

            lines += ["", reference_markdown(self, reference)]
        return "\n".join(lines)

    @property
    def summary(self) -> dict[str, Any]:
        """Requests, token usage, truncated answers and invalid answers by reason (``metrics.run_summary``)."""
        return metrics_module.run_summary(self.records)

    def _cost_lines(self) -> list[str]:
        s, lines = self.summary, []
        if s["truncated"]:
            other = sum(s["invalid_by_reason"].values()) - s["truncated_invalid"]
            lines += ["", f"{s['truncated']} answers were cut off at the token budget (finish_reason length), {s['truncated_invalid']} of them "
                          f"before naming an option (counted invalid, apart from {other} other invalid queries): raise max_new_tokens (--model-args)."]
        if s["requests"]:
            u = s["usage"]
            reasoning = f", {u['reasoning_tokens']} of them reasoning" if "reasoning_tokens" in u else ""
            lines += ["", f"Usage: {s['requests']} requests for {s['queries']} queries; {u.get('prompt_tokens', 0)} prompt and "
                          f"{u.get('completion_tokens', 0)} completion tokens{reasoning}."]
        return lines

    def to_json(self) -> str:
        return json.dumps(
            {"model": self.model, "scoring": self.scoring, "rounds": self.rounds, "num_records": self.num_records, "num_errors": self.num_errors, "metrics": self.metrics,
             "summary": self.summary},
            indent=2,
        )

    def save_plots(self, output_dir: str | os.PathLike) -> list[Path]:
        """``accuracy.png`` (clean vs adversarial accuracy and FR/WFR per category) and, in
        likelihood scoring, ``shortcut_margin.png``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        output_dir = Path(output_dir)
        paths = []
        names = list(CATEGORY_ORDER)
        value = lambda name, key: self.metrics[name][key] or 0.0  # noqa: E731
        fig, (ax_acc, ax_fr) = plt.subplots(1, 2, figsize=(10, 4.2))
        x = range(len(names))
        labels = [f"{n}\n(n={self.metrics[n]['n']})" for n in names]
        ax_acc.bar([i - 0.2 for i in x], [value(n, "clean_acc") for n in names], width=0.4, label="clean")
        ax_acc.bar([i + 0.2 for i in x], [value(n, "adv_acc") for n in names], width=0.4, label="adversarial")
        ax_acc.axhline(25, color="grey", linestyle=":", linewidth=1, label="chance")
        ax_acc.set(xticks=list(x), xticklabels=labels, ylabel="accuracy (%)", ylim=(0, 105), title="Accuracy (round 0)")
        ax_acc.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
        ax_fr.bar([i - 0.2 for i in x], [value(n, "fr") for n in names], width=0.4, label="FR (to shortcut)", color="tab:red")
        ax_fr.bar([i + 0.2 for i in x], [value(n, "wfr") for n in names], width=0.4, label="WFR (to any wrong)", color="tab:orange")
        ax_fr.set(xticks=list(x), xticklabels=labels, ylabel="% of clean-correct items", ylim=(0, 105), title="Flips under temporal inconsistency")
        ax_fr.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
        fig.suptitle(self.model, fontsize=10)
        fig.tight_layout()
        paths.append(output_dir / "accuracy.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
        margins = [r["shortcut_margin"] for r in self.records if r.get("shortcut_margin") is not None]
        if self.scoring == "likelihood" and margins:
            fig, ax = plt.subplots(figsize=(5, 3.5))
            ax.hist(margins, bins=30, color="tab:purple")
            ax.axvline(0, color="black", linewidth=1)
            ax.set(xlabel="log p(correct) − log p(shortcut)", ylabel="adversarial queries", title="Shortcut margin (< 0: prefers the shortcut)")
            fig.tight_layout()
            paths.append(output_dir / "shortcut_margin.png")
            fig.savefig(paths[-1], dpi=120)
            plt.close(fig)
        return paths

    def save(self, output_dir: str | os.PathLike, reference: str | None = None, data: str | None = None) -> list[Path]:
        """Write ``metrics.json``, ``report.md``, the plots and ``report.html`` (the explorer of the
        items, ``evaluation.explorer``) into ``output_dir``; with ``reference="paper"``, the report
        and ``paper_reference.png`` place this run among the paper's published numbers. ``data``:
        the benchmark the page shows videos and options from (default: the folder's
        ``benchmark.json``, written by ``temrobbench eval``)."""
        from temrobbench.evaluation.records import naming

        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        with naming(output_dir / "metrics.json"):
            (output_dir / "metrics.json").write_text(self.to_json(), encoding="utf-8")
        with naming(output_dir / "report.md"):
            (output_dir / "report.md").write_text(self.to_markdown(reference) + "\n", encoding="utf-8")
        paths = [output_dir / "metrics.json", output_dir / "report.md"]
        try:
            with naming(output_dir):
                paths += self.save_plots(output_dir)
            if reference:
                from temrobbench.reference import save_reference_plot

                paths.append(save_reference_plot(self, output_dir, reference))
        except ImportError:  # matplotlib is optional (the [plots] extra)
            self.plots_skipped = "plots not written: matplotlib is not installed (pip install 'temrobbench[plots]')"
        from temrobbench.evaluation.report.explorer import write_explorer

        with naming(output_dir / "report.html"):
            paths.append(write_explorer(output_dir / "report.html", [self], [output_dir], data=data, reference=reference))
        return paths
