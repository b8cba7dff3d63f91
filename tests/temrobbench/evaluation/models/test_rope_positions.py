"""Prefix reuse hands the continuation the positions of a full forward (temrobbench.rope_positions).

transformers 5.24's Qwen2.5-VL numbers the text after a video whose temporal positions run past
its spatial grid (many frames, a low frame rate) differently in a full forward and when continuing
from a KV cache. The adapter promises the full forward's scores, so it must pass the full forward's
positions; the case below is one where the model's own cached path does differ.
"""

from __future__ import annotations

import numpy as np
import pytest

from temrobbench.evaluation.frames import SampledFrames
from temrobbench.evaluation.models.hf import HFVideoLM
from temrobbench.evaluation.requests import VideoLMRequest
from tests.support.tiny_families import build_tiny

from tests.support.torch_threads import one_torch_thread  # noqa: F401


def _requests(frames):
    prompts = ["Which order of the steps?\nA. cut -> sand\nB. sand -> cut\nAnswer with a letter.", "Short question?"]
    return [VideoLMRequest(item_id=f"i{i}", video_id="v", perturbation="intrinsic", category="light", setting="clean", round=0, frames=frames,
                           prompt=p, options=("cut -> sand", "sand -> cut", "cut", "sand"), letters=tuple("ABCD"), video_key="v")
            for i, p in enumerate(prompts)]


def _largest(a, b):
    return max(abs(x[k] - y[k]) for x, y in zip(a, b) for k in x)


@pytest.fixture(scope="module")
def long_slow_video():
    """16 frames at 0.5 fps: 8 temporal grids of 4 s each, far past the tiny 48x64 px grid."""
    frames = SampledFrames(np.random.RandomState(0).randint(0, 255, (16, 48, 64, 3), dtype=np.uint8))
    frames.video_metadata = {"fps": 0.5, "total_num_frames": 16, "frames_indices": list(range(16))}
    return frames


def test_qwen2_5_vl_continuation_scores_as_a_full_forward_on_a_long_slow_video(long_slow_video):
    model, processor = build_tiny("qwen2_5_vl")
    requests = _requests(long_slow_video)
    full = HFVideoLM(model, processor, reuse_prefix=False, self_check=False).letter_logprobs(requests)
    reused = HFVideoLM(model, processor, reuse_prefix=True, self_check=False)
    assert reused._rope_index is not None
    assert _largest(reused.letter_logprobs(requests), full) <= 1e-6
    # The case is one the fix is needed for: the model deriving positions from its cache differs.
    own_positions = HFVideoLM(model, processor, reuse_prefix=True, self_check=False)
    own_positions._rope_index = None
    assert _largest(own_positions.letter_logprobs(requests), full) > 1e-6


def test_generation_from_the_prefix_equals_plain_generate_on_a_long_slow_video(long_slow_video):
    model, processor = build_tiny("qwen2_5_vl")
    requests = _requests(long_slow_video)
    plain = HFVideoLM(model, processor, reuse_prefix=False, self_check=False, max_new_tokens=6)
    plain.batch_generation = False
    reused = HFVideoLM(model, processor, reuse_prefix=True, self_check=False, max_new_tokens=6)
    assert reused.generate(requests) == plain.generate(requests)
