"""The paper's published numbers ship with the package and render beside a run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from temrobbench.evaluation.report.tables import EvalReport
from temrobbench.reference import CITATION, paper_preference, paper_table1, reference_markdown

from tests.support.paths import REPO

SHARED = REPO.parent / "shared" / "data" / "paper"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/paper is not here")
@pytest.mark.parametrize("name, rows, key", [("table1_models.csv", paper_table1, ("group", "model")),
                                             ("table3_table5_preference.csv", paper_preference, ("table", "base_model", "method"))])
def test_shipped_numbers_match_the_transcription(name, rows, key):
    with open(SHARED / name, encoding="utf-8") as f:
        source = list(csv.DictReader(f))
    shipped = rows()
    assert len(shipped) == len(source)
    for theirs, ours in zip(source, shipped):
        assert tuple(str(ours[k]) for k in key) == tuple(theirs[k] for k in key)
        for column, value in theirs.items():
            if column not in key and column not in ("group", "model", "base_model", "method"):
                assert ours[column] == pytest.approx(float(value)), (name, theirs, column)


def test_a_few_cells():
    gpt4o = next(r for r in paper_table1() if r["model"] == "GPT-4o")
    assert (gpt4o["its_clean_acc"], gpt4o["its_fr"], gpt4o["ets_wfr"]) == (67.1, 82.3, 34.1)
    hound = next(r for r in paper_preference() if r["base_model"] == "LLaVA-Hound-7B" and r["method"] == "PanoDPO")
    assert (hound["its_t_acc"], hound["ets_fr"]) == (8.9, 18.4)


def _report(fr):
    m = {"n": 10, "clean_acc": 50.0, "adv_acc": 30.0, "fr": fr, "wfr": 70.0, "t_acc": 12.0, "invalid_rate": 0.0, "flips_to": {}}
    groups = ("intrinsic", "extrinsic", "light", "severe", "absolute", "relative")
    return EvalReport(model="my-model", scoring="likelihood", rounds=4, metrics={g: dict(m) for g in groups})


def test_rendering_places_the_run_among_published_rows(tmp_path):
    text = _report(fr=60.0).to_markdown(reference="paper")
    assert CITATION in text and "562-video" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "published" in line or "(this run)" in line]
    mine = next(i for i, line in enumerate(table) if "**my-model (this run)**" in line)
    # sorted by ITS FR: VideoChat2 (28.4) before the run (60.0) before LLaVA-Hound (60.3)
    assert "VideoChat2" in table[0] and "LLaVA-Hound" in table[mine + 1]
    assert "lower (more robust) than that of 14 of 16 published models" in text
    assert "reference" not in _report(fr=60.0).to_markdown().lower()
    with pytest.raises(ValueError, match="valid: paper"):
        _report(fr=None).to_markdown(reference="tables")
    assert "| **–** |" not in reference_markdown(_report(fr=60.0))


def test_report_command_and_plot(tmp_path, tiny_benchmark):
    pytest.importorskip("matplotlib")
    from temrobbench import evaluate_temporal_robustness
    from temrobbench.cli import main

    evaluate_temporal_robustness("random", tiny_benchmark, num_frames=0, output_dir=tmp_path / "run", progress=False)
    assert main(["report", str(tmp_path / "run"), "--reference", "paper"]) == 0
    assert (tmp_path / "run" / "paper_reference.png").stat().st_size > 10_000
    assert "Beside the paper's published numbers" in (tmp_path / "run" / "report.md").read_text()


def test_eval_command_places_the_run_among_the_paper_numbers(tmp_path, tiny_benchmark, capsys):
    pytest.importorskip("matplotlib")
    from temrobbench.cli import main

    out = tmp_path / "run"
    assert main(["eval", "--data", str(tiny_benchmark), "--model", "random", "--out", str(out), "--frames", "2", "--reference", "paper"]) == 0
    assert "Beside the paper's published numbers" in capsys.readouterr().out
    assert "Beside the paper's published numbers" in (out / "report.md").read_text()
    assert (out / "paper_reference.png").stat().st_size > 10_000 and (out / "benchmark.json").exists()
