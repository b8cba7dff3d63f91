"""Group C's refusals are what a user gets: Nemotron 3 Nano Omni evaluates, but PanoDPO refuses to train it."""

from __future__ import annotations

import numpy as np
import pytest

from temrobbench.family_support import REFUSED, check_family
from temrobbench.utils.errors import UserError

from tests.support.torch_threads import one_torch_thread  # noqa: F401


def test_nemotron_h_omni_evaluates_but_is_refused_for_training():
    from tests.support.tiny_families import build_tiny

    model, processor = build_tiny("nemotron_h_omni")
    assert REFUSED["nemotron_h_omni"].training_only
    check_family(model, training=False)  # hf: loads it
    with pytest.raises(UserError, match="PanoDPOTrainer does not support nemotron_h_omni yet: .*single prompt") as err:
        check_family(model, training=True, subject="hf:nvidia/Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16")
    assert "\n" not in err.value.line()


def test_the_reason_is_true_the_processor_refuses_a_batch_of_prompts_with_videos():
    from tests.support.tiny_families import build_tiny

    _, processor = build_tiny("nemotron_h_omni")
    frames = list(np.random.RandomState(0).randint(0, 255, (4, 48, 64, 3), dtype=np.uint8))
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Q?"}]}],
                                         add_generation_prompt=True, tokenize=False)
    processor(text=[text], videos=[frames], return_tensors="pt", do_sample_frames=False)  # one prompt: fine
    with pytest.raises(ValueError, match="only supported with a single prompt"):
        processor(text=[text, text], videos=[frames, frames], return_tensors="pt", padding=True, do_sample_frames=False)


def test_panodpo_trainer_refuses_it_in_one_line(tmp_path):
    from datasets import Dataset

    from panodpo import PanoDPOConfig, PanoDPOTrainer
    from tests.support.tiny_families import build_tiny

    model, processor = build_tiny("nemotron_h_omni")
    args = PanoDPOConfig(output_dir=str(tmp_path), max_steps=1, report_to=[], save_strategy="no")
    data = Dataset.from_list([{"id": "a", "video": "v.mp4", "prompt": "<video>\nQ?", "chosen": "a", "rejected": "b"}])
    with pytest.raises(UserError, match="PanoDPOTrainer does not support nemotron_h_omni yet"):
        PanoDPOTrainer(model, args=args, train_dataset=data, processing_class=processor)
