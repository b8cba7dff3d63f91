"""PanoDPOTrainer on a tiny Qwen2-VL built offline, on CPU."""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import pytest
import torch
from datasets import Dataset, load_from_disk

from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
from temrobbench.tiny_models import build_tiny_qwen2vl
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def dataset(tiny_benchmark):
    videos = sorted(str(p) for p in (tiny_benchmark / "videos").glob("*/clean.mp4"))
    rows = [
        {"id": f"ex{i}", "video": v, "prompt": "<video>\nWhich step comes first?", "chosen": "cut bread", "rejected": "add ham",
         "rejected_prompt": "The video opens with adding ham. Which step comes first?"}
        for i, v in enumerate(videos * 2)
    ]
    return Dataset.from_list(rows[:4])


def make_trainer(dataset, tmp_path, eval_dataset=None, build=build_tiny_qwen2vl, **overrides):
    model, processor = build(seed=1)
    settings = dict(output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=2, logging_steps=1, report_to=[],
                    num_frames=4, gradient_checkpointing=False, save_strategy="no", learning_rate=5e-2, warmup_ratio=0.0, seed=0)
    settings.update(overrides)
    trainer = PanoDPOTrainer(model, args=PanoDPOConfig(**settings), train_dataset=dataset, eval_dataset=eval_dataset, processing_class=processor,
                             peft_config=default_lora_config(model, r=4, alpha=8, dropout=0.0))
    return trainer


class ForwardCounter:
    """Counts forwards of the base model (policy and adapter-disabled reference alike) and their batch sizes."""

    def __init__(self, trainer):
        self.batches = []
        trainer.model.get_base_model().register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        self.batches.append(kwargs["input_ids"].shape[0])


def test_training_changes_trainable_parameters_only(dataset, tmp_path):
    trainer = make_trainer(dataset, tmp_path)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert any("merger" in n for n in trainable)  # the projector is trained
    assert not any(("visual" in n and "merger" not in n) for n in trainable)  # the vision tower is frozen
    trainer.train()
    for name, parameter in trainer.model.named_parameters():
        changed = not torch.equal(before[name], parameter.detach())
        if name in trainable:
            assert changed, f"trainable parameter {name} did not change"
        else:
            assert not changed, f"frozen parameter {name} changed"
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 3 and all(math.isfinite(entry["loss"]) for entry in logs)
    for term in ("dpo", "dpov", "dpot"):
        for metric in ("loss", "reward_margin", "accuracy"):
            assert f"{term}/{metric}" in logs[-1]
    # TRL's DPOTrainer names for the DPO term, so runs of both plot on one chart.
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"):
        assert key in logs[-1], key
    assert logs[-1]["rewards/margins"] == pytest.approx(logs[-1]["dpo/reward_margin"], abs=1e-6)
    assert logs[0]["loss"] == pytest.approx(3 * math.log(2), rel=1e-4)  # policy == reference at step 0


