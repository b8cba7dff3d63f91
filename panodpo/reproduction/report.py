"""Markdown of the mini reproduction: per world, mean ± std over seeds, paired differences with
95% intervals and sign counts, the shortcut margin (the paper's Fig. 7 in numbers), run times."""

from __future__ import annotations

import statistics

from panodpo.reproduction.stats import COMPARED, format_interval, paired_comparisons

COLUMNS = (("intrinsic", "t_acc"), ("intrinsic", "fr"), ("light", "fr"), ("severe", "fr"), ("extrinsic", "t_acc"), ("extrinsic", "fr"))
PREFERENCE_BASELINES = ("vanilla DPO", "PanoDPO w/o DPOv", "PanoDPO w/o DPOt")


def cell(values: list[float | None], digits: int = 1) -> str:
    """Mean ± sample std (one value: itself; none: a dash).

    >>> cell([40.0, 60.0]), cell([3.0]), cell([None])
    ('50.0 ± 14.1', '3.0', '–')
    """
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    f = f"{{:.{digits}f}}"
    if len(values) == 1:
        return f.format(values[0])
    return f"{f.format(statistics.mean(values))} ± {f.format(statistics.stdev(values))}"


def rows_in(seed_results: list[dict]) -> list[str]:
    """Rows present in any seed, in order of first appearance (a partial run has some rows on fewer seeds)."""
    rows: list[str] = []
    for r in seed_results:
        rows += [row for row in r["metrics"] if row not in rows]
    return rows


def _with(seed_results: list[dict], row: str) -> list[dict]:
    return [r for r in seed_results if row in r["metrics"]]


def _margin(result: dict, row: str, key: str = "mean"):
    margins = result.get("margins", {}).get(row)
    return margins["intrinsic"][key] if margins else None


