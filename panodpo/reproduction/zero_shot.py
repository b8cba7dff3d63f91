"""The zero-shot setup of the mini reproduction: train on generic open video QA, test on TemRobBench.

The paper trains on ShareGPTVideo-DPO (open questions about a video, a chosen and a rejected
free-text answer) and evaluates on TemRobBench without ever showing it a benchmark item. This
module makes that kind of data for the synthetic training videos of a world:

- **Questions** are open and about time, each in a few wordings, sometimes naming the task:
  "Describe the steps in the video.", "What is the first step?", "What is the last step?",
  "What does the person do after h?", "What happens right before e?" (every step of every video).
  Never 4-option letter questions, never the benchmark's question, option or description text.
- **Answers** are sentences: "The person does h, then e, then b, then a, then f.", "The first step
  is h.", "After h, the person does e.". ``chosen`` is what the video shows.
- **Rejected** is a plausible wrong answer, wrong about time: where the video departs from its
  task's usual order (the mixed world's edited videos), the answer the usual order gives (the
  shortcut); otherwise, or where the usual order gives the same answer, a wrong order (two
  neighbouring steps swapped) or another step of the same video (so knowing which steps appear
  is not enough: their order has to be read).
- **q'** (``rejected_prompt``) is written by the project's own offline misleading-question path,
  :class:`panodpo.data.misleading_questions.TemplateMisleadingQuestions`, through
  :func:`panodpo.data.prepare.prepare_dpo_data` (what ``panodpo prepare`` runs): the rejected
  answer becomes a false premise before the question, "In the video, after h, the person does b.
  What does the person do after h?", a question that presupposes a false order.

The rows are written as a ShareGPTVideo-DPO jsonl (``id``, ``video``, ``prompt`` with ``<video>``,
``chosen``, ``rejected``) and prepared into the Hub layout; training reads that folder's Parquet
shards as ``panodpo train`` does. SFT trains on the same questions with their chosen answers.

>>> rows = open_qa_rows_for_video("v1", "TaskA", "0/v1.mp4", ["h", "e", "b"], ["h", "b", "e"], seed=0)
>>> [r["chosen"] for r in rows][:3]
['The person does h, then e, then b.', 'The first step is h.', 'The last step is b.']
>>> rows[0]["rejected"]  # the video departs from the usual order: the usual order is the wrong answer
'The person does h, then b, then e.'
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Sequence

# The preference rows of the zero-shot setup: a name and the ``PanoDPOConfig`` fields it sets on top
# of the run's shared settings (steps, batch, learning rate, beta, v'). Another row (mDPO,
# IPO-PanoDPO, VistaDPO...) is one more entry here; the report compares every row with PanoDPO.
ZERO_SHOT_ROWS: dict[str, dict[str, Any]] = {
    "vanilla DPO": {"video_loss_weight": 0.0, "text_loss_weight": 0.0},
    "PanoDPO": {"video_loss_weight": 1.0, "text_loss_weight": 1.0},
    # The neighbouring objectives (panodpo.presets), on the same data, steps and learning rate.
    # mDPO with its own corruption (a random 1-20% crop resized back) and its anchor.
    "mDPO": {"loss_type": ["sigmoid"], "video_loss_weight": 1.0, "text_loss_weight": 0.0, "instance_loss_weight": 0.0,
             "anchor_loss_weight": 1.0, "anchor_margin": 0.0, "rejected_video_strategy": "random_resized_crop"},
    # VistaDPO's instance level: DPO + y_w|v over y_l|v' (the run's v').
    "VistaDPO-instance": {"loss_type": ["sigmoid"], "video_loss_weight": 0.0, "text_loss_weight": 0.0, "instance_loss_weight": 1.0},
    # PanoDPO's three terms as IPO; beta 0.5 puts IPO's per-token target gap 1/(2 beta) at 1 nat (at the run's
    # beta 0.1 it would be 5 nats per token).
    "IPO-PanoDPO": {"loss_type": ["ipo"], "video_loss_weight": 1.0, "text_loss_weight": 1.0, "beta": 0.5},
}

# Each question kind in a few wordings (generic video QA is not one template).
DESCRIBE = ("Describe the steps in the video.", "What does the person do in the video, step by step?")
FIRST = ("What is the first step?", "What does the person do first?")
LAST = ("What is the last step?", "What does the person do at the end?")
AFTER = ("What does the person do after {step}?", "What happens right after {step}?")
BEFORE = ("What does the person do before {step}?", "What happens right before {step}?")
TASK_PREFIX = "This is a video of {task}. "  # on about half of the questions: the task can be named, as in real QA


def _chain(order: Sequence[str], wording: int = 0) -> str:
    """A step order as a sentence, in one of :data:`CHAINS`' wordings (free-text answers vary)."""
    return CHAINS[wording](list(order))


# How an order is told: the steps 1, 2 and 3 tokens apart in the text, so that what comes next is
# learnt from the last step named, not from a fixed distance to it.
CHAINS = (
    lambda o: "The person does " + ", then ".join(o) + ".",
    lambda o: "First " + ", then ".join(o) + ".",
    lambda o: "The steps are " + ", ".join(o[:-1]) + " and " + o[-1] + ".",
)


def _swap_neighbours(order: Sequence[str], rng: random.Random) -> list[str]:
    """``order`` with two neighbouring steps swapped: a plausible wrong order."""
    wrong = list(order)
    i = rng.randrange(len(wrong) - 1)
    wrong[i], wrong[i + 1] = wrong[i + 1], wrong[i]
    return wrong


def _other_step(shown: Sequence[str], exclude: Sequence[str], rng: random.Random) -> str:
    return rng.choice([s for s in shown if s not in exclude])


