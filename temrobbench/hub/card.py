"""The cards: Jinja templates of the Hub dataset card, the PanoDPO dataset card and the model card
(``temrobbench/hub/templates/*.j2``, package data), rendered with :func:`render_card`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TEMPLATES_DIR = Path(__file__).parent / "templates"


def render_card(template_name: str, **context: Any) -> str:
    """Render ``temrobbench/hub/templates/<template_name>`` with ``context``.

    Undefined variables raise instead of rendering as empty text, so a card never silently lacks a
    field.

    >>> "temrobbench" in render_card("dataset_card.md.j2", **example_dataset_card_context())
    True
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(template_name).render(**context)


def example_dataset_card_context() -> dict[str, Any]:
    """A small, complete context for the dataset card (docs and tests)."""
    return {
        "pretty_name": "TemRobBench",
        "repo_id": "ORG/temrobbench",
        "configs": {"intrinsic": ["clean", "adversarial"], "extrinsic": ["clean", "adversarial"]},
        "data_files": {
            c: {s: f"data/{c}/{s}-*.parquet" for s in ("clean", "adversarial")}
            for c in ("intrinsic", "extrinsic")
        },
        "counts": {c: {s: 0 for s in ("clean", "adversarial")} for c in ("intrinsic", "extrinsic")},
        "dataset_info_yaml": "dataset_info:\n- config_name: extrinsic\n  dataset_size: 0\n- config_name: intrinsic\n  dataset_size: 0",
        "fingerprints": {c: "0" * 64 for c in ("intrinsic", "extrinsic")},
        "num_videos": 0,
        "categories": {"light": 0, "severe": 0, "absolute": 0, "relative": 0},
        "build": {"seed": 0, "num_videos_requested": 562, "source": "COIN.json"},
        "skips": {},
        "size_category": "n<1K",
        "version": "0.1.0",
    }