def test_llava_onevision_trains_too(dataset, tmp_path):
    """The collator and the trainable set are not Qwen2-VL-specific (the LLaVA-OneVision-7B example)."""
    from tests.support.tiny_families.llava_onevision import build_tiny_llava_onevision

    trainer = make_trainer(dataset, tmp_path, build=build_tiny_llava_onevision, max_steps=2)
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert any("multi_modal_projector" in n for n in trainable) and not any("vision_tower" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    for name, parameter in trainer.model.named_parameters():
        assert torch.equal(before[name], parameter.detach()) != (name in trainable), name
    assert all(math.isfinite(e["loss"]) and "dpov/accuracy" in e for e in trainer.state.log_history if "loss" in e)


@pytest.mark.parametrize("weights, kinds", [((1.0, 1.0), 4), ((0.0, 1.0), 3), ((1.0, 0.0), 3), ((0.0, 0.0), 2)])
def test_one_policy_forward_over_the_active_sequences(dataset, tmp_path, weights, kinds):
    # The plain path (share_prefix=False; the shared-prefix path is tests/panodpo/test_shared_prefix.py).
    trainer = make_trainer(dataset, tmp_path, max_steps=2, video_loss_weight=weights[0], text_loss_weight=weights[1], precompute_ref_log_probs=True,
                           share_prefix=False)
    counter = ForwardCounter(trainer)
    trainer.train()
    # After precomputing, each step is exactly one forward, of kinds x batch sequences.
    assert counter.batches == [kinds * 2, kinds * 2]
    logged = trainer.state.log_history[0]
    assert ("dpov/loss" in logged) == (weights[0] > 0) and ("dpot/loss" in logged) == (weights[1] > 0)


def test_without_precompute_each_step_adds_one_reference_forward(dataset, tmp_path):
    trainer = make_trainer(dataset, tmp_path, max_steps=2, share_prefix=False)
    counter = ForwardCounter(trainer)
    trainer.train()
    assert counter.batches == [8, 8, 8, 8]  # policy + adapter-disabled reference, per step


def test_precomputed_reference_equals_the_disabled_adapter(dataset, tmp_path):
    trainer = make_trainer(dataset, tmp_path, precompute_ref_log_probs=True)
    cached = torch.tensor(trainer.train_dataset["ref_logps"])  # (N, 5)
    batch = trainer.data_collator([dataset[i] for i in range(4)])
    fresh = trainer.compute_ref_log_probs(trainer.model, batch).T
    assert torch.allclose(cached, fresh, atol=1e-4)


def _sequence_logps_by_hand(model, batch):
    """Per-sequence sum of completion log-probs, one sequence at a time, from plain logits."""
    out = []
    per_row = batch["pixel_values_videos"].shape[0] // batch["input_ids"].shape[0]
    for i in range(batch["input_ids"].shape[0]):
        keep = batch["attention_mask"][i].bool()
        ids = batch["input_ids"][i][keep][None]
        kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "video_grid_thw": batch["video_grid_thw"][i : i + 1],
                  "pixel_values_videos": batch["pixel_values_videos"][i * per_row : (i + 1) * per_row],
                  "mm_token_type_ids": batch["mm_token_type_ids"][i][keep][None]}
        logits = model(**kwargs).logits[0, :-1].float()
        targets = ids[0, 1:]
        mask = batch["completion_mask"][i][keep][1:].bool()
        out.append(torch.log_softmax(logits, -1).gather(1, targets[:, None])[:, 0][mask].sum().item())
    return out


OBJECTIVES = {
    "panodpo": dict(video_loss_weight=0.7, text_loss_weight=1.3),
    # Every term at once: IPO on the pairwise ones, VistaDPO's instance-level term, mDPO's anchor.
    "ipo+instance+anchor": dict(video_loss_weight=0.7, text_loss_weight=1.3, instance_loss_weight=0.6, anchor_loss_weight=0.4,
                                anchor_margin=0.2, loss_type="ipo"),
}


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_loss_equals_hand_computation(dataset, tmp_path, objective):
    settings = OBJECTIVES[objective]
    trainer = make_trainer(dataset, tmp_path, max_steps=2, beta=0.5, **settings)
    trainer.train()  # move the adapter away from the reference so every term is non-trivial
    model = trainer.model.eval()
    batch = trainer.data_collator([dataset[i] for i in range(2)])  # shared video encoding: features of v and v' reused
    plain = dataclasses.replace(trainer.data_collator, share_video_encoding=False)([dataset[i] for i in range(2)])
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch).item()
        policy = _sequence_logps_by_hand(model, plain)
        with model.disable_adapter():
            reference = _sequence_logps_by_hand(model, plain)
    # kinds: chosen 0-1, rejected 2-3, chosen|v' 4-5, chosen|q' 6-7 (then rejected|v' 8-9 with the instance term)
    r = [p - q for p, q in zip(policy, reference)]
    lengths = plain["completion_mask"].sum(dim=1).tolist()
    weights = [1.0, settings["video_loss_weight"], settings["text_loss_weight"], settings.get("instance_loss_weight", 0.0)]
    terms = []
    for b in range(2):
        def pair(k):
            if settings.get("loss_type") == "ipo":  # ((r_w/|y_w| - r_k/|y_k|) - 1/(2 beta))^2
                return (r[b] / lengths[b] - r[2 * k + b] / lengths[2 * k + b] - 1 / (2 * 0.5)) ** 2
            return -math.log(1 / (1 + math.exp(-0.5 * (r[b] - r[2 * k + b]))))
        total = sum(weights[k - 1] * pair(k) for k in range(1, 5) if weights[k - 1])
        if settings.get("anchor_loss_weight"):
            total += settings["anchor_loss_weight"] * -math.log(1 / (1 + math.exp(-(0.5 * r[b] - settings["anchor_margin"]))))
        terms.append(total)
    assert loss == pytest.approx(sum(terms) / 2, rel=1e-3)