def summarize_world(seed_results: list[dict]) -> str:
    """Markdown in the layout of the paper's Tables 3 and 5, then the statistics."""
    first = seed_results[0]
    config = first["config"]
    seeds = ", ".join(str(r["seed"]) for r in seed_results)
    rows = rows_in(seed_results)
    world = first.get("world", config.get("world", "canonical"))
    fraction = config.get("noncanonical_fraction", 0.0)
    setup = config.get("setup", "in-format")
    title = f"World `{world}` ({100 * fraction:.0f}% of training videos in a non-canonical order), seeds {seeds}"
    lines = [f"### {'Zero-shot setup: ' if setup == 'zero-shot' else ''}{title}", ""]
    if setup == "zero-shot":
        lines += ["Trained (SFT and preference) on open questions about the training videos with free-text answers, in the "
                  "ShareGPTVideo-DPO layout, q' by the template misleading-question writer; evaluated on TemRobBench items it never saw.", ""]
    lines += [
        f"Preference settings: {config.get('pref_steps')} steps, batch {config.get('pref_batch')}, lr {config.get('pref_lr')}, "
        f"beta {config.get('beta')}, v' = {config.get('rejected_video_strategy')}. Percent; mean ± std over seeds; "
        f"choice scoring, {config['rounds']} rounds; ITS margin = mean log p(correct) - log p(shortcut) on adversarial ITS items (nats).",
        "",
        "| Method | ITS T-Acc | ITS FR | light FR | severe FR | ETS T-Acc | ETS FR | ITS margin |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        have = _with(seed_results, row)
        cells = [cell([r["metrics"][row][group][metric] for r in have]) for group, metric in COLUMNS]
        cells.append(cell([_margin(r, row) for r in have], 2))
        seeds_note = "" if len(have) == len(seed_results) else f" ({len(have)} seeds)"
        lines.append(f"| {row}{seeds_note} | " + " | ".join(cells) + " |")

    if "PanoDPO" in rows and len(seed_results) > 1:
        controls = [row for row in rows if row not in ("PanoDPO", "Prompt")]
        comparisons = {control: paired_comparisons([r for r in seed_results if "PanoDPO" in r["metrics"] and control in r["metrics"]],
                                                   "PanoDPO", [control])[control] for control in controls}
        lines += [
            "",
            "Paired differences PanoDPO − row, per seed (same SFT model, data and benchmark): mean [95% paired t-interval over "
            "seeds] and k/n, the seeds where the sign favours PanoDPO (lower FR, higher T-Acc and margin) out of the seeds compared.",
            "",
            "| PanoDPO − | " + " | ".join(f"Δ {name}" for name, _, _ in COMPARED) + " |",
            "|---|" + "---|" * len(COMPARED),
        ]
        for control in controls:
            lines.append(f"| {control} | " + " | ".join(format_interval(comparisons[control][name], 2 if "margin" in name else 1) for name, _, _ in COMPARED) + " |")

    # With other objectives beside PanoDPO (zero-shot rows: mDPO, VistaDPO, IPO-PanoDPO), each against vanilla DPO too.
    methods = [row for row in rows if row not in ("SFT", "vanilla DPO", "Prompt")]
    if "vanilla DPO" in rows and len(methods) > 1 and len(seed_results) > 1:
        lines += [
            "",
            "Paired differences row − vanilla DPO, per seed (same SFT model, data and benchmark): mean [95% paired t-interval "
            "over seeds] and k/n, the seeds where the sign favours the row.",
            "",
            "| row − vanilla DPO | " + " | ".join(f"Δ {name}" for name, _, _ in COMPARED) + " |",
            "|---|" + "---|" * len(COMPARED),
        ]
        for method in methods:
            both = [r for r in seed_results if method in r["metrics"] and "vanilla DPO" in r["metrics"]]
            if len(both) < 2:
                continue
            against = paired_comparisons(both, method, ["vanilla DPO"])["vanilla DPO"]
            lines.append(f"| {method} | " + " | ".join(format_interval(against[name], 2 if "margin" in name else 1) for name, _, _ in COMPARED) + " |")

    lines += ["", "Per seed, ITS FR / ITS T-Acc / ITS margin:", "", "| Method | " + " | ".join(f"seed {r['seed']}" for r in seed_results) + " |",
              "|---|" + "---|" * len(seed_results)]
    for row in rows:
        per_seed = []
        for r in seed_results:
            if row not in r["metrics"]:
                per_seed.append("–")
                continue
            its = r["metrics"][row]["intrinsic"]
            margin = _margin(r, row)
            per_seed.append(f"{its['fr']:.1f} / {its['t_acc']:.1f} / {'–' if margin is None else f'{margin:+.2f}'}" if its["fr"] is not None else "–")
        lines.append(f"| {row} | " + " | ".join(per_seed) + " |")

    lines += ["", "Shortcut margin on adversarial ITS items (the paper's Fig. 7; `margins.png`): mean and share of items whose margin "
              "favours the correct option (percent), mean ± std over seeds:", "",
              "| Method | mean margin | items with margin > 0 |", "|---|---|---|"]
    for row in rows:
        have = _with(seed_results, row)
        lines.append(f"| {row} | {cell([_margin(r, row) for r in have], 2)} | {cell([_margin(r, row, 'positive') for r in have])} |")

    lines += ["", "Where the flips go (ITS, adversarial round 0 of clean-correct items, percent):", "",
              "| Method | to shortcut | to incorrect | stays correct | clean ITS Acc |", "|---|---|---|---|---|"]
    for row in rows:
        have = _with(seed_results, row)
        flips = [r["metrics"][row]["intrinsic"]["flips_to"] for r in have]
        lines.append(f"| {row} | {cell([f['shortcut'] for f in flips])} | {cell([f['incorrect'] for f in flips])} | "
                     f"{cell([f['correct'] for f in flips])} | {cell([r['metrics'][row]['intrinsic']['clean_acc'] for r in have])} |")
    times = [(r["seed"], r.get("timings_s", {})) for r in seed_results]
    parts = [f"seed {seed}: {t['compute'] / 60:.1f} min" + (f" ({t['cpu'] / 60:.1f} CPU-min)" if "cpu" in t else "") for seed, t in times if "compute" in t]
    if parts:
        lines += ["", "Run time per seed (data + SFT + every row's training and evaluation, wall minutes as run, and one thread's "
                  "CPU minutes where recorded): " + ", ".join(parts)]
    return "\n".join(lines)


def _setup_of(seed_results: list[dict]) -> str:
    return seed_results[0]["config"].get("setup", "in-format")


SIDE_BY_SIDE_ROWS = ("SFT", "vanilla DPO", "PanoDPO")


def compare_setups(results: dict[str, list[dict]]) -> str:
    """Per world run in both setups: SFT, vanilla DPO and PanoDPO of the in-format and the zero-shot
    setup side by side, and PanoDPO − vanilla DPO with its paired interval in each ('' if no world has both)."""
    by_world: dict[str, dict[str, list[dict]]] = {}
    for seed_results in results.values():
        if seed_results:
            by_world.setdefault(seed_results[0]["world"], {})[_setup_of(seed_results)] = seed_results
    lines: list[str] = []
    for world, setups in by_world.items():
        if not {"in-format", "zero-shot"} <= set(setups):
            continue
        lines += [f"### World `{world}`: in-format beside zero-shot", "",
                  "Mean ± std over each setup's seeds (percent; margin in nats); Δ = PanoDPO − vanilla DPO, paired over seeds: "
                  "mean [95% interval] k/n.", "",
                  "| Setup | Method | ITS T-Acc | ITS FR | ETS T-Acc | ETS FR | ITS margin | clean ITS Acc |", "|---|---|---|---|---|---|---|---|"]
        for setup in ("in-format", "zero-shot"):
            seed_results = setups[setup]
            for row in SIDE_BY_SIDE_ROWS:
                have = _with(seed_results, row)
                if not have:
                    continue
                its = [r["metrics"][row]["intrinsic"] for r in have]
                ets = [r["metrics"][row]["extrinsic"] for r in have]
                lines.append(f"| {setup} ({len(have)} seeds) | {row} | {cell([m['t_acc'] for m in its])} | {cell([m['fr'] for m in its])} | "
                             f"{cell([m['t_acc'] for m in ets])} | {cell([m['fr'] for m in ets])} | {cell([_margin(r, row) for r in have], 2)} | "
                             f"{cell([m['clean_acc'] for m in its])} |")
        lines += ["", "| Setup | " + " | ".join(f"Δ {name}" for name, _, _ in COMPARED) + " |", "|---|" + "---|" * len(COMPARED)]
        for setup in ("in-format", "zero-shot"):
            both = [r for r in setups[setup] if "PanoDPO" in r["metrics"] and "vanilla DPO" in r["metrics"]]
            if len(both) < 1:
                continue
            comparison = paired_comparisons(both, "PanoDPO", ["vanilla DPO"])["vanilla DPO"]
            lines.append(f"| {setup} | " + " | ".join(format_interval(comparison[name], 2 if "margin" in name else 1) for name, _, _ in COMPARED) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def summarize_worlds(results: dict[str, list[dict]]) -> str:
    """Markdown of every setup and world run (keyed by folder: ``mixed``, ``zero-shot/mixed``), then
    the side-by-side of the setups where a world was run in both."""
    parts = ["## Mini reproduction", ""]
    for seed_results in results.values():
        if seed_results:
            parts += [summarize_world(seed_results), ""]
    side_by_side = compare_setups(results)
    if side_by_side:
        parts += [side_by_side, ""]
    return "\n".join(parts).rstrip()
