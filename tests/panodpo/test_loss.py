"""panodpo_loss against a hand computation from known log-probabilities."""

from __future__ import annotations

import math

import pytest
import torch

from panodpo.loss import panodpo_loss


def logsigmoid(x):
    return -math.log1p(math.exp(-x))


POLICY = torch.tensor([[-2.0, -1.0], [-3.0, -0.5], [-2.5, -4.0], [-1.0, -1.2]])
REF = torch.tensor([[-2.2, -1.5], [-2.8, -1.0], [-2.0, -3.0], [-1.1, -1.0]])


def hand(beta, wv, wt):
    losses = {"dpo": [], "dpov": [], "dpot": []}
    margins = {"dpo": [], "dpov": [], "dpot": []}
    for b in range(2):
        r = [POLICY[k, b].item() - REF[k, b].item() for k in range(4)]
        for name, k in (("dpo", 1), ("dpov", 2), ("dpot", 3)):
            margin = beta * (r[0] - r[k])
            margins[name].append(margin)
            losses[name].append(-logsigmoid(margin))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    total = mean(losses["dpo"]) + wv * mean(losses["dpov"]) + wt * mean(losses["dpot"])
    return total, {k: mean(v) for k, v in losses.items()}, {k: mean(v) for k, v in margins.items()}, {k: mean([m > 0 for m in v]) for k, v in margins.items()}


@pytest.mark.parametrize("beta, wv, wt", [(0.1, 1.0, 1.0), (0.5, 0.3, 2.0), (1.0, 0.0, 1.0), (0.1, 1.0, 0.0), (0.1, 0.0, 0.0)])
def test_loss_and_metrics_match_hand_computation(beta, wv, wt):
    loss, metrics = panodpo_loss(POLICY, REF, beta=beta, video_weight=wv, text_weight=wt)
    total, term_losses, term_margins, term_accuracies = hand(beta, wv, wt)
    assert loss.item() == pytest.approx(total, rel=1e-5)
    for name, weight in (("dpo", 1.0), ("dpov", wv), ("dpot", wt)):
        if weight == 0:
            assert f"{name}/loss" not in metrics
            continue
        assert metrics[f"{name}/loss"].item() == pytest.approx(term_losses[name], rel=1e-5)
        assert metrics[f"{name}/reward_margin"].item() == pytest.approx(term_margins[name], rel=1e-5, abs=1e-7)
        assert metrics[f"{name}/accuracy"].item() == pytest.approx(term_accuracies[name])


def test_rows_of_dropped_terms_are_ignored():
    garbage = POLICY.clone()
    garbage[2] = float("nan")
    loss, _ = panodpo_loss(garbage, REF, beta=0.1, video_weight=0.0, text_weight=1.0)
    assert torch.isfinite(loss)


def test_gradient_flows_to_every_used_row():
    policy = POLICY.clone().requires_grad_(True)
    panodpo_loss(policy, REF, beta=0.1, video_weight=1.0, text_weight=1.0)[0].backward()
    assert (policy.grad[0] < 0).all()  # raising log p(chosen) lowers the loss
    assert (policy.grad[1:] > 0).all()


def test_bad_shapes_and_weights():
    with pytest.raises(ValueError, match=r"\(4, B\)"):
        panodpo_loss(POLICY[:3], REF[:3], beta=0.1, video_weight=1, text_weight=1)
    with pytest.raises(ValueError, match=">= 0"):
        panodpo_loss(POLICY, REF, beta=0.1, video_weight=-1, text_weight=1)


def test_importing_panodpo_does_not_import_trl():
    import subprocess
    import sys

    code = "import sys, panodpo; from panodpo import panodpo_loss; assert 'trl' not in sys.modules, 'trl imported'; print(panodpo.__all__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "PanoDPOTrainer" in result.stdout and "PanoDPOConfig" in result.stdout
