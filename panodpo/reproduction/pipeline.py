"""Mini reproduction: the temporal shortcut appears, and PanoDPO reduces it, on 2 CPU cores.

1. A world with a strong prior (:mod:`temrobbench.prior_world`): every task has one step order.
2. A tiny Qwen2-VL (hidden 64, 2 layers, vision depth 2, ~0.34M parameters) trained from scratch
   to answer generatively (SFT): the order of the steps as text (ITS questions), and a true
   "X" then "Y" statement given step descriptions (ETS questions). All its training videos follow
   the canonical orders, so the order can be read from the task name alone: the prior.
3. Preference training of the SFT model with :class:`panodpo.PanoDPOTrainer`: chosen = the true
   answer, rejected = a wrong one; rejected video = the events shuffled as blocks; rejected
   question = one that states a wrong order (ITS) or descriptions out of order (ETS). Variants:
   vanilla DPO, PanoDPO, w/o DPOv, w/o DPOt (weights, not forks), and one extra row that is not
   the paper's: PanoDPO whose rejected video swaps one adjacent pair of events (the light edit's
   shape) instead of shuffling them all.
4. TemRobBench built from a held-out world sample with ``temrobbench build``, evaluated with
   :func:`evaluate_temporal_robustness` in ``choice`` scoring (the log-likelihood of each option's
   text as the answer): SFT, Prompt (SFT + the trust-the-video system prompt) and the five
   preference-trained models.

``python examples/mini_reproduction.py --out DIR --seeds 0 1`` or ``temrobbench reproduce`` (a command
this package adds to ``temrobbench`` through the ``temrobbench.commands`` entry point: the
reproduction drives both packages, so it lives in the upper one).
"""

from __future__ import annotations

import copy
import json
import random
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Preference-trained rows: (video_loss_weight, text_loss_weight, rejected_video_strategy). The
# paper's rows, then a variant (not a replacement): v' = one adjacent pair of events swapped, the
# shape of the light edit, instead of all events shuffled.
VARIANTS = {
    "vanilla DPO": (0.0, 0.0, "shuffle_segments"),
    "PanoDPO": (1.0, 1.0, "shuffle_segments"),
    "PanoDPO w/o DPOv": (0.0, 1.0, "shuffle_segments"),
    "PanoDPO w/o DPOt": (1.0, 0.0, "shuffle_segments"),
    "PanoDPO, v' = adjacent swap": (1.0, 1.0, "swap_segments"),
}
ROWS = ("SFT", "Prompt", *VARIANTS)
COLUMNS = (("intrinsic", "t_acc"), ("intrinsic", "fr"), ("light", "fr"), ("severe", "fr"), ("extrinsic", "t_acc"), ("extrinsic", "fr"))


@dataclass
class MiniReproConfig:
    seed: int = 0
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
    rounds: int = 4
    frames: int = 10  # 5 events x 2 frames: every frame of the world's videos


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


def _item_row(item, setting: str) -> dict:
    version = getattr(item, setting)
    return {"question": item.question, "options": list(item.options), "descriptions": list(version.descriptions), "option_roles": list(version.option_roles)}


