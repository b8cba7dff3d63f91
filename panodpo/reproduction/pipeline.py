"""Mini reproduction: the temporal shortcut appears, and PanoDPO is measured against it, on 2 CPU cores.

1. Two worlds with a strong prior (:mod:`temrobbench.source.prior_world`, :mod:`.data`): every task has one
   canonical step order. In ``canonical`` every training video follows it; in ``mixed`` a quarter
   of them shows an edited order (the answer follows the video).
2. A tiny Qwen2-VL (hidden 64, 2 layers, vision depth 2, ~0.34M parameters) trained from scratch
   to answer generatively (SFT): the order of the steps as text (ITS questions), and a true
   "X" then "Y" statement given step descriptions (ETS questions).
3. Preference training of the SFT model with :class:`panodpo.PanoDPOTrainer`: chosen = the true
   answer, rejected = a wrong one; rejected video v' by ``rejected_video_strategy``; rejected
   question = one that states a wrong order (ITS) or descriptions out of order (ETS). Rows:
   vanilla DPO, PanoDPO, w/o DPOv, w/o DPOt (weights, not forks); other v' in the tuning grid.
4. TemRobBench built from a held-out canonical sample with ``temrobbench build``, evaluated with
   :func:`evaluate_temporal_robustness` in ``choice`` scoring (the log-likelihood of each option's
   text as the answer): SFT, Prompt (SFT + the trust-the-video system prompt) and the preference
   rows; the shortcut margin log p(correct) - log p(shortcut) from the option scores (:mod:`.stats`).

Two setups. ``in-format`` (above): SFT and preference rows are benchmark-style items of the
training videos. ``zero-shot`` (:mod:`.zero_shot`), the paper's protocol: SFT and preference rows
are open questions about the training videos with free-text answers, in the ShareGPTVideo-DPO
layout, prepared with ``panodpo prepare``'s code (template q'); rows SFT, vanilla DPO and PanoDPO
(:data:`~panodpo.reproduction.zero_shot.ZERO_SHOT_ROWS`: a name and ``PanoDPOConfig`` overrides);
the same benchmark, never seen in training. Its seeds live under ``zero-shot/<world>/seed<N>/``.

The preference hyperparameters of each world (:data:`TUNED`) were chosen on seeds 100-102
(:mod:`.tuning`), never on the reported seeds 0-4. Everything a seed computes is kept under its
folder (SFT model, each row's model, records, metrics) and read back on rerun.

``python examples/mini_reproduction.py --out DIR`` or ``temrobbench reproduce`` (a command this
package adds to ``temrobbench`` through the ``temrobbench.commands`` entry point).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from panodpo.reproduction.data import WORLDS, training_examples
from temrobbench.utils.formatting import percent

DEFAULT_SEEDS = (0, 1, 2, 3, 4)
COLUMNS = (("intrinsic", "t_acc"), ("intrinsic", "fr"), ("light", "fr"), ("severe", "fr"), ("extrinsic", "t_acc"), ("extrinsic", "fr"))


@dataclass
class MiniReproConfig:
    seed: int = 0
    world: str = "canonical"
    noncanonical_fraction: float = 0.0  # share of training videos shown in an edited order
    train_videos: int = 48
    test_videos: int = 48
    hidden_size: int = 64
    sft_steps: int = 500
    sft_batch: int = 32
    sft_lr: float = 1e-3
    pref_steps: int = 200
    pref_batch: int = 8
    pref_lr: float = 5e-4
    beta: float = 0.1
    rejected_video_strategy: str = "shuffle_segments"
    rounds: int = 4
    frames: int = 10  # 5 events x 2 frames: every frame of the world's videos
    # What the model is trained on: ``in-format`` (benchmark-style items of the training videos) or
    # ``zero-shot`` (open video QA in the ShareGPTVideo-DPO layout, :mod:`.zero_shot`).
    setup: str = "in-format"


SETUPS = ("in-format", "zero-shot")
# Worlds a setup runs when none are named: the zero-shot setup's rejected answers need videos that
# depart from their task's usual order, which only the mixed world has.
SETUP_WORLDS = {"in-format": ("canonical", "mixed"), "zero-shot": ("mixed",)}


# Preference hyperparameters per world, chosen on the tuning seeds 100-102 (see tuning.md of
# ``temrobbench reproduce --tune`` and the README): never on the reported seeds.
TUNED: dict[str, dict[str, Any]] = {
    "canonical": {"pref_steps": 200, "pref_lr": 5e-4, "beta": 0.1, "rejected_video_strategy": "shuffle_segments"},
    "mixed": {"pref_steps": 200, "pref_lr": 5e-4, "beta": 0.1, "rejected_video_strategy": "shuffle_segments"},
}

# The fields SFT and the data depend on: a seed folder holds one value of them.
DATA_FIELDS = ("seed", "world", "noncanonical_fraction", "train_videos", "test_videos", "hidden_size", "sft_steps", "sft_batch", "sft_lr", "rounds", "frames",
               "setup")


def identity(config: MiniReproConfig) -> dict[str, Any]:
    """The fields that name a run: every field, but ``setup`` only where it is not ``in-format``, so
    the files of in-format runs made before the zero-shot setup existed are read back as finished.

    >>> "setup" in identity(MiniReproConfig()), identity(MiniReproConfig(setup="zero-shot"))["setup"]
    (False, 'zero-shot')
    """
    fields = asdict(config)
    if fields["setup"] == "in-format":
        del fields["setup"]
    return fields


def same_run(recorded: dict | None, config: MiniReproConfig) -> bool:
    """Whether a recorded config (a seed's ``results.json``) is ``config``'s run; an explicit
    ``"setup": "in-format"`` and none are the same.

    >>> same_run({**identity(MiniReproConfig()), "setup": "in-format"}, MiniReproConfig())
    True
    """
    if not isinstance(recorded, dict):
        return False
    recorded = {k: v for k, v in recorded.items() if not (k == "setup" and v == "in-format")}
    return recorded == identity(config)


def setup_folder(setup: str, world: str) -> str:
    """Where a setup's seeds of a world live under ``--out`` (in-format: ``<world>``, as before).

    >>> setup_folder("in-format", "mixed"), setup_folder("zero-shot", "mixed")
    ('mixed', 'zero-shot/mixed')
    """
    return world if setup == "in-format" else f"{setup}/{world}"


def config_for(world: str, seed: int, **overrides: Any) -> MiniReproConfig:
    """The reported configuration of ``world`` (its tuned preference settings), with ``overrides``
    (``setup="zero-shot"`` among them: the zero-shot setup keeps the world's settings, see the docs)."""
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}; valid: {', '.join(WORLDS)}")
    if overrides.get("setup") not in (None, *SETUPS):
        raise ValueError(f"unknown setup {overrides['setup']!r}; valid: {', '.join(SETUPS)}")
    fields = {"seed": seed, "world": world, "noncanonical_fraction": WORLDS[world], **TUNED[world]}
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return MiniReproConfig(**fields)


def variants(config: MiniReproConfig) -> dict[str, tuple[float, float, str]]:
    """Preference rows: (video_loss_weight, text_loss_weight, rejected_video_strategy), the paper's
    Table 3 and 5 rows with the configured v' (the other v' are compared in the tuning grid)."""
    strategy = config.rejected_video_strategy
    return {
        "vanilla DPO": (0.0, 0.0, strategy),
        "PanoDPO": (1.0, 1.0, strategy),
        "PanoDPO w/o DPOv": (0.0, 1.0, strategy),
        "PanoDPO w/o DPOt": (1.0, 0.0, strategy),
    }


def preference_rows(config: MiniReproConfig) -> dict[str, tuple[float, float, str] | dict[str, Any]]:
    """The preference rows a seed trains: in-format, :func:`variants` (weights and v'); zero-shot,
    :data:`~panodpo.reproduction.zero_shot.ZERO_SHOT_ROWS` (``PanoDPOConfig`` overrides)."""
    if config.setup == "zero-shot":
        from panodpo.reproduction.zero_shot import ZERO_SHOT_ROWS

        return {name: dict(overrides) for name, overrides in ZERO_SHOT_ROWS.items()}
    return variants(config)


def base_rows(config: MiniReproConfig) -> tuple[str, ...]:
    """The rows evaluated without preference training (the zero-shot setup reports SFT alone)."""
    return ("SFT",) if config.setup == "zero-shot" else ("SFT", "Prompt")


def rows_of(config: MiniReproConfig) -> tuple[str, ...]:
    return (*base_rows(config), *preference_rows(config))


ROWS = rows_of(MiniReproConfig())
VARIANTS = variants(MiniReproConfig())


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name.replace(" ", "_"))


