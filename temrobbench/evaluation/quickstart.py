"""The quickstart's evaluation stage: ``random`` and a tiny offline Qwen2-VL on the built benchmark."""

from __future__ import annotations

from pathlib import Path

from temrobbench.evaluation.evaluate import evaluate_temporal_robustness


def run_quickstart_evaluation(built_dir: str | Path, out_dir: str | Path) -> str:
    """Evaluate two models and return their tables (the tiny model is random-weight: a smoke test
    of the whole path, not a result)."""
    from temrobbench.tiny_models import build_tiny_qwen2vl
    from temrobbench.evaluation.models.hf import HFVideoLM

    out_dir = Path(out_dir)
    parts = []
    report = evaluate_temporal_robustness("random", built_dir, num_frames=8, output_dir=out_dir / "random")
    parts.append(report.to_markdown())
    model, processor = build_tiny_qwen2vl()
    tiny = HFVideoLM(model, processor, name="tiny-qwen2vl (random weights)")
    report = evaluate_temporal_robustness(tiny, built_dir, num_frames=8, scoring="likelihood", output_dir=out_dir / "tiny-qwen2vl")
    parts.append(report.to_markdown())
    parts.append(f"Records, metrics and plots: {out_dir}/random and {out_dir}/tiny-qwen2vl (accuracy.png, shortcut_margin.png)")
    return "\n\n".join(parts)
