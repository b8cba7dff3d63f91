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


# -- TRL's loss types on every term, the instance-level term and the anchor ----------------------------

from collections import defaultdict  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from panodpo.loss import PAIRWISE_LOSS_TYPES, REFUSED_LOSS_TYPES  # noqa: E402

# 5 kinds: chosen, rejected, chosen | v', chosen | q', rejected | v'; 2 examples.
POLICY5 = torch.tensor([[-2.0, -1.0], [-3.0, -0.5], [-2.5, -4.0], [-1.0, -1.2], [-3.5, -0.9]])
REF5 = torch.tensor([[-2.2, -1.5], [-2.8, -1.0], [-2.0, -3.0], [-1.1, -1.0], [-3.0, -1.4]])
# Completion tokens: the y_w rows share the chosen answer's length, the y_l rows the rejected's.
LENGTHS5 = torch.tensor([[3, 5], [4, 2], [3, 5], [3, 5], [4, 2]])
ROWS = {"dpo": 1, "dpov": 2, "dpot": 3, "instance": 4}
SMOOTHING, TAU = 0.1, 0.05


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def hand_pair(loss_type, ra, rb, la, lb, beta, smoothing=SMOOTHING, tau=TAU):
    """TRL's per-pair formulas, written out (ra, rb: the pair's log-ratios; la, lb: response lengths)."""
    d = ra - rb
    z = beta * d
    if loss_type == "sigmoid":
        return -logsigmoid(z)
    if loss_type == "hinge":
        return max(0.0, 1 - z)
    if loss_type == "ipo":
        return (ra / la - rb / lb - 1 / (2 * beta)) ** 2
    if loss_type == "sigmoid_norm":
        return -logsigmoid(beta * (ra / la - rb / lb))
    if loss_type == "exo_pair":
        q = sigmoid(z)
        return q * (math.log(q) - math.log(1 - smoothing)) + (1 - q) * (math.log(1 - q) - math.log(smoothing))
    if loss_type == "robust":
        return (-(1 - smoothing) * logsigmoid(z) + smoothing * logsigmoid(-z)) / (1 - 2 * smoothing)
    if loss_type == "discopop":
        m = sigmoid(z / tau)
        return -logsigmoid(z) * (1 - m) + math.exp(-z) * m
    raise AssertionError(loss_type)


def hand_total(types, type_weights, beta, weights, anchor=0.0, margin=0.0):
    total, per_term = 0.0, {}
    for name, row in ROWS.items():
        if weights.get(name, 0.0) == 0:
            continue
        term = 0.0
        for loss_type, w in zip(types, type_weights):
            values = []
            for b in range(2):
                ra = POLICY5[0, b].item() - REF5[0, b].item()
                rb = POLICY5[row, b].item() - REF5[row, b].item()
                values.append(hand_pair(loss_type, ra, rb, LENGTHS5[0, b].item(), LENGTHS5[row, b].item(), beta))
            term += w * sum(values) / 2
        per_term[name] = term
        total += weights[name] * term
    if anchor:
        anchored = [beta * (POLICY5[0, b].item() - REF5[0, b].item()) - margin for b in range(2)]
        per_term["anchor"] = sum(-logsigmoid(a) for a in anchored) / 2
        total += anchor * per_term["anchor"]
    return total, per_term


def run(types, type_weights=None, beta=0.5, video=0.0, text=0.0, instance=0.0, anchor=0.0, margin=0.0, policy=POLICY5):
    return panodpo_loss(policy, REF5, beta=beta, video_weight=video, text_weight=text, instance_weight=instance, anchor_weight=anchor,
                        anchor_margin=margin, loss_type=types, loss_weights=type_weights, lengths=LENGTHS5, label_smoothing=SMOOTHING,
                        discopop_tau=TAU)


