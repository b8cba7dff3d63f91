"""The cards: Jinja templates of the Hub dataset card, the PanoDPO dataset card and the model card
(``temrobbench/hub/templates/*.j2``, package data), rendered with :func:`render_card`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temrobbench.hub.dataset_info import describe_data
from temrobbench.hub.layout import data_files_patterns
from temrobbench.items.schema import CONFIGS, SPLITS, row_features
from temrobbench.utils.files import atomic_path

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


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def write_card(out_dir: Path, report: dict[str, Any], repo_id: str | None = None) -> Path:
    """Render ``README.md`` (the dataset card) from ``temrobbench/hub/templates/dataset_card.md.j2``.

    The card's ``dataset_info`` and per-config content fingerprints are read from the Parquet
    shards in ``out_dir`` (see ``describe_data``), so ``push`` re-rendering it stays exact.
    """
    from temrobbench import __version__

    counts = report["num_rows"]
    data = describe_data(out_dir, data_files_patterns(), row_features())
    text = render_card(
        "dataset_card.md.j2",
        pretty_name="TemRobBench",
        repo_id=repo_id or "ORG/temrobbench",
        configs={c: list(SPLITS) for c in CONFIGS},
        data_files=data_files_patterns(),
        dataset_info_yaml=data["dataset_info_yaml"],
        fingerprints=data["fingerprints"],
        counts=counts,
        categories=report.get("categories", {}),
        num_videos=report["num_videos_built"],
        build={"seed": report["seed"], "num_videos_requested": report["num_videos_requested"], "source": Path(report["source"]["coin_json"]).name},
        skips={**report["skipped_videos"], **report["skipped_items"]},
        size_category=_size_category(sum(sum(v.values()) for v in counts.values())),
        version=__version__,
    )
    path = out_dir / "README.md"
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path

