"""The mini reproduction: its statistics, its second world, its read-back (fast), and one reduced
seed end to end (slow: run with `python -m pytest -m slow`)."""

from __future__ import annotations

import json
import math

import pytest

from panodpo.reproduction import MiniReproConfig, config_for, run_seed


@pytest.mark.slow
def test_sft_learns_the_prior_and_panodpo_moves_away_from_it_more_than_dpo(tmp_path):
    """One reduced seed of the canonical world with the tuned settings (about 5 minutes on 2 cores)."""
    config = config_for("canonical", 0, train_videos=32, test_videos=24, sft_steps=400, pref_steps=150)
    result = run_seed(tmp_path, config, progress=False)
    metrics, margins = result["metrics"], result["margins"]
    assert metrics["SFT"]["intrinsic"]["clean_acc"] >= 60  # it learned the task...
    assert metrics["SFT"]["intrinsic"]["fr"] >= 60  # ...and the shortcut: edited videos flip to the usual order
    assert margins["SFT"]["intrinsic"]["mean"] < 0  # the usual order is likelier than what the video shows
    # The direction that held on every tuning and reported seed: PanoDPO's shortcut margin above vanilla DPO's.
    assert margins["PanoDPO"]["intrinsic"]["mean"] > margins["vanilla DPO"]["intrinsic"]["mean"]


# ----------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------


def test_paired_interval_matches_a_hand_computation():
    from panodpo.reproduction.stats import paired_interval

    # PanoDPO and vanilla DPO FR on 5 seeds: differences -10, -4, 2, -8, -5.
    pano, dpo = [80.0, 90.0, 100.0, 85.0, 95.0], [90.0, 94.0, 98.0, 93.0, 100.0]
    r = paired_interval(pano, dpo)
    diffs = [-10.0, -4.0, 2.0, -8.0, -5.0]
    mean = sum(diffs) / 5  # -5.0
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 4)  # sqrt(84 / 4) = 4.583
    half = 2.776 * sd / math.sqrt(5)  # t(0.975, 4) = 2.776 -> 5.690
    assert r["diffs"] == diffs and r["mean"] == pytest.approx(-5.0)
    assert r["sd"] == pytest.approx(4.5826, abs=1e-4)
    assert (r["low"], r["high"]) == pytest.approx((mean - half, mean + half))
    assert (round(r["low"], 2), round(r["high"], 2)) == (-10.69, 0.69)


def test_paired_interval_edge_cases():
    from panodpo.reproduction.stats import paired_interval, t_quantile_975

    one = paired_interval([3.0], [1.0])
    assert one["mean"] == 2.0 and one["low"] is None  # no interval from one pair
    same = paired_interval([5.0, 7.0], [4.0, 6.0])
    assert same["low"] == same["high"] == 1.0  # identical differences: a zero-width interval
    assert t_quantile_975(1) == 12.706 and t_quantile_975(100) == 1.96
    with pytest.raises(ValueError):
        paired_interval([1.0, 2.0], [1.0])


def test_sign_counts_favour_lower_fr_and_higher_accuracy():
    from panodpo.reproduction.stats import sign_count

    assert sign_count([-19.0, -3.0, 0.0, 4.0], "lower") == 2  # a tie is not a win
    assert sign_count([5.2, -1.0, 0.0], "higher") == 1


def test_shortcut_margin_from_choice_scores():
    from panodpo.reproduction.stats import item_margins, margin_summary, record_margin

    record = {"item_id": "v_its", "perturbation": "intrinsic", "setting": "adversarial", "correct_letter": "C", "shortcut_letter": "A",
              "option_scores": [-1.5, -4.0, -2.0, -9.0]}
    assert record_margin(record) == pytest.approx(-0.5)  # log p(correct) - log p(shortcut)
    clean = {**record, "setting": "clean", "shortcut_letter": None}
    other_round = {**record, "correct_letter": "B", "shortcut_letter": "D"}  # margin +5.0
    ets = {**record, "item_id": "v_ets", "perturbation": "extrinsic"}
    margins = item_margins([record, clean, other_round, ets])
    assert margins == {"v_its": pytest.approx(2.25)}  # mean over the item's adversarial rounds, ITS only
    assert margin_summary({"a": 1.0, "b": -3.0, "c": 0.5, "d": 0.0}) == {"mean": -0.375, "positive": 50.0, "n": 4}


