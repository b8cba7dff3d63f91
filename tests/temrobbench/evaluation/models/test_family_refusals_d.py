"""InstructBLIP-Video and InstructBLIP are refused (family_support.REFUSED), and the reasons hold in
the installed transformers: a user gets one line, and the tiny models show what the line says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from temrobbench.family_support import REFUSED, check_family
from temrobbench.utils.errors import UserError
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

NUM_QUERY_TOKENS = 2


def _frames(n: int, seed: int = 0) -> list[np.ndarray]:
    return list(np.random.RandomState(seed).randint(0, 255, (n, 48, 64, 3), dtype=np.uint8))


def _qformer_tokenizer(tmp_path):
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz0123456789?.,:"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    return BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))


def _sub_configs(tokenizer, qformer_vocab: int) -> dict:
    return dict(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14),
        qformer_config=dict(vocab_size=qformer_vocab, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                            encoder_hidden_size=32),
        text_config=dict(model_type="llama", vocab_size=len(tokenizer) + 1, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        num_query_tokens=NUM_QUERY_TOKENS,
    )


@pytest.fixture(scope="module")
def tiny_instructblipvideo(tmp_path_factory):
    """A tiny InstructBLIP-Video (Vicuna-like Llama text model), as the hub's ``Salesforce/instructblip-vicuna-7b``."""
    from transformers import (
        InstructBlipVideoConfig,
        InstructBlipVideoForConditionalGeneration,
        InstructBlipVideoProcessor,
        InstructBlipVideoVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import sentencepiece_like_tokenizer

    tokenizer = sentencepiece_like_tokenizer()
    qformer_tokenizer = _qformer_tokenizer(tmp_path_factory.mktemp("qformer"))
    processor = InstructBlipVideoProcessor(video_processor=InstructBlipVideoVideoProcessor(size={"height": 28, "width": 28}),
                                           tokenizer=tokenizer, qformer_tokenizer=qformer_tokenizer, num_query_tokens=NUM_QUERY_TOKENS)
    config = InstructBlipVideoConfig(**_sub_configs(tokenizer, len(qformer_tokenizer)),
                                     video_token_index=tokenizer.convert_tokens_to_ids("<video>"))
    torch.manual_seed(0)
    return InstructBlipVideoForConditionalGeneration(config).eval(), processor


@pytest.mark.parametrize("family", ["instructblipvideo", "instructblip"])
def test_refused_in_one_line_for_evaluation_and_training(family):
    assert not REFUSED[family].training_only
    for training, what in ((False, "hf:"), (True, "PanoDPOTrainer")):
        with pytest.raises(UserError) as err:
            check_family(family, training=training, subject=f"hf:Salesforce/{family}")
        line = err.value.line()
        assert "\n" not in line and line.startswith(f"error: {what} does not support {family} yet: ") and "docs/models.md" in line


def test_the_hf_adapter_refuses_a_tiny_instructblipvideo(tiny_instructblipvideo):
    from temrobbench.evaluation.models.hf import HFVideoLM

    model, processor = tiny_instructblipvideo
    with pytest.raises(UserError, match="drops every frame after the 4th"):
        HFVideoLM(model, processor, name="hf:Salesforce/instructblip-vicuna-7b")


def test_instructblipvideo_drops_every_frame_after_the_4th(tiny_instructblipvideo):
    model, processor = tiny_instructblipvideo
    video_token = processor.tokenizer.convert_tokens_to_ids("<video>")
    same_start = [processor(text=["which order?"], images=[_frames(4) + later], return_tensors="pt") for later in (_frames(4, 1), _frames(4, 2))]
    assert all(inputs["pixel_values"].shape[1] == 8 for inputs in same_start)  # 8 frames in ...
    assert (same_start[0]["input_ids"] == video_token).sum() == NUM_QUERY_TOKENS * 4  # ... tokens for 4
    with torch.no_grad():
        a, b = (model(**inputs).logits for inputs in same_start)
    assert torch.equal(a, b)  # frames 5-8 change nothing


def test_instructblipvideo_ignores_a_videos_argument_and_reads_the_question_into_the_video(tiny_instructblipvideo):
    model, processor = tiny_instructblipvideo
    inputs = processor(text=["which order?"], videos=[_frames(4)], return_tensors="pt")
    assert not any(key.startswith("pixel_values") for key in inputs)  # the video never reaches the model
    assert processor.chat_template is None
    one, other = (processor(text=[q], images=[_frames(4)], return_tensors="pt") for q in ("which order?", "what is shown?"))
    with torch.no_grad():
        features = [model.get_video_features(x["pixel_values"], x["qformer_input_ids"], x["qformer_attention_mask"]).pooler_output
                    for x in (one, other)]
    assert not torch.allclose(*features)  # the same frames, other visual tokens for another question


def test_instructblip_takes_no_frames(tmp_path):
    from transformers import (
        BlipImageProcessor,
        InstructBlipConfig,
        InstructBlipForConditionalGeneration,
        InstructBlipProcessor,
    )

    from temrobbench.evaluation.models.hf import HFVideoLM
    from tests.support.tiny_families._tokenizers import sentencepiece_like_tokenizer

    tokenizer = sentencepiece_like_tokenizer()
    qformer_tokenizer = _qformer_tokenizer(tmp_path)
    processor = InstructBlipProcessor(image_processor=BlipImageProcessor(size={"height": 28, "width": 28}), tokenizer=tokenizer,
                                      qformer_tokenizer=qformer_tokenizer, num_query_tokens=NUM_QUERY_TOKENS)
    assert getattr(processor, "video_processor", None) is None
    config = InstructBlipConfig(**_sub_configs(tokenizer, len(qformer_tokenizer)), image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(0)
    model = InstructBlipForConditionalGeneration(config).eval()
    inputs = processor(text=["which order?"], images=_frames(1), return_tensors="pt")
    assert inputs["pixel_values"].dim() == 4  # one image, no frame axis
    with pytest.raises(UserError, match="InstructBlipProcessor has no video processor"):
        HFVideoLM(model, processor, name="hf:Salesforce/instructblip-vicuna-7b")