def _key(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]


def row_key(config: MiniReproConfig, row: str, variant: tuple[float, float, str] | dict[str, Any] | None) -> str:
    """Folder name of one row's model, records and metrics: what they depend on, hashed.

    Rows that share training settings share a folder (vanilla DPO does not depend on v'), so a
    tuning grid and the reported run reuse each other's work. A row given as ``PanoDPOConfig``
    overrides (zero-shot) is keyed on its name, its overrides and the shared settings.
    """
    if variant is None:
        return _slug(row.lower())
    if isinstance(variant, dict):
        shared = (config.pref_steps, config.pref_batch, float(config.pref_lr), float(config.beta), config.rejected_video_strategy)
        return f"{_slug(row.lower())}-{_key(sorted(variant.items()), *shared)}"
    weights = (float(variant[0]), float(variant[1]), variant[2] if variant[0] > 0 else None)  # 1 and 1.0: one key
    return f"{'pano' if variant[0] or variant[1] else 'dpo'}-{_key(weights, config.pref_steps, config.pref_batch, float(config.pref_lr), float(config.beta))}"


# ----------------------------------------------------------------------------------------------
# One seed
# ----------------------------------------------------------------------------------------------


class SeedRun:
    """One seed and world: its data, benchmark and SFT model, made once; then rows on demand.

    Each row (SFT, Prompt, or a preference variant with the config's settings) is trained and
    evaluated once and kept as ``rows/<key>/metrics.json``; asking again reads it back.
    """

    def __init__(self, out_dir: str | Path, config: MiniReproConfig, progress: bool = True):
        self.out = Path(out_dir)
        self.config = config
        where = setup_folder(config.setup, config.world)
        self.say = (lambda m: print(f"[{where} seed {config.seed}] {m}", flush=True)) if progress else (lambda m: None)
        self._ready = False
        self.log: list[dict] = []
        self.timings: dict[str, float] = {}

    def _data_config(self) -> dict:
        return {k: v for k, v in identity(self.config).items() if k in DATA_FIELDS}

    def prepare(self) -> None:
        if self._ready:
            return
        import torch

        from temrobbench.build.pipeline import BuildConfig, build_benchmark
        from temrobbench.source.eligibility import EligibilityRules
        from temrobbench.source.prior_world import PriorWorldConfig, synthesize_prior_world
        from temrobbench.build.video_io import EncodeSettings

        from panodpo.reproduction.training import sft_model

        warnings.filterwarnings("ignore")
        config = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        marker = self.out / "data.json"
        if marker.exists() and json.loads(marker.read_text(encoding="utf-8")) != self._data_config():
            raise ValueError(f"{self.out} holds a run with other data or SFT settings ({marker}); use another --out")
        marker.write_text(json.dumps(self._data_config(), indent=2), encoding="utf-8")
        torch.manual_seed(config.seed)
        started = time.time()
        world = PriorWorldConfig(num_videos=config.train_videos, seed=1, world_seed=config.seed, noncanonical_fraction=config.noncanonical_fraction)
        train_coin = synthesize_prior_world(self.out / "world-train", world)
        test_coin = synthesize_prior_world(self.out / "world-test", PriorWorldConfig(num_videos=config.test_videos, seed=2, world_seed=config.seed))
        self.bench = build_benchmark(
            test_coin, test_coin.parent / "videos", self.out / "benchmark",
            BuildConfig(num_videos=config.test_videos, seed=config.seed, rules=EligibilityRules(min_total_duration=0, max_total_duration=1e9),
                        encode=EncodeSettings(max_height=64)),
            progress=False,
        ).out_dir
        if config.setup == "zero-shot":
            from panodpo.reproduction.zero_shot import prepare_zero_shot_data

            # Open QA, written through `panodpo prepare`'s code; the dataset is what `panodpo train` reads.
            self.preference_rows, self.sft_examples, self.prepare_report = prepare_zero_shot_data(
                train_coin, train_coin.parent / "videos", self.out / "open-qa", config.seed)
        else:
            self.sft_examples, self.preference_rows = training_examples(train_coin, train_coin.parent / "videos", config.seed)
        self.timings["data"] = time.time() - started
        self.say(f"worlds and benchmark ready: {len(self.sft_examples)} SFT examples, {len(self.preference_rows)} preference rows ({self.timings['data']:.0f} s)")
        start, cpu = time.time(), time.process_time()
        cached = (self.out / "sft.pt").exists()
        self.model, self.processor = sft_model(config, self.sft_examples, self.log, cache=self.out / "sft.pt")
        record = self.out / "sft.json"  # how long SFT took when it ran (a read-back costs nothing)
        if cached and record.exists():
            self.timings.update(json.loads(record.read_text(encoding="utf-8")))
        else:
            self.timings.update({"sft": time.time() - start, "cpu sft": time.process_time() - cpu})
            if not cached:
                record.write_text(json.dumps({"sft": self.timings["sft"], "cpu sft": self.timings["cpu sft"]}), encoding="utf-8")
        what = "read back" if cached else f"{config.sft_steps} steps, final loss {self.log[-1]['loss']:.3f}"
        self.say(f"SFT: {what} ({self.timings['sft']:.0f} s)")
        self._ready = True

    def row(self, row: str, variant: tuple[float, float, str] | dict[str, Any] | None = None, config: MiniReproConfig | None = None) -> dict:
        """Metrics, shortcut margins and timings of one row (trained and evaluated at most once)."""
        config = config or self.config
        folder = self.out / "rows" / row_key(config, row, variant)
        done = folder / "metrics.json"
        if done.exists():
            return json.loads(done.read_text(encoding="utf-8"))
        self.prepare()
        import torch

        from temrobbench.evaluation import evaluate_temporal_robustness
        from temrobbench.evaluation.models.hf import HFVideoLM

        from panodpo.reproduction.stats import item_margins, margin_summary
        from panodpo.reproduction.training import train_preference

        timings = {}
        cpu = time.process_time()
        model = self.model
        if variant is not None:
            start = time.time()
            torch.manual_seed(config.seed)
            weights = folder / "model.pt"
            log: list[dict] = []
            if weights.exists():  # trained by a run killed during its evaluation
                import copy

                model = copy.deepcopy(self.model)
                model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
                model.eval()
            else:
                model = train_preference(self.model, self.processor, self.preference_rows, variant, config, folder / "trainer", log)
                torch.save(model.state_dict(), folder / "model.partial")
                (folder / "model.partial").replace(weights)
            timings["train"] = time.time() - start
        start = time.time()
        lm = HFVideoLM(model, self.processor, name=row)
        report = evaluate_temporal_robustness(lm, self.bench, num_frames=config.frames, rounds=config.rounds, scoring="choice",
                                              output_dir=folder / "eval", system_prompt=(row == "Prompt"), progress=False)
        timings["eval"] = time.time() - start
        timings["cpu"] = time.process_time() - cpu  # one thread's seconds: the wall time on a free core
        its_items, ets_items = item_margins(report.records, "intrinsic"), item_margins(report.records, "extrinsic")
        result = {
            "row": row, "variant": (dict(variant) if isinstance(variant, dict) else list(variant)) if variant else None,
            "settings": {k: getattr(config, k) for k in ("pref_steps", "pref_batch", "pref_lr", "beta")} if variant else None,
            "metrics": report.metrics,
            "margins": {"intrinsic": {**margin_summary(its_items), "items": its_items}, "extrinsic": margin_summary(ets_items)},
            "timings_s": timings, "training_log": log if variant is not None else [],
        }
        partial = done.with_suffix(".partial")
        partial.write_text(json.dumps(result, indent=2), encoding="utf-8")
        partial.replace(done)
        its = report.metrics["intrinsic"]
        self.say(f"{row}: ITS T-Acc {its['t_acc']:.1f}, FR {percent(its['fr'])}, margin {result['margins']['intrinsic']['mean']:+.2f} "
                 f"(train {timings.get('train', 0):.0f} s, eval {timings['eval']:.0f} s)")
        return result


