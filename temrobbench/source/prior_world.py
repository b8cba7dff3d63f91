"""A synthetic world with a strong temporal prior: every task has one canonical step order and
every video follows it. A model trained on it learns the order of each task, the very shortcut
TemRobBench's adversarial videos exploit (the mini reproduction's world, issue #5).

With ``noncanonical_fraction`` > 0 (the mini reproduction's second, "mixed" world, issue #17), that
share of the videos (exactly ``round(fraction * num_videos)``, chosen by a seeded draw) shows its
task's steps in an edited order: the light or severe edit TemRobBench itself makes
(:func:`temrobbench.items.its.build_its_item`), and the annotation follows the video. The prior stays
strong (most videos are canonical) but the order can be read, and learned, from the frames. Each
such entry carries ``"temporal_edit": {"category", "seed", "canonical"}`` so that the item which
produced it can be rebuilt. With the default 0 the output is byte-identical to the canonical world.

Each step is ``frames_per_step`` frames: the step's colour and stripe pattern in the centre, the
task's colour in the border, light noise. Step names are single characters, one token each for a
byte-level tokenizer. The output is a COIN-format source (``COIN.json`` + videos) for the normal
``temrobbench build``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from temrobbench.build.video_io import EncodeSettings, atomic_path, write_video


@dataclass(frozen=True)
class PriorWorldConfig:
    num_videos: int = 64
    seed: int = 0  # noise and task of each video; the world's tasks come from world_seed
    world_seed: int = 0
    num_tasks: int = 8
    vocabulary: str = "abcdefghij"
    steps_per_task: int = 5
    frames_per_step: int = 2
    size: int = 64
    fps: float = 2.0
    noise: float = 6.0
    noncanonical_fraction: float = 0.0  # share of videos whose steps are shown in an edited order

    def __post_init__(self) -> None:
        if not 0.0 <= self.noncanonical_fraction <= 1.0:
            raise ValueError("noncanonical_fraction must lie in [0, 1]")
        if self.steps_per_task > len(self.vocabulary):
            raise ValueError("steps_per_task cannot exceed the vocabulary")
        if self.size % 64:
            raise ValueError("size must be a multiple of 64 (see video_io.output_size)")


def world_tasks(config: PriorWorldConfig) -> list[tuple[str, list[str]]]:
    """(task name, canonical step order) of each task; distinct orders, fixed by ``world_seed``.

    >>> tasks = world_tasks(PriorWorldConfig())
    >>> len(tasks), tasks[0][0], len(tasks[0][1])
    (8, 'TaskA', 5)
    """
    rng = random.Random(f"prior-world:{config.world_seed}")
    tasks, seen = [], set()
    while len(tasks) < config.num_tasks:
        order = tuple(rng.sample(config.vocabulary, config.steps_per_task))
        if order not in seen:
            seen.add(order)
            tasks.append((f"Task{chr(ord('A') + len(tasks))}", list(order)))
    return tasks


def noncanonical_videos(config: PriorWorldConfig) -> dict[int, str]:
    """Index -> edit category (``light``/``severe``, alternating) of the videos shown out of order.

    >>> picks = noncanonical_videos(PriorWorldConfig(num_videos=40, noncanonical_fraction=0.25))
    >>> len(picks), sorted(set(picks.values()))
    (10, ['light', 'severe'])
    >>> noncanonical_videos(PriorWorldConfig())
    {}
    """
    count = round(config.noncanonical_fraction * config.num_videos)
    if count == 0:
        return {}
    # Its own generator: the canonical world's draws (noise, tasks) stay exactly as they were.
    rng = random.Random(f"prior-world-noncanonical:{config.world_seed}:{config.seed}")
    chosen = sorted(rng.sample(range(config.num_videos), count))
    return {n: ("light", "severe")[k % 2] for k, n in enumerate(chosen)}


def edited_order(video_id: str, task: str, canonical: list[str], category: str, seed: int) -> list[str]:
    """The order a non-canonical video shows: the adversarial order of TemRobBench's ITS item."""
    from temrobbench.items.its import build_its_item

    item = build_its_item(video_id, task, canonical, category, seed)
    return [canonical[i] for i in item.adversarial.order]


def _colour(index: int, count: int, saturation: int = 220) -> tuple[int, int, int]:
    hsv = np.uint8([[[int(180 * index / count), saturation, 230]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def render_world_frame(config: PriorWorldConfig, task_index: int, step: str, rng: np.random.Generator) -> np.ndarray:
    s = config.size
    step_index = config.vocabulary.index(step)
    frame = np.empty((s, s, 3), np.float32)
    frame[:] = _colour(task_index, config.num_tasks, saturation=120)  # task colour: the border
    inner = slice(s // 6, s - s // 6)
    frame[inner, inner] = _colour(step_index, len(config.vocabulary))
    yy, xx = np.mgrid[0 : s - 2 * (s // 6), 0 : s - 2 * (s // 6)]
    angle = np.pi * step_index / len(config.vocabulary)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / 2.5) > 0.3
    centre = frame[inner, inner]
    centre[stripes] *= 0.45
    frame += rng.normal(0, config.noise, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def synthesize_prior_world(out_dir: str | Path, config: PriorWorldConfig = PriorWorldConfig()) -> Path:
    """Write ``COIN.json`` and ``videos/<recipe_type>/<id>.mp4``; returns the COIN.json path."""
    out_dir = Path(out_dir)
    tasks = world_tasks(config)
    rng = np.random.default_rng(config.seed + 1000 * config.world_seed)
    database = {}
    step_seconds = config.frames_per_step / config.fps
    edits = noncanonical_videos(config)
    for n in range(config.num_videos):
        task_index = n % len(tasks)
        name, order = tasks[task_index]
        video_id = f"world{config.world_seed}s{config.seed}_{n:04d}"
        extra = {}
        if n in edits:
            canonical = order
            order = edited_order(video_id, name, canonical, edits[n], config.seed)
            extra = {"temporal_edit": {"category": edits[n], "seed": config.seed, "canonical": list(canonical)}}
        frames = [render_world_frame(config, task_index, step, rng) for step in order for _ in range(config.frames_per_step)]
        write_video(frames, config.fps, out_dir / "videos" / str(task_index) / f"{video_id}.mp4", EncodeSettings(max_height=config.size))
        database[video_id] = {
            "recipe_type": str(task_index),
            "class": name,
            "subset": "training",
            "duration": len(order) * step_seconds,
            "annotation": [
                {"id": str(config.vocabulary.index(step)), "segment": [k * step_seconds, (k + 1) * step_seconds], "label": step}
                for k, step in enumerate(order)
            ],
            **extra,
        }
    coin_path = out_dir / "COIN.json"
    with atomic_path(coin_path) as tmp:
        Path(tmp).write_text(json.dumps({"database": database}, indent=1), encoding="utf-8")
    return coin_path
