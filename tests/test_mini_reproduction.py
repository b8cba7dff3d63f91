"""The mini reproduction, one seed at reduced size (slow: run with `python -m pytest -m slow`)."""

from __future__ import annotations

import pytest

from panodpo.reproduction import MiniReproConfig, run_seed


@pytest.mark.slow
def test_sft_learns_the_prior_and_panodpo_flips_less_than_dpo(tmp_path):
    config = MiniReproConfig(seed=0, train_videos=32, test_videos=24, sft_steps=400, pref_steps=150)
    metrics = run_seed(tmp_path, config, progress=False)["metrics"]
    assert metrics["SFT"]["intrinsic"]["clean_acc"] >= 60  # it learned the task...
    assert metrics["SFT"]["intrinsic"]["fr"] >= 60  # ...and the shortcut: edited videos flip to the usual order
    assert metrics["PanoDPO"]["intrinsic"]["fr"] < metrics["vanilla DPO"]["intrinsic"]["fr"]


def _fake_seed_result(seed: int, fr: float) -> dict:
    group = {"t_acc": 50.0, "fr": fr, "flips_to": {"shortcut": 60.0, "incorrect": 20.0, "correct": 20.0}}
    from panodpo.reproduction import ROWS

    metrics = {row: {g: dict(group) for g in ("intrinsic", "extrinsic", "light", "severe")} for row in ROWS}
    return {"seed": seed, "config": {"rounds": 4}, "metrics": metrics}


def test_summary_reports_mean_and_sample_std_over_seeds():
    from panodpo.reproduction import summarize

    table = summarize([_fake_seed_result(0, 40.0), _fake_seed_result(1, 60.0)])
    sft_row = next(line for line in table.splitlines() if line.startswith("| SFT |"))
    # mean 50, sample std of (40, 60) = 14.1
    assert sft_row.split(" | ")[2] == "50.0 ± 14.1"
    assert "seeds 0, 1" in table


def test_a_finished_seed_is_read_back_not_rerun(tmp_path, monkeypatch):
    import dataclasses
    import json

    import temrobbench.prior_world as prior_world

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished seed was rerun")

    monkeypatch.setattr(prior_world, "synthesize_prior_world", must_not_run)
    config = MiniReproConfig(seed=3)
    finished = {**_fake_seed_result(3, 10.0), "config": dataclasses.asdict(config), "timings_s": {"total": 1.0}}
    (tmp_path / "results.json").write_text(json.dumps(finished))
    assert run_seed(tmp_path, config, progress=False)["metrics"] == finished["metrics"]
    # A different config is a different experiment: it must not be taken as done.
    with pytest.raises(AssertionError, match="rerun"):
        run_seed(tmp_path, MiniReproConfig(seed=3, sft_steps=1), progress=False)