def seed_cost(seed_timings: dict, rows: dict[str, dict]) -> dict[str, float]:
    """What a fresh run of the seed costs, whatever was read back: wall seconds (``compute``) and
    one thread's CPU seconds (``cpu``, where every part recorded it)."""
    cost = {"compute": seed_timings.get("data", 0) + seed_timings.get("sft", 0)
            + sum(v for r in rows.values() for k, v in r["timings_s"].items() if k in ("train", "eval"))}
    if "cpu sft" in seed_timings and all("cpu" in r["timings_s"] for r in rows.values()):
        cost["cpu"] = seed_timings["cpu sft"] + sum(r["timings_s"]["cpu"] for r in rows.values())
    return cost


def run_seed(out_dir: str | Path, config: MiniReproConfig, progress: bool = True) -> dict[str, Any]:
    """The whole pipeline for one seed and world; returns metrics and margins per row, and timings.

    A seed whose ``results.json`` was written by a finished run with the same config and holds
    every row is read back instead of rerun (the file is written last, atomically, so a killed run
    never counts as done); a killed run, or a seed a row was added to, resumes row by row.
    """
    out = Path(out_dir)
    finished = out / "results.json"
    if finished.exists():
        previous = json.loads(finished.read_text(encoding="utf-8"))
        # A row added since (an entry of ZERO_SHOT_ROWS) reopens the seed: its other rows are read back.
        if same_run(previous.get("config"), config) and set(rows_of(config)) <= set(previous.get("metrics", {})):
            if progress:
                print(f"[{config.world} seed {config.seed}] already finished: reading {finished}", flush=True)
            return previous
    started = time.time()
    seed_run = SeedRun(out, config, progress)
    rows = {name: seed_run.row(name) for name in base_rows(config)}
    for name, variant in preference_rows(config).items():
        rows[name] = seed_run.row(name, variant)
    timings = {**seed_run.timings, **{f"{kind} {name}": r["timings_s"][kind] for name, r in rows.items() for kind in r["timings_s"]}}
    timings["total"] = time.time() - started
    timings.update(seed_cost(seed_run.timings, rows))
    summary = {
        "seed": config.seed, "world": config.world, "config": identity(config),
        "metrics": {name: r["metrics"] for name, r in rows.items()},
        "margins": {name: r["margins"] for name, r in rows.items()},
        "timings_s": timings,
        "training_log": seed_run.log + [entry for r in rows.values() for entry in r["training_log"]],
    }
    partial = finished.with_suffix(".json.partial")
    partial.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    partial.replace(finished)
    return summary