def training_examples(coin_path: Path, videos_dir: Path, seed: int) -> tuple[list[dict], list[dict]]:
    """SFT examples and preference rows of the training world, in the benchmark's prompt format.

    Every prompt is a rendered item (question, options, instruction) exactly as evaluation shows
    it; the answer is the correct option's text. Items are the clean versions of TemRobBench's own
    items for the training videos (all 4 option rotations), so SFT never sees an edited video or
    out-of-order descriptions: it can learn each task's order, and to read the descriptions.
    Preference rows: chosen = the correct option, rejected = an incorrect one, rejected question =
    the same prompt led by a statement of a wrong order (ITS), or the adversarial descriptions (ETS).
    """
    from temrobbench.build import find_video_file
    from temrobbench.coin import load_coin
    from temrobbench.items import ItemInfeasible, build_ets_absolute_item, build_ets_relative_item, build_its_item
    from temrobbench.prompt import render_prompt, rotation

    annotations = load_coin(coin_path)
    task_steps = annotations.task_steps()
    rng = random.Random(f"mini-repro-data:{seed}")
    sft, preference = [], []
    for video in annotations.videos:
        path = str(find_video_file(videos_dir, video))
        events = [s.label for s in video.steps]
        items = [build_its_item(video.video_id, video.task, events, c, seed) for c in ("light", "severe")]
        for make in (lambda: build_ets_absolute_item(video.video_id, events, seed), lambda: build_ets_relative_item(video.video_id, video.task, events, task_steps, seed)):
            try:
                items.append(make())
            except ItemInfeasible:
                pass
        for k, item in enumerate(items):
            clean = _item_row(item, "clean")
            for r in range(4):
                rendered = render_prompt(clean, rotation(4, r))
                correct = rendered.options[rendered.roles.index("correct")]
                sft.append({"video": path, "question": rendered.text, "answer": correct})
            rendered = render_prompt(clean, rotation(4, rng.randrange(4)))
            correct = rendered.options[rendered.roles.index("correct")]
            wrong = rng.choice([o for o, role in zip(rendered.options, rendered.roles) if role != "correct"])
            if item.perturbation == "intrinsic":
                misleading = f"In this video the steps are done in the order {wrong}.\n{rendered.text}"
            else:
                misleading = render_prompt(_item_row(item, "adversarial"), rendered.order).text
            preference.append({"id": f"{video.video_id}_{k}", "video": path, "prompt": rendered.text, "chosen": correct, "rejected": wrong, "rejected_prompt": misleading})
    return sft, preference


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def train_sft(model, processor, examples: list[dict], config: MiniReproConfig, log: list) -> None:
    """Plain supervised fine-tuning on the answers (loss on answer tokens only)."""
    import torch

    from ..media import load_frames

    frames = {}
    encoded = []
    for example in examples:
        if example["video"] not in frames:
            frames[example["video"]] = load_frames(example["video"], config.frames)
        prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": example["question"]}]}],
                                               add_generation_prompt=True, tokenize=False)
        full = prompt + example["answer"] + processor.tokenizer.eos_token
        inputs = processor(text=[full], videos=[frames[example["video"]]], return_tensors="pt", do_sample_frames=False)
        prompt_length = processor(text=[prompt], videos=[frames[example["video"]]], return_tensors="pt", do_sample_frames=False)["input_ids"].shape[1]
        labels = inputs["input_ids"].clone()
        labels[:, :prompt_length] = -100
        encoded.append((inputs, labels))
    pad = processor.tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.sft_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 30))
    rng = random.Random(f"mini-repro-sft:{config.seed}")
    model.train()
    for step in range(config.sft_steps):
        batch = [encoded[rng.randrange(len(encoded))] for _ in range(config.sft_batch)]
        length = max(b[0]["input_ids"].shape[1] for b in batch)
        ids = torch.full((len(batch), length), pad)
        labels = torch.full((len(batch), length), -100)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        mm = torch.zeros((len(batch), length), dtype=torch.long)
        for row, (inputs, lab) in enumerate(batch):
            n = inputs["input_ids"].shape[1]
            ids[row, :n], labels[row, :n], mask[row, :n], mm[row, :n] = inputs["input_ids"][0], lab[0], 1, inputs["mm_token_type_ids"][0]
        out = model(input_ids=ids, attention_mask=mask, mm_token_type_ids=mm, labels=labels,
                    pixel_values_videos=torch.cat([b[0]["pixel_values_videos"] for b in batch]),
                    video_grid_thw=torch.cat([b[0]["video_grid_thw"] for b in batch]))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 100 == 0 or step == config.sft_steps - 1:
            log.append({"stage": "sft", "step": step, "loss": out.loss.item()})
    model.eval()