def open_qa_rows_for_video(video_id: str, task: str, video: str, shown: Sequence[str], usual: Sequence[str], seed: int) -> list[dict]:
    """The ShareGPTVideo-DPO rows (without q') of one video that shows ``shown`` of a task usually done as ``usual``.

    ``video`` is the path relative to the media folder. Rows: describe, first, last, then "after"
    for every step but the last and "before" for every step but the first.
    """
    if len(shown) < 3 or sorted(shown) != sorted(usual):
        raise ValueError(f"{video_id}: the open questions need 3 or more steps, the usual order a permutation of the shown one")
    from temrobbench.items.its import humanize_task

    rng = random.Random(f"mini-repro-zero-shot:{seed}:{video_id}")
    name = humanize_task(task)
    departs = list(shown) != list(usual)
    qa: list[tuple[str, str, str]] = []  # (question, chosen, rejected)

    wrong_order = list(usual) if departs else _swap_neighbours(shown, rng)
    wording = rng.randrange(len(CHAINS))
    qa.append((rng.choice(DESCRIBE), _chain(shown, wording), _chain(wrong_order, wording)))
    for wording, true, usual_answer, fallback, phrase in (
        (FIRST, shown[0], usual[0], shown[1], "The first step is {}."),
        (LAST, shown[-1], usual[-1], shown[-2], "The last step is {}."),
    ):
        wrong = usual_answer if departs and usual_answer != true else fallback  # fallback: its neighbour, an order mistake
        qa.append((rng.choice(wording), phrase.format(true), phrase.format(wrong)))
    for i, step in enumerate(shown[:-1]):
        true = shown[i + 1]
        j = list(usual).index(step)
        usual_next = usual[j + 1] if j + 1 < len(usual) else None
        wrong = usual_next if departs and usual_next not in (None, true) else _other_step(shown, (step, true), rng)
        qa.append((rng.choice(AFTER).format(step=step), f"After {step}, the person does {true}.", f"After {step}, the person does {wrong}."))
    for i, step in enumerate(shown[1:], start=1):
        true = shown[i - 1]
        j = list(usual).index(step)
        usual_previous = usual[j - 1] if j > 0 else None
        wrong = usual_previous if departs and usual_previous not in (None, true) else _other_step(shown, (step, true), rng)
        qa.append((rng.choice(BEFORE).format(step=step), f"Before {step}, the person does {true}.", f"Before {step}, the person does {wrong}."))

    rows = []
    for n, (question, chosen, rejected) in enumerate(qa):
        if rng.random() < 0.5:
            question = TASK_PREFIX.format(task=name) + question
        rows.append({"id": f"{video_id}_{n}", "video": video, "prompt": f"<video>\n{question}", "chosen": chosen, "rejected": rejected})
    return rows


def open_qa_rows(coin_path: str | Path, videos_dir: str | Path, seed: int) -> list[dict]:
    """The open-QA rows of every video of a training world (``COIN.json`` of :mod:`temrobbench.source.prior_world`).

    The usual order of an edited video is the ``temporal_edit``'s canonical order; every other
    video shows its task's usual order.
    """
    from temrobbench.build.pipeline import find_video_file
    from temrobbench.source.coin import load_coin

    from panodpo.reproduction.data import _edits

    videos_dir = Path(videos_dir)
    edits = _edits(Path(coin_path))
    rows = []
    for video in load_coin(coin_path).videos:
        path = find_video_file(videos_dir, video)
        if path is None:
            raise FileNotFoundError(f"{video.video_id}: no video file under {videos_dir}")
        shown = [s.label for s in video.steps]
        usual = edits[video.video_id]["canonical"] if video.video_id in edits else shown
        rows += open_qa_rows_for_video(video.video_id, video.task, path.relative_to(videos_dir).as_posix(), shown, usual, seed)
    return rows


def prepare_zero_shot_data(coin_path: str | Path, videos_dir: str | Path, out_dir: str | Path, seed: int) -> tuple[Any, list[dict], dict]:
    """Write the open-QA rows (``dpo.jsonl``), prepare them with ``panodpo prepare``'s code (template q') into
    ``out_dir/prepared``; return the preference dataset (as ``panodpo train`` loads it), the SFT
    examples (question and chosen answer of each prepared row) and the prepare report.

    Rerunning reuses the prepared q' cache (:func:`~panodpo.data.prepare.prepare_dpo_data`); a row
    ``prepare`` skips is counted in its report and is in neither the SFT nor the preference data.
    """
    import datasets

    from panodpo.data.prepare import PrepareConfig, prepare_dpo_data, prepared_split_files
    from temrobbench.utils.files import atomic_path

    out, videos_dir = Path(out_dir), Path(videos_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = open_qa_rows(coin_path, videos_dir, seed)
    source = out / "dpo.jsonl"
    with atomic_path(source) as tmp:
        Path(tmp).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = prepare_dpo_data(source, videos_dir, out / "prepared", PrepareConfig(perturber="template", seed=seed), progress=False)
    if not report["num_rows_prepared"]:
        raise ValueError(f"{out / 'prepared'}: no row was prepared ({report['skipped']}); see prepare_report.json")
    files = [str(p) for p in prepared_split_files(out / "prepared")]
    dataset = datasets.load_dataset("parquet", data_files=files, split="train")
    by_id = {r["id"]: r for r in rows}
    text = dataset.select_columns(["id", "prompt", "chosen"])  # no video decoded for the SFT examples
    sft = [{"video": str(videos_dir / by_id[r["id"]]["video"]), "question": r["prompt"], "answer": r["chosen"]} for r in text]
    return dataset, sft, report


__all__ = ["ZERO_SHOT_ROWS", "open_qa_rows", "open_qa_rows_for_video", "prepare_zero_shot_data"]