def collect_seed(out_dir: str | Path, config: MiniReproConfig) -> dict[str, Any] | None:
    """What a seed has finished so far (its rows with ``config``'s settings), trained nothing; None if nothing.

    For a report of a run stopped early: the tables say on how many seeds each row stands.
    """
    out = Path(out_dir)
    finished = out / "results.json"
    if finished.exists():
        previous = json.loads(finished.read_text(encoding="utf-8"))
        if same_run(previous.get("config"), config) and set(rows_of(config)) <= set(previous.get("metrics", {})):
            return previous
    rows = {}
    for name, variant in [*((name, None) for name in base_rows(config)), *preference_rows(config).items()]:
        done = out / "rows" / row_key(config, name, variant) / "metrics.json"
        if done.exists():
            rows[name] = json.loads(done.read_text(encoding="utf-8"))
    if not rows:
        return None
    record = out / "sft.json"
    seed_timings = {"data": 0.0, **(json.loads(record.read_text(encoding="utf-8")) if record.exists() else {})}
    return {"seed": config.seed, "world": config.world, "config": identity(config), "partial": True,
            "metrics": {name: r["metrics"] for name, r in rows.items()}, "margins": {name: r["margins"] for name, r in rows.items()},
            "timings_s": {**seed_timings, **(seed_cost(seed_timings, rows) if len(rows) == len(rows_of(config)) else {})}}