def train_preference(sft_model, processor, rows: list[dict], variant: tuple[float, float, str], config: MiniReproConfig, out_dir: Path, log: list):
    from datasets import Dataset

    from .. import PanoDPOConfig, PanoDPOTrainer

    model = copy.deepcopy(sft_model)
    args = PanoDPOConfig(
        output_dir=str(out_dir), max_steps=config.pref_steps, per_device_train_batch_size=config.pref_batch, learning_rate=config.pref_lr,
        beta=config.beta, video_loss_weight=variant[0], text_loss_weight=variant[1], num_frames=config.frames,
        rejected_video_strategy=variant[2], num_video_segments=5, frame_cache_size=4096, precompute_ref_log_probs=True,
        gradient_checkpointing=False, report_to=[], save_strategy="no", logging_steps=50, disable_tqdm=True, seed=config.seed,
        warmup_ratio=0.1, lr_scheduler_type="cosine", disable_dropout=True,
    )
    trainer = PanoDPOTrainer(model, args=args, train_dataset=Dataset.from_list(rows), processing_class=processor)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer.train()
    for entry in trainer.state.log_history:
        if "loss" in entry:
            log.append({"stage": str(variant), **{k: v for k, v in entry.items() if isinstance(v, (int, float))}})
    return trainer.model.eval()


# ----------------------------------------------------------------------------------------------
# One seed
# ----------------------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name.replace(" ", "_"))


def run_seed(out_dir: str | Path, config: MiniReproConfig, progress: bool = True) -> dict[str, Any]:
    """The whole pipeline for one seed; returns metrics per row (and timings).

    A seed whose ``results.json`` was written by a finished run with the same config is read back
    instead of rerun (the file is written last, atomically, so a killed run never counts as done).
    """
    import torch

    from temrobbench.build import BuildConfig, build_benchmark
    from temrobbench.eligibility import EligibilityRules
    from temrobbench.evaluation import evaluate_temporal_robustness
    from temrobbench.evaluation.models.hf import HFVideoLM
    from temrobbench.prior_world import PriorWorldConfig, synthesize_prior_world
    from temrobbench.tiny_models import build_tiny_qwen2vl
    from temrobbench.video_io import EncodeSettings

    warnings.filterwarnings("ignore")
    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(out_dir)
    say = (lambda message: print(f"[seed {config.seed}] {message}", flush=True)) if progress else (lambda message: None)
    finished = out / "results.json"
    if finished.exists():
        previous = json.loads(finished.read_text(encoding="utf-8"))
        if previous.get("config") == asdict(config):
            say(f"already finished: reading {finished}")
            return previous
    timings: dict[str, float] = {}
    started = time.time()
    train_coin = synthesize_prior_world(out / "world-train", PriorWorldConfig(num_videos=config.train_videos, seed=1, world_seed=config.seed))
    test_coin = synthesize_prior_world(out / "world-test", PriorWorldConfig(num_videos=config.test_videos, seed=2, world_seed=config.seed))
    bench = build_benchmark(
        test_coin, test_coin.parent / "videos", out / "benchmark",
        BuildConfig(num_videos=config.test_videos, seed=config.seed, rules=EligibilityRules(min_total_duration=0, max_total_duration=1e9),
                    encode=EncodeSettings(max_height=64)),
        progress=False,
    ).out_dir
    sft_examples, preference_rows = training_examples(train_coin, train_coin.parent / "videos", config.seed)
    timings["data"] = time.time() - started
    say(f"worlds and benchmark ready: {len(sft_examples)} SFT examples, {len(preference_rows)} preference rows ({timings['data']:.0f} s)")

    log: list[dict] = []
    start = time.time()
    model, processor = build_tiny_qwen2vl(hidden_size=config.hidden_size, num_layers=2, vision_depth=2, vision_dim=64, frame_size=56, seed=config.seed)
    train_sft(model, processor, sft_examples, config, log)
    timings["sft"] = time.time() - start
    say(f"SFT: {config.sft_steps} steps, final loss {log[-1]['loss']:.3f} ({timings['sft']:.0f} s)")

    models = {"SFT": model}
    for name, variant in VARIANTS.items():
        start = time.time()
        models[name] = train_preference(model, processor, preference_rows, variant, config, out / "runs" / _slug(name), log)
        timings[name] = time.time() - start
        say(f"{name}: {config.pref_steps} preference steps ({timings[name]:.0f} s)")

    results = {}
    for row in ROWS:
        start = time.time()
        lm = HFVideoLM(models["SFT" if row == "Prompt" else row], processor, name=row)
        report = evaluate_temporal_robustness(lm, bench, num_frames=config.frames, rounds=config.rounds, scoring="choice",
                                              output_dir=out / "eval" / _slug(row),
                                              system_prompt=(row == "Prompt"), progress=False)  # one summary line per row instead
        results[row] = report.metrics
        timings[f"eval {row}"] = time.time() - start
        its = report.metrics["intrinsic"]
        say(f"evaluated {row}: ITS T-Acc {its['t_acc']:.1f}, FR {_cell([its['fr']])} ({timings[f'eval {row}']:.0f} s)")
    timings["total"] = time.time() - started
    summary = {"seed": config.seed, "config": asdict(config), "metrics": results, "timings_s": timings, "training_log": log}
    partial = finished.with_suffix(".json.partial")
    partial.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    partial.replace(finished)
    return summary


