"""The ``random`` model is a fair floor in every scoring (it once always chose "A" in likelihood scoring)."""

from __future__ import annotations

from collections import Counter

from temrobbench.evaluation.models.dummy import RandomModel
from temrobbench.evaluation.requests import VideoLMRequest


def _requests(n: int) -> list[VideoLMRequest]:
    return [VideoLMRequest(f"i{k}", "v", "intrinsic", "light", "clean", 0, [], "q", ("a", "b", "c", "d"), tuple("ABCD")) for k in range(n)]


def test_random_likelihood_choices_are_spread_over_the_letters_and_reproducible():
    model = RandomModel(seed=3)
    scores = model.letter_logprobs(_requests(400))
    counts = Counter(max(s, key=s.get) for s in scores)
    assert set(counts) == set("ABCD") and min(counts.values()) > 60  # ~100 each
    assert all(len(set(s.values())) == 4 for s in scores)  # no ties to break
    assert model.letter_logprobs(_requests(400)) == scores
    assert Counter(model.generate(_requests(400))).keys() == set("ABCD")