def _fake_seed_result(seed: int, fr: float, pano_fr: float | None = None, margin: float = 0.0) -> dict:
    from panodpo.reproduction import ROWS

    def group(value):
        return {"t_acc": 50.0, "fr": value, "clean_acc": 80.0, "flips_to": {"shortcut": 60.0, "incorrect": 20.0, "correct": 20.0}}

    metrics = {row: {g: group(pano_fr if (row == "PanoDPO" and pano_fr is not None) else fr) for g in ("intrinsic", "extrinsic", "light", "severe")}
               for row in ROWS}
    margins = {row: {"intrinsic": {"mean": margin + (1.0 if row == "PanoDPO" else 0.0), "positive": 50.0, "n": 2, "items": {"a": margin, "b": margin}}}
               for row in ROWS}
    return {"seed": seed, "world": "canonical", "config": {"rounds": 4, "noncanonical_fraction": 0.0}, "metrics": metrics, "margins": margins,
            "timings_s": {"compute": 400.0 + seed}}


def test_summary_reports_mean_std_paired_intervals_and_signs():
    from panodpo.reproduction import summarize

    results = [_fake_seed_result(0, 40.0, 30.0), _fake_seed_result(1, 60.0, 56.0), _fake_seed_result(2, 50.0, 52.0)]
    table = summarize(results)
    sft_row = next(line for line in table.splitlines() if line.startswith("| SFT |"))
    # mean 50, sample std of (40, 60, 50) = 10.0
    assert sft_row.split(" | ")[2] == "50.0 ± 10.0"
    assert "seeds 0, 1, 2" in table
    # PanoDPO - vanilla DPO on ITS FR: -10, -4, +2 -> mean -4.0, sd 6.0, half 4.303 * 6 / sqrt(3) = 14.91; 2 of 3 seeds lower.
    dpo_row = next(line for line in table.splitlines() if line.startswith("| vanilla DPO | -"))
    assert dpo_row.split(" | ")[1] == "-4.0 [-18.9, 10.9] 2/3"
    assert dpo_row.split(" | ")[3] == "1.00 [1.00, 1.00] 3/3"  # the margin column
    assert "seed 2: 6.7 min" in table


# ----------------------------------------------------------------------------------------------
# The second world
# ----------------------------------------------------------------------------------------------


def test_mixed_world_shows_the_configured_share_of_videos_out_of_order(tmp_path):
    from temrobbench.source.prior_world import PriorWorldConfig, synthesize_prior_world, world_tasks

    config = PriorWorldConfig(num_videos=20, seed=1, world_seed=3, noncanonical_fraction=0.25)
    database = json.loads(synthesize_prior_world(tmp_path / "mixed", config).read_text())["database"]
    canonical = {name: order for name, order in world_tasks(config)}
    shown = {vid: [a["label"] for a in entry["annotation"]] for vid, entry in database.items()}
    off = [vid for vid, entry in database.items() if shown[vid] != canonical[entry["class"]]]
    assert len(off) == 5  # exactly round(0.25 * 20)
    assert sorted(off) == sorted(vid for vid, entry in database.items() if "temporal_edit" in entry)
    categories = sorted(database[vid]["temporal_edit"]["category"] for vid in off)
    assert categories == ["light", "light", "light", "severe", "severe"]
    for vid in off:  # the annotation follows the video; the canonical order is kept beside it
        edit = database[vid]["temporal_edit"]
        assert edit["canonical"] == canonical[database[vid]["class"]] and sorted(shown[vid]) == sorted(edit["canonical"])

    # The canonical world is unchanged by the option, and the mixed world's canonical videos are its very videos.
    plain = json.loads(synthesize_prior_world(tmp_path / "canonical", PriorWorldConfig(num_videos=20, seed=1, world_seed=3)).read_text())["database"]
    assert all("temporal_edit" not in entry for entry in plain.values())
    for vid, entry in plain.items():
        if vid not in off:
            assert entry == database[vid]
            task = entry["recipe_type"]
            assert (tmp_path / "mixed" / "videos" / task / f"{vid}.mp4").read_bytes() == (tmp_path / "canonical" / "videos" / task / f"{vid}.mp4").read_bytes()


def test_canonical_world_output_is_frozen(tmp_path):
    """The canonical world (the reproduction's first world, and `temrobbench synth --world prior`)
    must not change with the second world's option: COIN.json as written before it existed."""
    import hashlib

    from temrobbench.source.prior_world import PriorWorldConfig, synthesize_prior_world

    coin = synthesize_prior_world(tmp_path, PriorWorldConfig(num_videos=6, seed=3, world_seed=2))
    assert hashlib.sha256(coin.read_bytes()).hexdigest() == "cd7e2607a58eec4ab6bf9e945e35d79151815113ee4085358087f482b4281aae"


