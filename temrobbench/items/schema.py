"""The row schema of TemRobBench, shared by the build, the Hub layout and the dataset builder.

Every config (``intrinsic``, ``extrinsic``) and split (``clean``, ``adversarial``) has the same
features, so a row's ``id`` pairs its clean and adversarial versions across splits.
"""

from __future__ import annotations

import datasets

from temrobbench.items.categories import PERTURBATIONS, categories_of

CONFIGS: tuple[str, ...] = tuple(PERTURBATIONS)
SPLITS: tuple[str, ...] = ("clean", "adversarial")
CATEGORIES: dict[str, tuple[str, ...]] = {config: categories_of(config) for config in CONFIGS}


def row_features(decode_video: bool = True) -> datasets.Features:
    """Features of one benchmark row (docs/design.md, "Data layout").

    >>> sorted(row_features())[:3]
    ['answer', 'category', 'descriptions']
    """
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "video_id": datasets.Value("string"),
            "task": datasets.Value("string"),
            "perturbation": datasets.Value("string"),
            "category": datasets.Value("string"),
            "setting": datasets.Value("string"),
            "video": datasets.Video(decode=decode_video),
            "question": datasets.Value("string"),
            "descriptions": datasets.List(datasets.Value("string")),
            "options": datasets.List(datasets.Value("string")),
            "answer": datasets.Value("string"),
            "shortcut": datasets.Value("string"),
            "option_roles": datasets.List(datasets.Value("string")),
            "events": datasets.List(datasets.Value("string")),
            "order": datasets.List(datasets.Value("int32")),
            "segments": datasets.List(datasets.List(datasets.Value("float64"))),
            "fps": datasets.Value("float64"),
            "duration": datasets.Value("float64"),
        }
    )