# ----------------------------------------------------------------------------------------------
# Tables over seeds
# ----------------------------------------------------------------------------------------------


def _cell(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def summarize(seed_results: list[dict]) -> str:
    """Markdown in the layout of the paper's Tables 3 and 5 (mean ± std over seeds)."""
    seeds = ", ".join(str(r["seed"]) for r in seed_results)
    header = "| Method | ITS T-Acc | ITS FR | light FR | severe FR | ETS T-Acc | ETS FR |"
    lines = [f"Mini reproduction, seeds {seeds} (percent; mean ± std over seeds; choice scoring, {seed_results[0]['config']['rounds']} rounds)", "", header, "|---|---|---|---|---|---|---|"]
    for row in ROWS:
        cells = [_cell([r["metrics"][row][group][metric] for r in seed_results]) for group, metric in COLUMNS]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += ["", "Where the flips go (ITS, adversarial round 0 of clean-correct items, percent):", "",
              "| Method | to shortcut | to incorrect | stays correct |", "|---|---|---|---|"]
    for row in ROWS:
        flips = [r["metrics"][row]["intrinsic"]["flips_to"] for r in seed_results]
        lines.append(f"| {row} | {_cell([f['shortcut'] for f in flips])} | {_cell([f['incorrect'] for f in flips])} | {_cell([f['correct'] for f in flips])} |")
    return "\n".join(lines)


def plot(seed_results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (group, title) in zip(axes, (("intrinsic", "ITS (video reordered)"), ("extrinsic", "ETS (descriptions reordered)"))):
        x = range(len(ROWS))
        for offset, metric, colour in ((-0.2, "t_acc", "tab:green"), (0.2, "fr", "tab:red")):
            values = [[r["metrics"][row][group][metric] or 0.0 for r in seed_results] for row in ROWS]
            means = [statistics.mean(v) for v in values]
            errors = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
            ax.bar([i + offset for i in x], means, width=0.4, yerr=errors, capsize=3, color=colour, label="T-Acc" if metric == "t_acc" else "FR")
        ax.set(xticks=list(x), ylim=(0, 105), ylabel="%", title=title)
        ax.set_xticklabels(ROWS, rotation=25, ha="right", fontsize=8)
    # One legend above both panels: inside an axis it hid the FR bars, which reach 100%.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(out_dir: str | Path, seeds: list[int], config: MiniReproConfig | None = None, progress: bool = True) -> str:
    """All seeds; writes ``results.md``, ``results.json`` and ``results.png`` under ``out_dir``."""
    out = Path(out_dir)
    results = []
    for seed in seeds:
        seed_config = MiniReproConfig(**{**asdict(config or MiniReproConfig()), "seed": seed})
        results.append(run_seed(out / f"seed{seed}", seed_config, progress=progress))
        print(f"seed {seed} done in {results[-1]['timings_s']['total']:.0f} s", flush=True)
    table = summarize(results)
    (out / "results.md").write_text(table + "\n", encoding="utf-8")
    (out / "results.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "training_log"} for r in results], indent=2), encoding="utf-8")
    try:
        plot(results, out / "results.png")
    except ImportError:
        print("results.png skipped: matplotlib is not installed (pip install 'temrobbench[plots]')", flush=True)
    return table
