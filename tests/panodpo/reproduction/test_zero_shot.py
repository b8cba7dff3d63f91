"""The mini reproduction's zero-shot setup: open-QA preference data in the ShareGPTVideo-DPO layout,
prepared through `panodpo prepare`'s code, rows as data, and one tiny seed end to end."""

from __future__ import annotations

import json
import math
import re

import pytest

from panodpo.reproduction.zero_shot import CHAINS, ZERO_SHOT_ROWS, open_qa_rows, open_qa_rows_for_video

# Benchmark wording that must never reach the zero-shot training data.
BENCHMARK_PHRASES = ("In which order are the steps performed", "Answer with the option's letter", "Descriptions of the steps",
                     "Which statement about the order", "This video shows the task", " -> ")
LETTER_OPTION = re.compile(r"(^|\n)[A-D]\. ")
TWO_ROWS = {"vanilla DPO": {"video_loss_weight": 0.0, "text_loss_weight": 0.0}, "PanoDPO": {"video_loss_weight": 1.0, "text_loss_weight": 1.0}}


@pytest.fixture
def two_rows(monkeypatch):
    """The setup's rows pinned to vanilla DPO and PanoDPO (others may be added to ZERO_SHOT_ROWS)."""
    import panodpo.reproduction.zero_shot as zero_shot

    rows = {name: dict(overrides) for name, overrides in TWO_ROWS.items()}
    monkeypatch.setattr(zero_shot, "ZERO_SHOT_ROWS", rows)
    return rows


def _world(tmp_path, num_videos=8, fraction=0.25, world_seed=0):
    from temrobbench.source.prior_world import PriorWorldConfig, synthesize_prior_world

    coin = synthesize_prior_world(tmp_path / "world", PriorWorldConfig(num_videos=num_videos, seed=1, world_seed=world_seed,
                                                                       noncanonical_fraction=fraction))
    return coin, json.loads(coin.read_text())["database"]


def test_open_qa_rows_are_true_to_the_video_and_reject_the_usual_order_where_it_departs(tmp_path):
    coin, database = _world(tmp_path)
    rows = open_qa_rows(coin, tmp_path / "world" / "videos", seed=0)
    assert len(rows) == 8 * 11 and len({r["id"] for r in rows}) == len(rows)  # describe, first, last, 4 after, 4 before per video
    for row in rows:
        assert set(row) == {"id", "video", "prompt", "chosen", "rejected"} and row["prompt"].startswith("<video>\n")
        assert (tmp_path / "world" / "videos" / row["video"]).is_file()
        assert row["chosen"] != row["rejected"]
        text = row["prompt"] + row["chosen"] + row["rejected"]
        assert not LETTER_OPTION.search(text) and not any(p in text for p in BENCHMARK_PHRASES)
    edited = {vid: e for vid, e in database.items() if "temporal_edit" in e}
    assert len(edited) == 2
    for vid, entry in database.items():
        shown = [a["label"] for a in entry["annotation"]]
        mine = {r["id"]: r for r in rows if r["id"].startswith(vid + "_")}
        describe = mine[f"{vid}_0"]
        wording = next(chain for chain in CHAINS if chain(shown) == describe["chosen"])  # what the video shows, in one wording
        if vid in edited:  # the wrong answer is the task's usual order (the shortcut), in the same wording
            assert describe["rejected"] == wording(entry["temporal_edit"]["canonical"])
        for i, step in enumerate(shown[:-1]):
            after = next(r for r in mine.values() if r["prompt"].endswith(f"after {step}?"))
            assert after["chosen"] == f"After {step}, the person does {shown[i + 1]}."
            wrong = after["rejected"].rsplit(" ", 1)[1].rstrip(".")
            assert wrong in shown and wrong not in (step, shown[i + 1])  # another step of the video: order, not presence, decides


