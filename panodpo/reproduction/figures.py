"""Figures of the mini reproduction: ``results.png`` (T-Acc and FR per row and world) and
``margins.png`` (the paper's Fig. 7 analogue: the shortcut margin on adversarial ITS items)."""

from __future__ import annotations

import statistics
from pathlib import Path

from panodpo.reproduction.report import rows_in


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(label: str) -> str:
    """``mixed`` -> ``mixed world``; ``zero-shot/mixed`` -> ``mixed world, zero-shot``.

    >>> _title("zero-shot/mixed")
    'mixed world, zero-shot'
    """
    setup, _, world = label.rpartition("/")
    return f"{world} world" + (f", {setup}" if setup else "")


def plot_results(results: dict[str, list[dict]], path: Path) -> None:
    plt = _pyplot()
    worlds = [w for w, rs in results.items() if rs]
    fig, axes = plt.subplots(len(worlds), 2, figsize=(11, 4 * len(worlds)), squeeze=False)
    for axes_row, world in zip(axes, worlds):
        seed_results = results[world]
        rows = rows_in(seed_results)
        for ax, (group, title) in zip(axes_row, (("intrinsic", "ITS (video reordered)"), ("extrinsic", "ETS (descriptions reordered)"))):
            x = range(len(rows))
            for offset, metric, colour in ((-0.2, "t_acc", "tab:green"), (0.2, "fr", "tab:red")):
                values = [[r["metrics"][row][group][metric] or 0.0 for r in seed_results if row in r["metrics"]] for row in rows]
                means = [statistics.mean(v) for v in values]
                errors = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
                ax.bar([i + offset for i in x], means, width=0.4, yerr=errors, capsize=3, color=colour, label="T-Acc" if metric == "t_acc" else "FR")
                for i, v in enumerate(values):  # every seed, so that the spread is seen, not only summarized
                    ax.scatter([i + offset] * len(v), v, s=6, color="black", zorder=3)
            ax.set(xticks=list(x), ylim=(0, 105), ylabel="%", title=f"{_title(world)}: {title}")
            ax.set_xticklabels(rows, rotation=25, ha="right", fontsize=8)
    # One legend above the panels: inside an axis it hid the FR bars, which reach 100%.
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_margins(results: dict[str, list[dict]], path: Path) -> None:
    """Per world: the distribution of per-item shortcut margins (pooled over seeds) of each row,
    with each seed's mean as a dot; above 0 the model prefers what the video shows."""
    plt = _pyplot()
    worlds = [w for w, rs in results.items() if rs and all("margins" in r for r in rs)]
    if not worlds:
        return
    fig, axes = plt.subplots(1, len(worlds), figsize=(6.5 * len(worlds), 4.5), squeeze=False)
    for ax, world in zip(axes[0], worlds):
        seed_results = results[world]
        rows = rows_in(seed_results)
        pooled = [[m for r in seed_results if row in r["margins"] for m in r["margins"][row]["intrinsic"]["items"].values()] for row in rows]
        parts = ax.violinplot([p or [0.0] for p in pooled], positions=range(len(rows)), showmedians=True, widths=0.8)
        for body in parts["bodies"]:
            body.set_alpha(0.35)
        for i, row in enumerate(rows):
            means = [r["margins"][row]["intrinsic"]["mean"] for r in seed_results if row in r["margins"]]
            ax.scatter([i] * len(means), means, s=14, color="black", zorder=3, label="seed mean" if i == 0 else None)
        ax.axhline(0.0, color="grey", lw=0.8, ls="--")
        ax.set(xticks=list(range(len(rows))), ylabel="log p(correct) − log p(shortcut)", title=f"{_title(world)}: shortcut margin, adversarial ITS items")
        ax.set_xticklabels(rows, rotation=25, ha="right", fontsize=8)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
