"""Choosing the preference settings on seeds that are never reported (``temrobbench reproduce --tune``).

Protocol: for each world and each tuning seed (100, 101, 102) the data, benchmark and SFT model are
made once (kept as ``sft.pt``); each configuration of :data:`GRID` then trains and evaluates only
the rows it compares, vanilla DPO and PanoDPO, and vanilla DPO is shared by configurations that
differ only in v'. The score of a configuration is the mean over tuning seeds of

    (FR(vanilla DPO) - FR(PanoDPO)) + (T-Acc(PanoDPO) - T-Acc(vanilla DPO))        (ITS, points)

among configurations whose PanoDPO keeps a clean ITS accuracy within 10 points of the SFT model's
(a method that forgets the task lowers FR for the wrong reason). The best one goes into
:data:`panodpo.reproduction.pipeline.TUNED`; the reported seeds 0-4 are run only with it.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from panodpo.reproduction.pipeline import MiniReproConfig, SeedRun, config_for
from panodpo.reproduction.report import cell

TUNING_SEEDS = (100, 101, 102)
# Small on purpose (the machine's budget): v' moved over the paper's ``shuffle`` and the two
# event-level reorderings, and the preference strength (learning rate) moved once. Configurations
# that differ only in v' share one vanilla DPO model.
GRID: tuple[dict[str, Any], ...] = (
    {"pref_steps": 200, "pref_lr": 5e-4, "beta": 0.1, "rejected_video_strategy": "shuffle_segments"},
    {"pref_steps": 200, "pref_lr": 5e-4, "beta": 0.1, "rejected_video_strategy": "swap_segments"},
    {"pref_steps": 200, "pref_lr": 5e-4, "beta": 0.1, "rejected_video_strategy": "shuffle"},
    {"pref_steps": 200, "pref_lr": 1e-3, "beta": 0.1, "rejected_video_strategy": "shuffle_segments"},
)
CLEAN_ACC_TOLERANCE = 10.0


def _name(settings: dict[str, Any]) -> str:
    return f"{settings['pref_steps']} steps, lr {settings['pref_lr']:g}, beta {settings['beta']:g}, v' = {settings['rejected_video_strategy']}"


def _score(runs: list[dict]) -> dict[str, Any]:
    """The comparison of one configuration over tuning runs (each: SFT, vanilla DPO, PanoDPO rows of one world and seed)."""
    its = lambda run, row, m: run[row]["metrics"]["intrinsic"][m]  # noqa: E731
    fr_gain = [its(r, "vanilla DPO", "fr") - its(r, "PanoDPO", "fr") for r in runs]
    tacc_gain = [its(r, "PanoDPO", "t_acc") - its(r, "vanilla DPO", "t_acc") for r in runs]
    acc_drop = [its(r, "SFT", "clean_acc") - its(r, "PanoDPO", "clean_acc") for r in runs]
    return {
        "score": statistics.mean(f + t for f, t in zip(fr_gain, tacc_gain)),
        "eligible": statistics.mean(acc_drop) <= CLEAN_ACC_TOLERANCE,
        "fr_gain": fr_gain, "tacc_gain": tacc_gain, "clean_acc_drop": acc_drop,
        "margin_gain": [r["PanoDPO"]["margins"]["intrinsic"]["mean"] - r["vanilla DPO"]["margins"]["intrinsic"]["mean"] for r in runs],
        "pano_fr": [its(r, "PanoDPO", "fr") for r in runs], "dpo_fr": [its(r, "vanilla DPO", "fr") for r in runs],
        "sft_fr": [its(r, "SFT", "fr") for r in runs], "runs": [f"{r['world']} {r['seed']}" for r in runs],
    }


def _best(scored: list[dict]) -> dict[str, Any]:
    candidates = [s for s in scored if s["eligible"]] or scored
    return dict(max(candidates, key=lambda s: s["score"])["settings"])


def tune(out_dir: str | Path, worlds=("canonical", "mixed"), seeds=TUNING_SEEDS, grid=GRID, overrides: dict | None = None,
         progress: bool = True, pooled: bool = False) -> tuple[str, dict[str, dict[str, Any]]]:
    """Run the grid; returns the markdown of ``tuning.md`` and the chosen settings per world.

    ``seeds``: the tuning seeds, or {world: seeds}. ``pooled``: one choice for every world, on all
    their tuning runs together (where a world has too few tuning seeds to choose on alone).
    """
    out = Path(out_dir)
    per_world_seeds = seeds if isinstance(seeds, dict) else {world: seeds for world in worlds}
    runs: dict[str, list[list[dict]]] = {}
    for world in worlds:
        runs[world] = [[] for _ in grid]
        for seed in per_world_seeds[world]:
            base = config_for(world, seed, **(overrides or {}))
            seed_run = SeedRun(out / world / f"seed{seed}", base, progress)
            sft = seed_run.row("SFT")
            for k, settings in enumerate(grid):
                config: MiniReproConfig = replace(base, **settings)
                dpo = seed_run.row("vanilla DPO", (0.0, 0.0, config.rejected_video_strategy), config)
                pano = seed_run.row("PanoDPO", (1.0, 1.0, config.rejected_video_strategy), config)
                runs[world][k].append({"world": world, "seed": seed, "SFT": sft, "vanilla DPO": dpo, "PanoDPO": pano})
    table: dict[str, dict] = {}
    for world in worlds:
        scored = [{"settings": settings, **_score(world_runs)} for settings, world_runs in zip(grid, runs[world])]
        table[world] = {"seeds": list(per_world_seeds[world]), "configs": scored, "chosen": _best(scored)}
    if pooled:
        scored = [{"settings": settings, **_score([r for world in worlds for r in runs[world][k]])} for k, settings in enumerate(grid)]
        choice = _best(scored)
        table["pooled"] = {"seeds": [f"{w} {s}" for w in worlds for s in per_world_seeds[w]], "configs": scored, "chosen": choice}
        for world in worlds:
            table[world]["chosen"] = choice
    chosen = {world: table[world]["chosen"] for world in worlds}
    markdown = _markdown(table, pooled)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tuning.md").write_text(markdown + "\n", encoding="utf-8")
    (out / "tuning.json").write_text(json.dumps(table, indent=2), encoding="utf-8")
    return markdown, chosen


def _markdown(table: dict[str, dict], pooled: bool) -> str:
    lines = ["## Tuning (seeds never reported)", "",
             "Score = mean over tuning runs of ITS (FR(vanilla DPO) − FR(PanoDPO)) + (T-Acc(PanoDPO) − T-Acc(vanilla DPO)), points; "
             f"eligible when PanoDPO's clean ITS accuracy stays within {CLEAN_ACC_TOLERANCE:.0f} points of SFT's. "
             "Cells: mean ± std over tuning runs."
             + (" One setting is chosen for both worlds, on all tuning runs pooled (last table)." if pooled else ""), ""]
    for name, entry in table.items():
        title = "All tuning runs pooled" if name == "pooled" else f"World `{name}`"
        lines += [f"### {title}: {', '.join(map(str, entry['seeds']))}", "",
                  "| Config | SFT FR | vanilla DPO FR | PanoDPO FR | FR gain | T-Acc gain | margin gain | clean-acc drop | score |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for s in entry["configs"]:
            mark = " (chosen)" if s["settings"] == entry["chosen"] and (name == "pooled" or not pooled) else ("" if s["eligible"] else " (not eligible)")
            lines.append(f"| {_name(s['settings'])}{mark} | {cell(s['sft_fr'])} | {cell(s['dpo_fr'])} | {cell(s['pano_fr'])} | {cell(s['fr_gain'])} | "
                         f"{cell(s['tacc_gain'])} | {cell(s['margin_gain'], 2)} | {cell(s['clean_acc_drop'])} | {s['score']:.1f} |")
        lines.append("")
    return "\n".join(lines).rstrip()
