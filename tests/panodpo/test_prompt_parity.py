"""A training prompt is an evaluation prompt: for every model family, the PanoDPO collator feeds a
benchmark question exactly the token ids the ``hf:`` adapter feeds when evaluating it (the same
chat messages, template switches, special tokens and frame timing)."""

from __future__ import annotations

import warnings

import pytest
import torch

from panodpo.collator import PanoDPOCollator
from panodpo.loss import CHOSEN
from temrobbench.evaluation.data import load_items
from temrobbench.evaluation.frames import decode_frames
from temrobbench.evaluation.models.hf import HFVideoLM
from temrobbench.evaluation.protocol import plan_item, render_query
from temrobbench.evaluation.requests import VideoLMRequest
from tests.support.tiny_families import build_tiny
from tests.support.families import family_params
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def question(tiny_benchmark):
    clean, adversarial = load_items(tiny_benchmark, configs=("intrinsic",), limit=1)[0]
    query = plan_item(clean, adversarial, 4)[2]  # an adversarial round with rotated options
    return query.row["video"]["path"], render_query(query).text


@pytest.mark.parametrize("family", family_params(trainable=True))
def test_the_training_prompt_of_a_benchmark_question_equals_its_evaluation_prompt(family, question):
    video, text = question
    model, processor = build_tiny(family)
    frames = decode_frames({"path": video}, 4)
    adapter = HFVideoLM(model, processor)
    request = VideoLMRequest("i", "v", "intrinsic", "light", "adversarial", 2, frames, text, ("a", "b", "c", "d"), tuple("ABCD"), video_key="v")
    evaluated = adapter._encode([adapter.chat_text(request)], frames)["input_ids"][0].tolist()

    collator = PanoDPOCollator(processor, num_frames=4, video_loss_weight=0.0, text_loss_weight=0.0)
    batch = collator([{"id": "x", "video": video, "prompt": f"<video>\n{text}", "chosen": "A", "rejected": "B"}])
    assert collator.rows[0] == CHOSEN
    row = 0  # the chosen sequence of the one example
    prompt = batch["attention_mask"][row].bool() & ~batch["completion_mask"][row].bool()
    trained = batch["input_ids"][row][prompt].tolist()
    assert trained == evaluated, f"{family}: training and evaluation prompts differ"
    assert torch.equal(batch["input_ids"][row][batch["completion_mask"][row].bool()][:1], torch.tensor(processor.tokenizer("A", add_special_tokens=False)["input_ids"][:1]))
