"""Training data of the mini reproduction: SFT examples and preference rows of a training world.

Two worlds (:mod:`temrobbench.source.prior_world`):

- ``canonical``: every training video shows its task's one step order. The order can be read from
  the task alone (the prior), so all a preference method can teach with DPOv is "the usual answer is
  unlikely under an unusual video", never how to read the order from the frames.
- ``mixed``: a share of the training videos (``noncanonical_fraction``) shows an edited order (the
  benchmark's own light or severe edit) and the answer follows the video. The prior is still strong
  (most videos are canonical), but reading the order is learnable, and the edited videos' questions
  offer the usual order as a wrong option, as the benchmark's adversarial items do.

The benchmark is always built from a held-out canonical sample (real COIN videos are, in this sense,
canonical: the paper's adversarial videos are edits of them).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

# World name -> share of training videos shown in a non-canonical order.
WORLDS = {"canonical": 0.0, "mixed": 0.25}


def _item_row(item, setting: str) -> dict:
    version = getattr(item, setting)
    return {"question": item.question, "options": list(item.options), "descriptions": list(version.descriptions), "option_roles": list(version.option_roles)}


def _edits(coin_path: Path) -> dict[str, dict]:
    """video id -> ``temporal_edit`` of the world's non-canonical videos (read from COIN.json)."""
    database = json.loads(Path(coin_path).read_text(encoding="utf-8"))["database"]
    return {video_id: entry["temporal_edit"] for video_id, entry in database.items() if "temporal_edit" in entry}


def training_examples(coin_path: Path, videos_dir: Path, seed: int) -> tuple[list[dict], list[dict]]:
    """SFT examples and preference rows of the training world, in the benchmark's prompt format.

    Every prompt is a rendered item (question, options, instruction) exactly as evaluation shows
    it; the answer is the correct option's text. Items are the clean versions of TemRobBench's own
    items for the training videos (all 4 option rotations): the correct option is the order the
    video shows. A non-canonical video (mixed world) adds the ITS item that produced it, in its
    adversarial version: the video's order is correct and the task's usual order is an option
    (the shortcut). ETS items need no change: their answer always follows the video.
    Preference rows: chosen = the correct option, rejected = an incorrect one, rejected question =
    the same prompt led by a statement of a wrong order (ITS), or the adversarial descriptions (ETS).
    """
    from temrobbench.build.pipeline import find_video_file
    from temrobbench.source.coin import load_coin
    from temrobbench.items.categories import CATEGORIES
    from temrobbench.items.spec import ItemInfeasible
    from temrobbench.items.its import build_its_item
    from temrobbench.prompt import render_prompt, rotation

    annotations = load_coin(coin_path)
    task_steps = annotations.task_steps()
    edits = _edits(coin_path)
    rng = random.Random(f"mini-repro-data:{seed}")
    sft, preference = [], []
    for video in annotations.videos:
        path = str(find_video_file(videos_dir, video))
        events = [s.label for s in video.steps]
        items = []
        for category in CATEGORIES:  # the benchmark's own item builders, every category
            try:
                items.append((category.build_item(video.video_id, video.task, events, task_steps, seed), "clean"))
            except ItemInfeasible:
                continue  # as the build does: an infeasible item is skipped
        if video.video_id in edits:
            edit = edits[video.video_id]
            item = build_its_item(video.video_id, video.task, edit["canonical"], edit["category"], edit["seed"])
            if [edit["canonical"][i] for i in item.adversarial.order] != events:
                raise ValueError(f"{video.video_id}: its temporal_edit does not rebuild the order it shows")
            items.append((item, "adversarial"))
        for k, (item, setting) in enumerate(items):
            shown = _item_row(item, setting)
            for r in range(4):
                rendered = render_prompt(shown, rotation(4, r))
                correct = rendered.options[rendered.roles.index("correct")]
                sft.append({"video": path, "question": rendered.text, "answer": correct})
            rendered = render_prompt(shown, rotation(4, rng.randrange(4)))
            correct = rendered.options[rendered.roles.index("correct")]
            wrong = rng.choice([o for o, role in zip(rendered.options, rendered.roles) if role != "correct"])
            if item.perturbation == "intrinsic":
                misleading = f"In this video the steps are done in the order {wrong}.\n{rendered.text}"
            else:
                misleading = render_prompt(_item_row(item, "adversarial"), rendered.order).text
            preference.append({"id": f"{video.video_id}_{k}", "video": path, "prompt": rendered.text, "chosen": correct, "rejected": wrong, "rejected_prompt": misleading})
    return sft, preference