# ----------------------------------------------------------------------------------------------
# All seeds and worlds
# ----------------------------------------------------------------------------------------------


def run(out_dir: str | Path, seeds=DEFAULT_SEEDS, worlds=None, overrides: dict | None = None, progress: bool = True,
        report_only: bool = False, setups=("in-format",)) -> str:
    """All setups, worlds and seeds; writes ``results.md``, ``results.json``, ``results.png`` and ``margins.png``.

    ``worlds``: the same worlds for every setup, or None for each setup's own (:data:`SETUP_WORLDS`).
    Results are keyed by their folder under ``out_dir`` (``mixed``, ``zero-shot/mixed``).
    ``report_only``: train nothing, report the rows finished so far (a run stopped early).
    """
    from panodpo.reproduction.figures import plot_margins, plot_results
    from panodpo.reproduction.report import summarize_worlds

    out = Path(out_dir)
    results: dict[str, list[dict]] = {}
    for setup in setups:
        for world in (worlds or SETUP_WORLDS[setup]):
            label = setup_folder(setup, world)
            results[label] = []
            for seed in seeds:
                config = config_for(world, seed, **{**(overrides or {}), "setup": setup})
                if report_only:
                    found = collect_seed(out / label / f"seed{seed}", config)
                    if found is not None:
                        results[label].append(found)
                    continue
                results[label].append(run_seed(out / label / f"seed{seed}", config, progress=progress))
                timing = results[label][-1]["timings_s"]
                cpu = f", {timing['cpu'] / 60:.1f} CPU-min" if "cpu" in timing else ""
                print(f"{label} seed {seed} done in {timing['total']:.0f} s (compute {timing['compute']:.0f} s{cpu})", flush=True)
    if not any(results.values()):
        raise ValueError(f"{out}: no finished seed or row to report")
    table = summarize_worlds(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(table + "\n", encoding="utf-8")
    slim = {label: [{k: v for k, v in r.items() if k != "training_log"} for r in rs] for label, rs in results.items()}
    (out / "results.json").write_text(json.dumps(slim, indent=2), encoding="utf-8")
    try:
        plot_results(results, out / "results.png")
        plot_margins(results, out / "margins.png")
    except ImportError:
        print("results.png, margins.png skipped: matplotlib is not installed (pip install 'temrobbench[plots]')", flush=True)
    return table


def summarize(seed_results: list[dict]) -> str:
    """Markdown table of one world over seeds (kept for callers of the one-world API)."""
    from panodpo.reproduction.report import summarize_world

    return summarize_world(seed_results)


def _cell(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


__all__ = ["DEFAULT_SEEDS", "MiniReproConfig", "ROWS", "SETUPS", "SETUP_WORLDS", "TUNED", "VARIANTS", "WORLDS", "SeedRun", "config_for", "identity",
           "preference_rows", "rows_of", "run", "run_seed", "setup_folder", "summarize", "variants"]