def test_a_preset_trains_every_term_it_names(dataset, tmp_path):
    """mDPO's preset (its crop as v', its anchor) plus VistaDPO's instance-level term: one policy
    forward over the 4 kinds it needs, every trainable parameter moved, each term logged."""
    model, processor = build_tiny_qwen2vl(seed=1)
    args = PanoDPOConfig.from_preset("mdpo", output_dir=str(tmp_path / "out"), instance_loss_weight=0.5, max_steps=2,
                                     per_device_train_batch_size=2, logging_steps=1, report_to=[], num_frames=4, gradient_checkpointing=False,
                                     save_strategy="no", learning_rate=5e-2, warmup_ratio=0.0, seed=0)
    assert (args.video_loss_weight, args.text_loss_weight, args.anchor_loss_weight, args.rejected_video_strategy) == (1.0, 0.0, 1.0, "random_resized_crop")
    trainer = PanoDPOTrainer(model, args=args, train_dataset=dataset, processing_class=processor,
                             peft_config=default_lora_config(model, r=4, alpha=8, dropout=0.0))
    assert trainer.rows == [0, 1, 2, 4]  # no y_w|q' (DPOt off), y_l|v' for the instance term
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    for name, parameter in trainer.model.named_parameters():
        if name in before:
            assert not torch.equal(before[name], parameter.detach()), f"trainable parameter {name} did not change"
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    # Policy == reference at step 0: each pairwise term and the anchor (margin 0) is log 2.
    assert logs[0]["loss"] == pytest.approx((1 + 1 + 0.5 + 1) * math.log(2), rel=1e-4)
    for key in ("dpo/loss", "dpov/accuracy", "instance/loss", "instance/reward_margin", "instance/accuracy", "anchor/loss", "anchor/reward",
                "anchor/accuracy"):
        assert key in logs[-1], key
    assert "dpot/loss" not in logs[-1]


