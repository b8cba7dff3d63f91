"""The mini reproduction, one seed at reduced size (slow: run with `python -m pytest -m slow`)."""

from __future__ import annotations

import pytest

from temrobbench.mini_reproduction import MiniReproConfig, run_seed


@pytest.mark.slow
def test_sft_learns_the_prior_and_panodpo_flips_less_than_dpo(tmp_path):
    config = MiniReproConfig(seed=0, train_videos=32, test_videos=24, sft_steps=400, pref_steps=150)
    metrics = run_seed(tmp_path, config, progress=False)["metrics"]
    assert metrics["SFT"]["intrinsic"]["clean_acc"] >= 60  # it learned the task...
    assert metrics["SFT"]["intrinsic"]["fr"] >= 60  # ...and the shortcut: edited videos flip to the usual order
    assert metrics["PanoDPO"]["intrinsic"]["fr"] < metrics["vanilla DPO"]["intrinsic"]["fr"]