def test_rejected_answers_follow_the_usual_order_on_a_departing_video():
    rows = open_qa_rows_for_video("v", "TaskA", "0/v.mp4", list("hebaf"), list("hbeaf"), seed=0)
    by_question = {r["prompt"].split("\n")[1].split(". ")[-1]: r for r in rows}
    after_h = next(r for q, r in by_question.items() if q.endswith("after h?"))
    assert after_h["chosen"].endswith("does e.") and after_h["rejected"].endswith("does b.")  # usually b follows h
    first = next(r for q, r in by_question.items() if "first" in q)
    assert first["rejected"] == "The first step is e."  # same first step in both orders: its neighbour, an order mistake
    with pytest.raises(ValueError, match="permutation"):
        open_qa_rows_for_video("v", "TaskA", "0/v.mp4", list("heb"), list("hex"), seed=0)


def test_rows_are_prepared_by_the_panodpo_prepare_path_with_a_false_order_premise(tmp_path):
    from panodpo.reproduction.zero_shot import prepare_zero_shot_data

    coin, _ = _world(tmp_path, num_videos=4)
    dataset, sft, report = prepare_zero_shot_data(coin, tmp_path / "world" / "videos", tmp_path / "open-qa", seed=0)
    assert report["num_rows_prepared"] == 44 and report["skipped"] == {} and report["perturber"] == "template"
    assert (tmp_path / "open-qa" / "prepared" / "README.md").is_file()  # the Hub layout of `panodpo prepare`
    assert {"id", "video", "prompt", "chosen", "rejected", "rejected_prompt"} <= set(dataset.column_names)
    text = dataset.select_columns(["id", "prompt", "chosen", "rejected", "rejected_prompt"])
    for row in text:
        assert "<video>" not in row["prompt"]
        # q': the rejected answer as a premise ("In the video, after h, the person does b."), then the question.
        premise = row["rejected"][0].lower() + row["rejected"][1:-1]
        assert row["rejected_prompt"] == f"In the video, {premise}. {row['prompt']}"
    assert [(e["question"], e["answer"]) for e in sft] == [(r["prompt"], r["chosen"]) for r in text]  # SFT: the chosen answers
    # Rerun (a killed run's resume): the q' cache is reused, the same rows come back.
    again, _, _ = prepare_zero_shot_data(coin, tmp_path / "world" / "videos", tmp_path / "open-qa", seed=0)
    assert again.select_columns(["id", "rejected_prompt"]).to_list() == text.select_columns(["id", "rejected_prompt"]).to_list()


def test_a_row_is_a_name_and_config_overrides(two_rows, tmp_path):
    from panodpo.reproduction import config_for, rows_of
    from panodpo.reproduction.pipeline import row_key
    from panodpo.reproduction.training import preference_args

    assert all(ZERO_SHOT_ROWS[name] == overrides for name, overrides in TWO_ROWS.items())  # the shipped rows start with these
    config = config_for("mixed", 0, setup="zero-shot")
    assert rows_of(config) == ("SFT", "vanilla DPO", "PanoDPO") and rows_of(config_for("mixed", 0))[:2] == ("SFT", "Prompt")
    args = preference_args(config, two_rows["vanilla DPO"], tmp_path)
    assert (args.video_loss_weight, args.text_loss_weight, args.beta, args.max_steps) == (0.0, 0.0, config.beta, config.pref_steps)
    # In-format variants name the same fields: the same arguments as before the rows became data.
    tuple_args = preference_args(config, (1.0, 0.0, "swap_segments"), tmp_path)
    assert (tuple_args.video_loss_weight, tuple_args.text_loss_weight, tuple_args.rejected_video_strategy) == (1.0, 0.0, "swap_segments")
    with pytest.raises(ValueError, match="not PanoDPOConfig fields"):
        preference_args(config, {"video_loss_wieght": 1.0}, tmp_path)
    # Adding a row is one entry; its folder depends on its overrides.
    two_rows["PanoDPO beta 0.5"] = {"video_loss_weight": 1.0, "text_loss_weight": 1.0, "beta": 0.5}
    assert rows_of(config)[-1] == "PanoDPO beta 0.5" and preference_args(config, two_rows["PanoDPO beta 0.5"], tmp_path).beta == 0.5
    keys = {row_key(config, name, overrides) for name, overrides in two_rows.items()}
    assert len(keys) == 3
    # Every shipped row names only PanoDPOConfig fields.
    for overrides in ZERO_SHOT_ROWS.values():
        preference_args(config, overrides, tmp_path)


