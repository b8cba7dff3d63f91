"""v' drawn anew each epoch with a live reference, fixed (epoch 0's) with a precomputed one."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from datasets import Dataset

from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
from panodpo.media import load_frames
from panodpo.rejected_videos import RejectedVideoSettings
from panodpo.trainer import RejectedVideoEpoch
from temrobbench.tiny_models import build_tiny_qwen2vl
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

warnings.filterwarnings("ignore")


def _digest(frames) -> str:
    return hashlib.sha1(np.stack([np.asarray(f) for f in frames]).tobytes()).hexdigest()


@dataclasses.dataclass(frozen=True)
class RecordingSettings(RejectedVideoSettings):
    """The collator's rejected-video settings, recording every v' it makes: (example, epoch, digest)."""

    log: list = dataclasses.field(default_factory=list, compare=False, hash=False)

    def make(self, frames, *, seed, example_id, epoch=0):
        out = super().make(frames, seed=seed, example_id=example_id, epoch=epoch)
        self.log.append((example_id, epoch, _digest(out)))
        return out


@pytest.fixture(scope="module")
def dataset(tiny_benchmark):
    videos = sorted(str(p) for p in (tiny_benchmark / "videos").glob("*/clean.mp4"))
    return Dataset.from_list([
        {"id": f"ex{i}", "video": v, "prompt": "<video>\nWhich step comes first?", "chosen": "cut bread", "rejected": "add ham",
         "rejected_prompt": "The video opens with adding ham. Which step comes first?"}
        for i, v in enumerate(videos[:2])
    ])


def _train_two_epochs(dataset, tmp_path, precompute: bool) -> tuple[list, PanoDPOTrainer]:
    model, processor = build_tiny_qwen2vl(seed=1)
    args = PanoDPOConfig(output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=2, report_to=[], num_frames=4,
                         gradient_checkpointing=False, save_strategy="no", seed=0, rejected_video_strategy="crop",
                         precompute_ref_log_probs=precompute, logging_steps=1, share_prefix=False)
    trainer = PanoDPOTrainer(model, args=args, train_dataset=dataset, processing_class=processor,
                             peft_config=default_lora_config(model, r=4, alpha=8, dropout=0.0))
    recording = RecordingSettings("crop")
    trainer.data_collator.rejected_video = recording
    trainer.train()
    return recording.log, trainer


def _by_epoch(log):
    seen: dict[tuple[str, int], str] = {}
    for example, epoch, digest in log:
        seen.setdefault((example, epoch), digest)
    return seen


def test_live_reference_draws_a_new_rejected_video_each_epoch(dataset, tmp_path):
    log, trainer = _train_two_epochs(dataset, tmp_path, precompute=False)
    seen = _by_epoch(log)
    assert sorted(seen) == [("ex0", 0), ("ex0", 1), ("ex1", 0), ("ex1", 1)]
    for example in ("ex0", "ex1"):
        assert seen[(example, 0)] != seen[(example, 1)]
    # Deterministic from (seed, example, epoch): the same v' when made again, outside training.
    frames = load_frames(dataset[0]["video"], 4)
    for epoch in (0, 1):
        again = RejectedVideoSettings("crop").make(frames, seed=0, example_id="ex0", epoch=epoch)
        assert _digest(again) == seen[("ex0", epoch)]
    assert trainer.data_collator.epoch == 0  # back to 0 after training (a later evaluate sees epoch 0's v')


def test_precomputed_reference_keeps_epoch_zeros_rejected_video(dataset, tmp_path):
    log, _ = _train_two_epochs(dataset, tmp_path, precompute=True)
    assert {epoch for _, epoch, _ in log} == {0}
    assert len(log) == 4  # both examples, in both epochs
    digests: dict[str, set] = {}
    for example, _, digest in log:
        digests.setdefault(example, set()).add(digest)
    assert all(len(d) == 1 for d in digests.values())  # the v' its reference log-prob was computed on


def test_the_epoch_comes_from_the_trainer_state():
    collator = SimpleNamespace(epoch=0)
    callback = RejectedVideoEpoch(collator)
    for state_epoch, expected in ((None, 0), (0.0, 0), (1.0, 1), (1.5, 1), (2.9999999999, 3), (3.0, 3)):
        callback.on_epoch_begin(None, SimpleNamespace(epoch=state_epoch), None)
        assert collator.epoch == expected, state_epoch
    callback.on_train_end(None, SimpleNamespace(epoch=3.0), None)
    assert collator.epoch == 0


def test_persistent_workers_with_a_live_reference_are_refused(tmp_path):
    with pytest.raises(ValueError, match="dataloader_persistent_workers"):
        PanoDPOConfig(output_dir=str(tmp_path), dataloader_num_workers=1, dataloader_persistent_workers=True)
    PanoDPOConfig(output_dir=str(tmp_path), dataloader_num_workers=1, dataloader_persistent_workers=True, precompute_ref_log_probs=True)
    PanoDPOConfig(output_dir=str(tmp_path), dataloader_num_workers=1, dataloader_persistent_workers=True, video_loss_weight=0.0)