@pytest.mark.parametrize("loss_type", PAIRWISE_LOSS_TYPES)
def test_each_loss_type_applies_to_every_term(loss_type):
    weights = {"dpo": 1.0, "dpov": 0.7, "dpot": 1.3, "instance": 0.4}
    loss, metrics = run(loss_type, video=0.7, text=1.3, instance=0.4)
    total, per_term = hand_total([loss_type], [1.0], 0.5, weights)
    assert loss.item() == pytest.approx(total, rel=1e-5)
    for name in ROWS:
        assert metrics[f"{name}/loss"].item() == pytest.approx(per_term[name], rel=1e-5)


def test_a_list_of_loss_types_combines_per_term_as_trl_does():
    types, type_weights = ["sigmoid", "ipo", "hinge"], [0.8, 0.3, 0.5]
    weights = {"dpo": 1.0, "dpov": 1.0, "dpot": 0.5}
    loss, metrics = run(types, type_weights, video=1.0, text=0.5)
    total, per_term = hand_total(types, type_weights, 0.5, weights)
    assert loss.item() == pytest.approx(total, rel=1e-5)
    # Per-type metrics are unweighted (TRL's), their sum the term's loss metric.
    ra = [POLICY5[0, b].item() - REF5[0, b].item() for b in range(2)]
    rb = [POLICY5[2, b].item() - REF5[2, b].item() for b in range(2)]
    ipo = sum(hand_pair("ipo", ra[b], rb[b], LENGTHS5[0, b].item(), LENGTHS5[2, b].item(), 0.5) for b in range(2)) / 2
    assert metrics["dpov/loss_ipo"].item() == pytest.approx(ipo, rel=1e-5)
    assert metrics["dpov/loss"].item() == pytest.approx(sum(metrics[f"dpov/loss_{t}"].item() for t in types), rel=1e-6)


def test_instance_level_term_and_anchor_match_hand_computation():
    beta, margin = 0.5, 0.2
    loss, metrics = run("sigmoid", beta=beta, instance=0.6, anchor=0.4, margin=margin)
    total, per_term = hand_total(["sigmoid"], [1.0], beta, {"dpo": 1.0, "instance": 0.6}, anchor=0.4, margin=margin)
    assert loss.item() == pytest.approx(total, rel=1e-5)
    # VistaDPO's video level: beta * (r(y_w|v) - r(y_l|v')), by hand.
    margins = [beta * ((POLICY5[0, b] - REF5[0, b]) - (POLICY5[4, b] - REF5[4, b])).item() for b in range(2)]
    assert metrics["instance/loss"].item() == pytest.approx(sum(-logsigmoid(m) for m in margins) / 2, rel=1e-5)
    assert metrics["instance/reward_margin"].item() == pytest.approx(sum(margins) / 2, rel=1e-5)
    assert metrics["instance/accuracy"].item() == pytest.approx(sum(m > 0 for m in margins) / 2)
    # mDPO's anchor: -log sigmoid(beta * r(y_w|v) - delta).
    rewards = [beta * (POLICY5[0, b] - REF5[0, b]).item() for b in range(2)]
    assert metrics["anchor/loss"].item() == pytest.approx(sum(-logsigmoid(r - margin) for r in rewards) / 2, rel=1e-5)
    assert metrics["anchor/reward"].item() == pytest.approx(sum(rewards) / 2, rel=1e-5)
    assert metrics["anchor/accuracy"].item() == pytest.approx(sum(r - margin > 0 for r in rewards) / 2)
    assert "dpov/loss" not in metrics and "dpot/loss" not in metrics


def test_anchor_pushes_the_chosen_likelihood_up_and_ignores_other_rows():
    grads = {}
    for anchor in (0.0, 1.0):
        policy = POLICY5.clone().requires_grad_(True)
        run("sigmoid", anchor=anchor, policy=policy)[0].backward()
        grads[anchor] = policy.grad
    assert (grads[1.0][0] < grads[0.0][0]).all()  # the anchor adds a push up on log pi(y_w|v,q)
    assert torch.equal(grads[1.0][1:], grads[0.0][1:])  # and needs no other sequence