def test_setup_identity_keeps_in_format_files_readable():
    import dataclasses

    from panodpo.reproduction import MiniReproConfig, config_for
    from panodpo.reproduction.pipeline import identity, same_run, setup_folder

    old = {k: v for k, v in dataclasses.asdict(MiniReproConfig()).items() if k != "setup"}  # a results.json from before the setup field
    assert same_run(old, MiniReproConfig()) and identity(MiniReproConfig()) == old
    assert not same_run(old, MiniReproConfig(setup="zero-shot"))
    assert setup_folder("zero-shot", "mixed") == "zero-shot/mixed" and setup_folder("in-format", "mixed") == "mixed"
    with pytest.raises(ValueError, match="unknown setup"):
        config_for("mixed", 0, setup="few-shot")


def test_cli_refuses_tuning_the_zero_shot_setup(tmp_path, capsys):
    from temrobbench.cli import main

    assert main(["reproduce", "--setup", "zero-shot", "--tune", "--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --tune runs the in-format grid only") and not (tmp_path / "out").exists()


def test_one_tiny_zero_shot_seed_end_to_end_and_read_back(tmp_path, monkeypatch, two_rows):
    """1 seed, tiny sizes, 1 preference step: the rows are trained and evaluated, written in the
    per-seed layout, the first step's loss is the hand value, a rerun reads everything back, and a
    row added later is trained on the finished seed while the others are read back."""
    import torch

    from panodpo.reproduction import config_for
    from panodpo.reproduction.pipeline import row_key, run

    small = dict(train_videos=2, test_videos=2, sft_steps=2, sft_batch=4, pref_steps=1, pref_batch=2)
    table = run(tmp_path, seeds=[0], overrides=small, setups=("zero-shot",), progress=False)
    assert "Zero-shot setup: World `mixed`" in table and "| PanoDPO |" in table and "| Prompt |" not in table
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results) == ["zero-shot/mixed"] and set(results["zero-shot/mixed"][0]["metrics"]) == {"SFT", "vanilla DPO", "PanoDPO"}
    seed_dir = tmp_path / "zero-shot" / "mixed" / "seed0"
    seed = json.loads((seed_dir / "results.json").read_text())
    assert seed["config"]["setup"] == "zero-shot"
    # Step 1 starts at the reference (policy = reference): every active term is -log sigmoid(0) = log 2.
    final = {entry["stage"]: entry["train_loss"] for entry in seed["training_log"] if "train_loss" in entry}
    assert final[str(two_rows["vanilla DPO"])] == pytest.approx(math.log(2), abs=1e-4)
    assert final[str(two_rows["PanoDPO"])] == pytest.approx(3 * math.log(2), abs=1e-4)
    # The preference step changed the SFT model's weights.
    config = config_for("mixed", 0, setup="zero-shot", **small)
    sft = torch.load(seed_dir / "sft.pt", weights_only=True)
    pano = torch.load(seed_dir / "rows" / row_key(config, "PanoDPO", two_rows["PanoDPO"]) / "model.pt", weights_only=True)
    assert any(not torch.equal(sft[name], pano[name]) for name in sft)

    import temrobbench.source.prior_world as prior_world

    synthesize = prior_world.synthesize_prior_world
    monkeypatch.setattr(prior_world, "synthesize_prior_world", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rerun")))
    assert run(tmp_path, seeds=[0], overrides=small, setups=("zero-shot",), progress=False) == table
    assert run(tmp_path, seeds=[0], overrides=small, setups=("zero-shot",), progress=False, report_only=True) == table

    monkeypatch.setattr(prior_world, "synthesize_prior_world", synthesize)
    two_rows["DPO w/o DPOv"] = {"video_loss_weight": 0.0, "text_loss_weight": 1.0}
    reopened = run(tmp_path, seeds=[0], overrides=small, setups=("zero-shot",), progress=False)
    again = json.loads((tmp_path / "results.json").read_text())["zero-shot/mixed"][0]
    assert "| DPO w/o DPOv |" in reopened and again["metrics"]["DPO w/o DPOv"]["intrinsic"]["t_acc"] is not None
    assert {name: again["metrics"][name] for name in ("SFT", "vanilla DPO", "PanoDPO")} == results["zero-shot/mixed"][0]["metrics"]