def test_checkpoint_and_resume(dataset, tmp_path):
    trainer = make_trainer(dataset, tmp_path, max_steps=3, save_strategy="steps", save_steps=1)
    trainer.train()
    checkpoints = sorted((tmp_path / "out").glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    assert (checkpoints[1] / "adapter_model.safetensors").is_file()
    assert "PanoDPO" in (checkpoints[1] / "README.md").read_text()  # the project's card in every checkpoint
    resumed = make_trainer(dataset, tmp_path / "resumed", max_steps=3, save_strategy="no")
    resumed.train(resume_from_checkpoint=str(checkpoints[1]))
    assert resumed.state.global_step == 3
    # The interrupted run ends where the uninterrupted one did (same data order, optimizer and schedule).
    final = dict(trainer.model.named_parameters())
    for name, parameter in resumed.model.named_parameters():
        if parameter.requires_grad:
            assert torch.allclose(parameter, final[name], atol=1e-6), name


def test_evaluate_logs_per_term_metrics(dataset, tmp_path):
    trainer = make_trainer(dataset, tmp_path, max_steps=1, precompute_ref_log_probs=True, eval_dataset=dataset.select(range(2)),
                           per_device_eval_batch_size=2)
    metrics = trainer.evaluate()
    assert metrics["eval_loss"] == pytest.approx(3 * math.log(2), rel=1e-4)  # untrained: policy == reference
    for term in ("dpo", "dpov", "dpot"):
        assert f"eval_{term}/reward_margin" in metrics and f"eval_{term}/accuracy" in metrics


def test_save_model_and_push_to_hub_write_adapter_and_card(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_do_not_leak_this")
    trainer = make_trainer(dataset, tmp_path, max_steps=1, video_loss_weight=0.5, rejected_video_strategy="crop")
    trainer.dataset_name = "ORG/sharegptvideo-panodpo"
    trainer.train()
    out = tmp_path / "adapter"
    trainer.save_model(str(out))
    card = (out / "README.md").read_text()  # the project's card, not PEFT's generic one
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    for text in ("library_name: peft", "panodpo", "| video loss weight (lambda_v) | 0.5 |", "| text loss weight (lambda_t) | 1.0 |",
                 "| rejected video | crop |", "datasets:\n- ORG/sharegptvideo-panodpo", "| dpo/loss |", "| dpov/reward_margin |", "| dpot/accuracy |"):
        assert text in card, text
    assert "hf_do_not_leak_this" not in card and "base_model:" not in card  # built from a config: no Hub id to name
    trainer.model.peft_config["default"].base_model_name_or_path = "Qwen/Qwen2-VL-2B-Instruct"

    uploads = []

    class FakeHfApi:  # what push_to_hub sends, without a network
        def create_repo(self, repo_id, **kwargs):
            return type("RepoUrl", (), {"repo_id": repo_id})()

        def upload_folder(self, repo_id, folder_path, **kwargs):
            files = {p.relative_to(folder_path).as_posix(): p.read_bytes() for p in Path(folder_path).rglob("*") if p.is_file()}
            uploads.append((repo_id, files))

    import transformers.trainer

    monkeypatch.setattr(transformers.trainer, "hf_api", FakeHfApi)
    trainer.args.hub_model_id = "me/tiny-panodpo"
    trainer.push_to_hub()
    [(repo_id, files)] = uploads
    assert repo_id == "me/tiny-panodpo" and "adapter_model.safetensors" in files
    pushed_card = files["README.md"].decode()
    assert "| video loss weight (lambda_v) | 0.5 |" in pushed_card and 'PeftModel.from_pretrained(base, "me/tiny-panodpo")' in pushed_card
    assert "base_model: Qwen/Qwen2-VL-2B-Instruct" in pushed_card and 'from_pretrained("Qwen/Qwen2-VL-2B-Instruct")' in pushed_card
    assert not any(b"hf_do_not_leak_this" in content for content in files.values())


def test_reference_log_probs_cached_on_disk_and_reused(dataset, tmp_path, monkeypatch):
    dataset.save_to_disk(str(tmp_path / "data"))
    on_disk = load_from_disk(str(tmp_path / "data"))  # has cache files: the reference log-probs are cached beside them
    calls = []
    original = PanoDPOTrainer.compute_ref_log_probs
    monkeypatch.setattr(PanoDPOTrainer, "compute_ref_log_probs", lambda self, *a: calls.append(1) or original(self, *a))
    first = make_trainer(on_disk, tmp_path, precompute_ref_log_probs=True)
    assert len(calls) == 2  # 4 examples, batches of 2
    second = make_trainer(on_disk, tmp_path, precompute_ref_log_probs=True)
    assert len(calls) == 2  # nothing recomputed
    assert second.train_dataset["ref_logps"] == first.train_dataset["ref_logps"]
    make_trainer(on_disk, tmp_path, precompute_ref_log_probs=True, rejected_video_strategy="replace")
    assert len(calls) == 4  # other rejected videos: other reference log-probs
    # The issue-18 bug: a max_length that truncates responses once reused the untruncated cache.
    make_trainer(on_disk, tmp_path, precompute_ref_log_probs=True, max_length=first.data_collator([dataset[0]])["input_ids"].shape[1] - 3)
    assert len(calls) == 6


def test_every_collator_setting_keys_the_reference_cache(dataset, tmp_path):
    import dataclasses

    from panodpo.rejected_videos import RejectedVideoSettings

    trainer = make_trainer(dataset, tmp_path, max_steps=1)
    collator = trainer.data_collator
    base = trainer._ref_cache_fingerprint(dataset)
    changed = {
        "num_frames": 3, "video_loss_weight": 0.5, "text_loss_weight": 0.0, "instance_loss_weight": 0.5,
        "rejected_video": RejectedVideoSettings("crop"),
        "seed": 7, "media_root": "/elsewhere", "video_column": "clip", "frame_cache_size": 8, "max_length": 100, "share_video_encoding": False,
        "share_prefix": not collator.share_prefix,
    }
    settings = {f.name for f in dataclasses.fields(collator) if f.name != "processor"}
    assert settings == set(changed), "a new collator setting: add it here so the test changes it too"
    for name, value in changed.items():
        trainer.data_collator = dataclasses.replace(collator, **{name: value})
        assert trainer._ref_cache_fingerprint(dataset) != base, f"changing {name} kept the cached reference log-probs"
    for name, value in {"crop_area_ratio": 0.3, "blank_frame_ratio": 0.2, "num_segments": 5}.items():
        trainer.data_collator = dataclasses.replace(collator, rejected_video=dataclasses.replace(collator.rejected_video, **{name: value}))
        assert trainer._ref_cache_fingerprint(dataset) != base, name
    trainer.data_collator = dataclasses.replace(collator)
    assert trainer._ref_cache_fingerprint(dataset) == base  # equal settings: the same key


def test_max_length_truncates_responses_never_prompts(dataset):
    from panodpo.collator import PanoDPOCollator

    processor = build_tiny_qwen2vl()[1]
    examples = [dataset[i] for i in range(2)]
    full = PanoDPOCollator(processor, num_frames=2)(examples)
    prompt_lengths = (full["attention_mask"].bool() & ~full["completion_mask"].bool()).sum(dim=1)
    limit = int(prompt_lengths.max()) + 2
    cut = PanoDPOCollator(processor, num_frames=2, max_length=limit)(examples)
    assert cut["input_ids"].shape[1] == limit < full["input_ids"].shape[1]
    assert torch.equal(cut["input_ids"], full["input_ids"][:, :limit]) and torch.equal(cut["mm_token_type_ids"], full["mm_token_type_ids"][:, :limit])
    assert (cut["completion_mask"].sum(dim=1) >= 1).all()  # every sequence keeps its prompt and some of its response
    with pytest.raises(ValueError, match="no room for a response"):
        PanoDPOCollator(processor, num_frames=2, max_length=int(prompt_lengths.max()))(examples)


def test_full_fine_tuning_freezes_the_vision_tower_and_precomputes_from_the_initial_model(dataset, tmp_path):
    model, processor = build_tiny_qwen2vl(seed=1)
    args = PanoDPOConfig(output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=2, report_to=[], num_frames=4,
                         gradient_checkpointing=False, save_strategy="no", learning_rate=1e-2, precompute_ref_log_probs=True, logging_steps=1)
    trainer = PanoDPOTrainer(model, args=args, train_dataset=dataset, processing_class=processor)  # no peft_config
    assert trainer.ref_model is None and len(trainer.train_dataset[0]["ref_logps"]) == 5
    vision = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if n.startswith("model.visual.") and "merger" not in n}
    assert vision and not any(p.requires_grad for n, p in trainer.model.named_parameters() if n in vision)
    trainer.train()
    logs = [e for e in trainer.state.log_history if "loss" in e]
    assert logs[0]["loss"] == pytest.approx(3 * math.log(2), rel=1e-4)  # the cached reference is the initial model
    assert all(torch.equal(vision[n], p) for n, p in trainer.model.named_parameters() if n in vision)


def test_quickstart_training(tmp_path):
    from panodpo.quickstart import run_quickstart_training

    summary = run_quickstart_training(tmp_path / "qs", steps=2)
    assert "dpov/margin" in summary and len([line for line in summary.splitlines() if line.strip()[:1].isdigit()]) == 2
    adapter = tmp_path / "qs" / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file() and "PanoDPO" in (adapter / "README.md").read_text()