def test_mixed_world_training_items_follow_the_video_and_offer_the_usual_order(tmp_path):
    from temrobbench.source.prior_world import PriorWorldConfig, synthesize_prior_world

    from panodpo.reproduction.data import training_examples

    coin = synthesize_prior_world(tmp_path, PriorWorldConfig(num_videos=8, seed=1, world_seed=0, noncanonical_fraction=0.25))
    database = json.loads(coin.read_text())["database"]
    sft, preference = training_examples(coin, tmp_path / "videos", seed=0)
    edited = {vid: entry for vid, entry in database.items() if "temporal_edit" in entry}
    assert len(edited) == 2
    for vid, entry in edited.items():
        shown = " -> ".join(a["label"] for a in entry["annotation"])
        usual = " -> ".join(entry["temporal_edit"]["canonical"])
        examples = [e for e in sft if vid in e["video"] and usual in e["question"] and shown in e["question"]]
        assert examples, "the edited video's item offers both its own order and the usual one"
        assert all(shown in e["answer"] and usual not in e["answer"] for e in examples)  # the answer follows the video
    # 2 canonical-world ITS items + 2 ETS per video, plus one adversarial-style ITS item per edited video; 4 rotations each.
    assert len(preference) == 8 * 4 + 2 and len(sft) == 4 * len(preference)


# ----------------------------------------------------------------------------------------------
# Configuration, read-back
# ----------------------------------------------------------------------------------------------


def test_world_configs_and_row_keys():
    from panodpo.reproduction import TUNED, variants
    from panodpo.reproduction.pipeline import row_key

    canonical, mixed = config_for("canonical", 0), config_for("mixed", 4, pref_steps=7)
    assert canonical.noncanonical_fraction == 0.0 and mixed.noncanonical_fraction == 0.25
    assert mixed.seed == 4 and mixed.pref_steps == 7 and canonical.pref_lr == TUNED["canonical"]["pref_lr"]
    with pytest.raises(ValueError, match="unknown world"):
        config_for("flat", 0)
    rows = variants(canonical)
    assert rows["vanilla DPO"][:2] == (0.0, 0.0) and rows["PanoDPO"][:2] == (1.0, 1.0)
    # vanilla DPO does not depend on v': one trained model serves every v' of a tuning grid.
    assert row_key(canonical, "vanilla DPO", (0.0, 0.0, "shuffle")) == row_key(canonical, "vanilla DPO", (0.0, 0.0, "swap_segments"))
    assert row_key(canonical, "PanoDPO", (1.0, 1.0, "shuffle")) != row_key(canonical, "PanoDPO", (1.0, 1.0, "swap_segments"))
    assert row_key(canonical, "PanoDPO", (1.0, 1.0, "shuffle")) != row_key(config_for("canonical", 0, beta=0.5), "PanoDPO", (1.0, 1.0, "shuffle"))


def test_a_finished_seed_is_read_back_not_rerun(tmp_path, monkeypatch):
    import dataclasses

    import temrobbench.source.prior_world as prior_world

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


def test_finished_rows_are_read_back_and_other_data_settings_refused(tmp_path, monkeypatch):
    import temrobbench.source.prior_world as prior_world

    from panodpo.reproduction import SeedRun
    from panodpo.reproduction.pipeline import row_key

    monkeypatch.setattr(prior_world, "synthesize_prior_world", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rerun")))
    config = config_for("mixed", 100)
    folder = tmp_path / "rows" / row_key(config, "PanoDPO", (1.0, 1.0, "swap_segments"))
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"row": "PanoDPO", "metrics": {}}))
    assert SeedRun(tmp_path, config, progress=False).row("PanoDPO", (1.0, 1.0, "swap_segments"))["row"] == "PanoDPO"
    (tmp_path / "data.json").write_text(json.dumps({"seed": 100, "sft_steps": 1}))
    with pytest.raises(ValueError, match="other data or SFT settings"):
        SeedRun(tmp_path, config, progress=False).row("SFT")


def test_tuning_scores_and_choice_by_hand():
    from panodpo.reproduction.tuning import _best, _score

    def rows(world, seed, dpo_fr, dpo_tacc, pano_fr, pano_tacc, pano_clean=80.0):
        row = lambda fr, t, clean: {"metrics": {"intrinsic": {"fr": fr, "t_acc": t, "clean_acc": clean}}, "margins": {"intrinsic": {"mean": -1.0}}}  # noqa: E731
        return {"world": world, "seed": seed, "SFT": row(90.0, 5.0, 85.0), "vanilla DPO": row(dpo_fr, dpo_tacc, 85.0),
                "PanoDPO": row(pano_fr, pano_tacc, pano_clean)}

    a = _score([rows("canonical", 100, 90.0, 5.0, 80.0, 10.0), rows("mixed", 100, 80.0, 10.0, 84.0, 8.0)])
    # (10 + 5) and (-4 - 2): mean 4.5
    assert a["score"] == 4.5 and a["fr_gain"] == [10.0, -4.0] and a["eligible"]
    forgetful = _score([rows("canonical", 100, 90.0, 5.0, 10.0, 0.0, pano_clean=40.0)])
    assert forgetful["score"] == 75.0 and not forgetful["eligible"]  # low FR by forgetting the task does not win
    assert _best([{"settings": {"k": 1}, **a}, {"settings": {"k": 2}, **forgetful}]) == {"k": 1}
