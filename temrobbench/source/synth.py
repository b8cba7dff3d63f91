"""A COIN-format source made up from scratch: ``COIN.json`` plus one MP4 per video.

Every later step (build, evaluation, training) can then run offline and in tests. Each step of a
task is drawn in its own colour with its own stripe pattern and its label written on it, so a model
(or a person) that looks at the frames can tell which step is shown and in which order.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm.auto import tqdm

from temrobbench.utils.files import atomic_path
from temrobbench.build.video_io import EncodeSettings, write_video

# Small COIN-like taxonomy: (task class, recipe_type id, step labels in procedural order).
# The repeated "weld" steps of ArcWeld reproduce COIN's recurring steps.
SYNTH_TASKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("MakeSandwich", "1", ("cut bread", "spread butter", "add lettuce", "add cheese", "add ham", "close sandwich")),
    ("ArcWeld", "2", ("clean metal", "clamp pieces", "weld", "chip slag", "weld", "grind seam")),
    ("ChangeBikeTire", "3", ("remove wheel", "deflate tube", "lever tire off", "insert new tube", "inflate tube", "mount wheel")),
    ("PlantTree", "4", ("dig hole", "loosen roots", "place tree", "fill soil", "press soil", "water tree")),
    ("PaintWall", "5", ("tape edges", "stir paint", "cut in corners", "roll paint", "apply second coat", "remove tape")),
    ("MakeCoffee", "6", ("grind beans", "heat water", "wet filter", "add grounds", "pour water", "serve coffee")),
)


@dataclass(frozen=True)
class SynthConfig:
    """Shape of the synthetic source. Defaults pass the benchmark's default eligibility rules."""

    num_videos: int = 12
    seed: int = 0
    width: int = 128
    height: int = 72
    fps: float = 8.0
    step_seconds: tuple[float, float] = (3.5, 6.0)
    gap_seconds: tuple[float, float] = (0.5, 2.0)
    min_steps: int = 5
    canonical: bool = False  # every video of a task follows its task's order exactly (a strong prior)

    def __post_init__(self) -> None:
        if self.num_videos < 1:
            raise ValueError("num_videos must be >= 1")
        if self.width % 64 or self.height % 4:
            raise ValueError("width must be a multiple of 64 and height of 4 (see video_io.output_size)")


def _step_colour(task_index: int, step_index: int) -> tuple[int, int, int]:
    hue = (step_index * 47 + task_index * 11) % 180  # OpenCV hue range, far apart per step
    hsv = np.uint8([[[hue, 200, 230]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def render_step_frame(config: SynthConfig, task_index: int, step_index: int, label: str, t: float) -> np.ndarray:
    """One RGB frame of a step: step colour, a step-specific stripe angle, a moving marker, its label."""
    h, w = config.height, config.width
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = _step_colour(task_index, step_index)
    yy, xx = np.mgrid[0:h, 0:w]
    angle = np.pi * step_index / 6.0
    stripes = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / 3.0) > 0.6)
    frame[stripes] = frame[stripes] // 2
    x = int((t * 12) % max(1, w - 8))
    frame[h - 10 : h - 4, x : x + 6] = 255  # motion, so a clip is not a still image
    cv2.putText(frame, label[:14], (2, 12), cv2.FONT_HERSHEY_PLAIN, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def _gap_frame(config: SynthConfig) -> np.ndarray:
    return np.full((config.height, config.width, 3), 40, np.uint8)


def _video_steps(rng: random.Random, steps: tuple[str, ...], config: SynthConfig) -> list[int]:
    """Indices of the task's steps this video shows: usually the procedural order with a step
    dropped or two neighbours swapped, as real demonstrations vary (unless ``canonical``)."""
    order = list(range(len(steps)))
    if config.canonical:
        return order
    if len(order) > config.min_steps and rng.random() < 0.4:
        order.pop(rng.randrange(1, len(order) - 1))
    if rng.random() < 0.3:
        i = rng.randrange(len(order) - 1)
        order[i], order[i + 1] = order[i + 1], order[i]
    labels = [steps[i] for i in order]
    if any(a == b for a, b in zip(labels, labels[1:])):
        return list(range(len(steps)))
    return order


def synthesize_coin(out_dir: str | Path, config: SynthConfig = SynthConfig(), progress: bool = True) -> Path:
    """Write ``out_dir/COIN.json`` and ``out_dir/videos/<recipe_type>/<id>.mp4`` (COIN's layout).

    Returns the path of ``COIN.json``. Reruns rewrite the same files (deterministic in ``seed``).

    >>> import tempfile
    >>> path = synthesize_coin(tempfile.mkdtemp(), SynthConfig(num_videos=1), progress=False)
    >>> path.name
    'COIN.json'
    """
    out_dir = Path(out_dir)
    rng = random.Random(f"temrobbench-synth:{config.seed}")
    database: dict[str, dict] = {}
    jobs = []
    for n in range(config.num_videos):
        task_index = n % len(SYNTH_TASKS)
        task, recipe_type, steps = SYNTH_TASKS[task_index]
        video_id = f"synth{config.seed:02d}_{n:05d}"
        picked = _video_steps(rng, steps, config)
        t = round(rng.uniform(*config.gap_seconds), 2)
        annotation = []
        for step_index in picked:
            length = round(rng.uniform(*config.step_seconds), 2)
            annotation.append({"id": str(100 * task_index + step_index), "segment": [t, round(t + length, 2)], "label": steps[step_index]})
            t = round(t + length + rng.uniform(*config.gap_seconds), 2)
        database[video_id] = {
            "recipe_type": recipe_type,
            "class": task,
            "subset": "testing" if n % 5 == 4 else "training",
            "start": 0.0,
            "end": t,
            "duration": t,
            "video_url": f"synthetic://{video_id}",
            "annotation": annotation,
        }
        jobs.append((video_id, task_index, recipe_type, annotation, t))
    for video_id, task_index, recipe_type, annotation, duration in tqdm(jobs, desc="synth videos", disable=not progress):
        frames = _frames(config, task_index, annotation, duration)
        write_video(frames, config.fps, out_dir / "videos" / recipe_type / f"{video_id}.mp4", EncodeSettings(max_height=config.height))
    coin_path = out_dir / "COIN.json"
    with atomic_path(coin_path) as tmp:
        Path(tmp).write_text(json.dumps({"database": database}, indent=1), encoding="utf-8")
    return coin_path


def _frames(config: SynthConfig, task_index: int, annotation: list[dict], duration: float) -> Iterator[np.ndarray]:
    steps = SYNTH_TASKS[task_index][2]
    gap = _gap_frame(config)
    for k in range(int(round(duration * config.fps))):
        t = k / config.fps
        current = next((a for a in annotation if a["segment"][0] <= t < a["segment"][1]), None)
        if current is None:
            yield gap
        else:
            step_index = int(current["id"]) % 100
            yield render_step_frame(config, task_index, step_index, steps[step_index], t)