def test_instance_weight_needs_the_fifth_row_and_dropped_rows_are_ignored():
    with pytest.raises(ValueError, match="5, B"):
        panodpo_loss(POLICY, REF, beta=0.1, video_weight=1.0, text_weight=1.0, instance_weight=1.0)
    garbage = POLICY5.clone()
    garbage[4] = float("nan")
    assert torch.isfinite(run("ipo", video=1.0, text=1.0, policy=garbage)[0])


@pytest.mark.parametrize("loss_type", sorted(REFUSED_LOSS_TYPES))
def test_types_that_cannot_apply_to_a_conditional_pair_are_refused_with_the_reason(loss_type):
    with pytest.raises(ValueError) as caught:
        run(loss_type)
    message = str(caught.value)
    assert loss_type in message and REFUSED_LOSS_TYPES[loss_type] in message and "\n" not in message


def test_length_normalized_types_need_lengths():
    with pytest.raises(ValueError, match="need lengths"):
        panodpo_loss(POLICY5, REF5, beta=0.1, video_weight=0.0, text_weight=0.0, loss_type="ipo")


class _Accelerator:
    device = torch.device("cpu")

    @staticmethod
    def gather_for_metrics(x):
        return x

    gather = gather_for_metrics


def trl_loss(loss_types, loss_weights, beta):
    """TRL 1.16's own ``DPOTrainer._compute_loss`` on the chosen and rejected rows: a stand-in
    model whose per-token log-probs sum to the fixed sequence log-probs, the reference precomputed."""
    from trl import DPOTrainer

    width = int(LENGTHS5.max()) + 3
    pair_lengths = torch.cat([LENGTHS5[0], LENGTHS5[1]])
    completion_mask = (torch.arange(width)[None, :] >= width - pair_lengths[:, None]).long()  # responses at the end
    log_probs = torch.zeros(4, width - 1)
    log_probs[:, -1] = torch.cat([POLICY5[0], POLICY5[1]])  # the sum over the row is exactly this value

    def model(**kwargs):
        zeros = torch.zeros_like(log_probs)
        return SimpleNamespace(log_probs=log_probs, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool())

    stub = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=_Accelerator(), aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=loss_types, loss_weights=loss_weights, beta=beta,
        label_smoothing=SMOOTHING, args=SimpleNamespace(discopop_tau=TAU), use_weighting=False,
        _metrics={"train": defaultdict(list)}, _total_train_tokens=0, _tp_size=1,
    )
    inputs = {"input_ids": torch.ones(4, width, dtype=torch.long), "attention_mask": torch.ones(4, width, dtype=torch.long),
              "completion_mask": completion_mask, "ref_chosen_logps": REF5[0], "ref_rejected_logps": REF5[1]}
    return DPOTrainer._compute_loss(stub, model, inputs, False), completion_mask.sum(dim=1)


@pytest.mark.parametrize("loss_types, loss_weights", [([t], [1.0]) for t in PAIRWISE_LOSS_TYPES] + [([t], [0.3]) for t in ("sigmoid", "ipo")]
                         + [(["sigmoid", "ipo", "robust"], [0.7, 0.2, 0.4])])
def test_with_both_extra_weights_0_the_loss_is_trls_exactly(loss_types, loss_weights):
    beta = 0.5
    expected, trl_lengths = trl_loss(loss_types, loss_weights, beta)
    lengths = torch.zeros_like(LENGTHS5)
    lengths[0], lengths[1] = trl_lengths.chunk(2)  # the counts TRL reads off the completion mask
    assert torch.equal(lengths[:2], LENGTHS5[:2])
    loss, _ = panodpo_loss(POLICY5, REF5, beta=beta, video_weight=0.0, text_weight=0.0, loss_type=loss_types, loss_weights=loss_weights,
                           lengths=lengths, label_smoothing=SMOOTHING, discopop_tau=TAU)
    assert torch.equal(loss, expected), (loss_types, loss.item(), expected.item())
