"""The PanoDPO objective (docs/design.md, "The PanoDPO loss"; docs/training.md, "Objectives") as
one pure function.

With the log-ratio r(s) = log pi(s) - log ref(s) of a sequence s and, for a pair (a, b), the
per-pair loss l(a, b) of a TRL pairwise loss type (``sigmoid``: -log sigmoid(beta * (r(a) - r(b)))):

    L = l(y_w|v,q ; y_l|v,q)  + lambda_v * l(y_w|v,q ; y_w|v',q)  + lambda_t * l(y_w|v,q ; y_w|v,q')
        + lambda_i * l(y_w|v,q ; y_l|v',q)  + lambda_a * -log sigmoid(beta * r(y_w|v,q) - delta)

The first term is DPO; the second (DPOv) prefers the chosen answer given the real video over the
same answer given a corrupted video; the third (DPOt) prefers it given the real question over the
same answer given a misleading question. The last two come from the field: VistaDPO's
instance-level video term (the chosen answer with the real video over the rejected answer with the
corrupted one) and mDPO's anchor (the chosen answer's reward kept above a margin delta).

Each pairwise term takes TRL's loss types: a list of them with ``loss_weights`` is, per term,
sum_k w_k * mean(l_k), exactly as TRL's ``DPOTrainer`` sums them for its one pair.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

#: Rows of the (5, B) log-probability tensors (a (4, B) tensor, without the last, is accepted
#: where the instance-level term is off).
CHOSEN, REJECTED, CHOSEN_REJECTED_VIDEO, CHOSEN_REJECTED_QUESTION, REJECTED_REJECTED_VIDEO = range(5)
NUM_KINDS = 5
#: The pairwise terms: each compares the chosen row with this row.
TERMS = {"dpo": REJECTED, "dpov": CHOSEN_REJECTED_VIDEO, "dpot": CHOSEN_REJECTED_QUESTION, "instance": REJECTED_REJECTED_VIDEO}

#: TRL's loss types that are a function of one pair's margin (and, for the length-normalized
#: ones, of the two sequences' response lengths): each applies to every PanoDPO term.
PAIRWISE_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "exo_pair", "robust", "discopop", "sigmoid_norm")
#: Loss types that need response lengths (they average the log-ratios per completion token).
LENGTH_NORMALIZED = ("ipo", "sigmoid_norm")
#: TRL's other loss types, and why none applies to a conditional pair (y_w under two conditions).
REFUSED_LOSS_TYPES = {
    "nca_pair": "it scores the chosen and the rejected sequence's rewards on their own (each pushed to an absolute target), "
                "which for DPOv/DPOt would push down y_w's own likelihood under v' or q'",
    "bco_pair": "it classifies the chosen and the rejected sequence's rewards on their own (a response-level reward), not the "
                "margin of a pair, which for DPOv/DPOt would be y_w itself",
    "sppo_hard": "it regresses the chosen and the rejected sequence's log-ratios to separate targets (+-1/(2 beta)), a "
                 "statement about two responses, not about one response under two conditions",
    "apo_zero": "it anchors the chosen and the rejected sequence's rewards separately (the chosen better than the model's own "
                "output), which for DPOv/DPOt would push down y_w's own likelihood",
    "apo_down": "it anchors the chosen sequence's reward on its own (the chosen worse than the model's own output), not a "
                "pair's margin",
    "aot": "it sorts the batch's policy and reference margins separately, pairing one example's policy with another "
           "example's reference: a statistic of the batch, not of each conditional pair",
    "aot_unpaired": "it sorts the batch's chosen and rejected log-ratios separately, pairing sequences of different examples: a "
                    "statistic of the batch, not of each conditional pair",
    "sft": "it is an SFT term on the chosen response, not a preference between two sequences (set it once on y_w|v,q "
           "outside the pairwise terms if wanted; PanoDPO has no such term)",
}


def pairwise_loss(
    loss_type: str,
    chosen_scores: torch.Tensor,
    rejected_scores: torch.Tensor,
    *,
    beta: float,
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    discopop_tau: float = 0.05,
) -> torch.Tensor:
    """Per-pair loss of one TRL loss type, from the two sequences' log-ratios (TRL 1.16's
    ``DPOTrainer._compute_loss``, operation for operation, so a pair gives TRL's value exactly).

    ``chosen_lengths`` / ``rejected_lengths``: completion tokens of each sequence, for the
    length-normalized types (``ipo``, ``sigmoid_norm``).

    >>> pairwise_loss("hinge", torch.tensor([1.0]), torch.tensor([0.0]), beta=0.5)
    tensor([0.5000])
    """
    delta = chosen_scores - rejected_scores
    if loss_type == "sigmoid":
        return -F.logsigmoid(beta * delta)
    if loss_type == "hinge":
        return torch.relu(1 - beta * delta)
    if loss_type in LENGTH_NORMALIZED:
        if chosen_lengths is None or rejected_lengths is None:
            raise ValueError(f"loss_type {loss_type!r} averages per completion token: the response lengths are needed")
        normalized = chosen_scores / chosen_lengths.clamp(min=1.0) - rejected_scores / rejected_lengths.clamp(min=1.0)
        if loss_type == "ipo":
            return (normalized - 1 / (2 * beta)) ** 2
        return -F.logsigmoid(beta * normalized)
    if loss_type == "exo_pair":
        epsilon = torch.tensor(label_smoothing, device=delta.device)
        qw, log_qw = torch.sigmoid(beta * delta), F.logsigmoid(beta * delta)
        ql, log_ql = torch.sigmoid(-beta * delta), F.logsigmoid(-beta * delta)
        return qw * (log_qw - torch.log1p(-epsilon)) + ql * (log_ql - torch.log(epsilon))
    if loss_type == "robust":
        clean = -(1 - label_smoothing) * F.logsigmoid(beta * delta)
        flipped = -label_smoothing * F.logsigmoid(-beta * delta)
        return (clean - flipped) / (1 - 2 * label_smoothing)
    if loss_type == "discopop":
        logits = delta * beta
        modulation = torch.sigmoid(logits / discopop_tau)
        return -F.logsigmoid(logits) * (1 - modulation) + torch.exp(-logits) * modulation
    if loss_type in REFUSED_LOSS_TYPES:
        raise ValueError(f"loss_type {loss_type!r} does not apply to PanoDPO's conditional pairs: {REFUSED_LOSS_TYPES[loss_type]}")
    raise ValueError(f"unknown loss_type {loss_type!r}; PanoDPO takes {', '.join(PAIRWISE_LOSS_TYPES)}")


def check_loss_types(loss_types: Sequence[str]) -> None:
    """Raise ``ValueError`` (one line: which type, why) for a loss type PanoDPO cannot apply.

    >>> check_loss_types(["sigmoid", "ipo"])
    >>> check_loss_types(["sft"])
    Traceback (most recent call last):
    ...
    ValueError: PanoDPO does not support loss_type='sft': it is an SFT term on the chosen response, not a preference between two sequences (set it once on y_w|v,q outside the pairwise terms if wanted; PanoDPO has no such term)
    """
    for loss_type in loss_types:
        if loss_type in REFUSED_LOSS_TYPES:
            raise ValueError(f"PanoDPO does not support loss_type={loss_type!r}: {REFUSED_LOSS_TYPES[loss_type]}")
        if loss_type not in PAIRWISE_LOSS_TYPES:
            raise ValueError(f"unknown loss_type {loss_type!r}; PanoDPO takes {', '.join(PAIRWISE_LOSS_TYPES)}")


def panodpo_loss(
    policy_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    *,
    beta: float,
    video_weight: float,
    text_weight: float,
    instance_weight: float = 0.0,
    anchor_weight: float = 0.0,
    anchor_margin: float = 0.0,
    loss_type: str | Sequence[str] = "sigmoid",
    loss_weights: Sequence[float] | None = None,
    lengths: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    discopop_tau: float = 0.05,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean PanoDPO loss and per-term metrics.

    ``policy_logps`` and ``ref_logps`` are (5, B) sequence log-probabilities in the order
    [chosen, rejected, chosen with rejected video, chosen with rejected question, rejected with
    rejected video] ((4, B) without the last is accepted while ``instance_weight`` is 0). Rows of a
    term whose weight is 0 are ignored (they may hold anything, e.g. zeros when not computed).
    ``lengths`` (same shape: completion tokens per sequence) is needed by the length-normalized
    loss types. ``loss_type`` (one or a list) and ``loss_weights`` (one per type, default 1 each)
    apply to each pairwise term as TRL applies them to its one pair; the anchor is mDPO's sigmoid
    form whatever the loss type, weighted by ``anchor_weight`` only.

    Metrics (detached, batch means): ``<term>/loss`` (the term's loss, sum over the loss types,
    unweighted by ``loss_weights`` as TRL's; with several types also ``<term>/loss_<type>``),
    ``<term>/reward_margin`` (beta times the difference of log-ratios), ``<term>/accuracy`` (share
    of examples with a positive margin) for term in ``dpo``, ``dpov``, ``dpot``, ``instance`` (all but
    ``dpo`` only when weighted); ``anchor/loss``, ``anchor/reward`` (beta times the chosen log-ratio),
    ``anchor/accuracy`` (share above the margin) when weighted; and the DPO term under TRL's
    ``DPOTrainer`` names too (``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``,
    ``rewards/accuracies``), so a PanoDPO run and a TRL DPO run plot on one chart.

    >>> policy = torch.tensor([[-1.0], [-3.0], [-2.0], [-1.5]])
    >>> ref = torch.zeros(4, 1)
    >>> loss, metrics = panodpo_loss(policy, ref, beta=1.0, video_weight=1.0, text_weight=0.0)
    >>> round(loss.item(), 4)  # -log sigmoid(2) - log sigmoid(1)
    0.4402
    >>> loss, _ = panodpo_loss(policy, ref, beta=1.0, video_weight=0.0, text_weight=0.0, anchor_weight=1.0, anchor_margin=0.5)
    >>> round(loss.item(), 4)  # -log sigmoid(2) - log sigmoid(-1 - 0.5)
    1.8283
    """
    if policy_logps.shape != ref_logps.shape or policy_logps.shape[0] not in (4, NUM_KINDS) or policy_logps.dim() != 2:
        raise ValueError(f"expected (4, B) or (5, B) tensors, got {tuple(policy_logps.shape)} and {tuple(ref_logps.shape)}")
    weights = {"dpo": 1.0, "dpov": video_weight, "dpot": text_weight, "instance": instance_weight}
    if min(video_weight, text_weight, instance_weight, anchor_weight) < 0:
        raise ValueError("loss weights must be >= 0")
    if instance_weight > 0 and policy_logps.shape[0] < NUM_KINDS:
        raise ValueError("instance_weight > 0 needs (5, B) tensors (the row y_l|v',q)")
    loss_types = [loss_type] if isinstance(loss_type, str) else list(loss_type)
    check_loss_types(loss_types)
    type_weights = [1.0] * len(loss_types) if loss_weights is None else list(loss_weights)
    if len(type_weights) != len(loss_types):
        raise ValueError(f"loss_weights has {len(type_weights)} values for {len(loss_types)} loss types: give one per loss type")
    if any(t in LENGTH_NORMALIZED for t in loss_types) and (lengths is None or lengths.shape != policy_logps.shape):
        raise ValueError(f"loss types {', '.join(t for t in loss_types if t in LENGTH_NORMALIZED)} need lengths, a tensor shaped like "
                         "the log-probs (completion tokens per sequence)")
    if "exo_pair" in loss_types and not 0 < label_smoothing < 1:
        raise ValueError("loss_type 'exo_pair' needs 0 < label_smoothing < 1 (the EXO paper recommends 1e-3)")
    logratios = policy_logps - ref_logps
    chosen_reward, rejected_reward = (beta * logratios[CHOSEN]).detach(), (beta * logratios[REJECTED]).detach()
    metrics: dict[str, torch.Tensor] = {
        "rewards/chosen": chosen_reward.mean(),
        "rewards/rejected": rejected_reward.mean(),
        "rewards/margins": (chosen_reward - rejected_reward).mean(),
        "rewards/accuracies": (chosen_reward > rejected_reward).float().mean(),
    }
    loss: torch.Tensor | None = None
    for name, row in TERMS.items():
        if weights[name] == 0:
            continue
        # TRL's sum over loss types, starting from 0.0 as TRL does (bit-identical for the DPO term).
        term: torch.Tensor | float = 0.0
        unweighted = []
        for kind, weight in zip(loss_types, type_weights):
            per_pair = pairwise_loss(
                kind, logratios[CHOSEN], logratios[row], beta=beta, label_smoothing=label_smoothing, discopop_tau=discopop_tau,
                chosen_lengths=None if lengths is None else lengths[CHOSEN], rejected_lengths=None if lengths is None else lengths[row],
            )
            term = term + per_pair.mean() * weight
            unweighted.append(per_pair.detach().mean())
            if len(loss_types) > 1:
                metrics[f"{name}/loss_{kind}"] = unweighted[-1]
        assert isinstance(term, torch.Tensor)
        loss = term if loss is None else loss + weights[name] * term
        margin = (beta * (logratios[CHOSEN] - logratios[row])).detach()
        metrics[f"{name}/loss"] = torch.stack(unweighted).sum()
        metrics[f"{name}/reward_margin"] = margin.mean()
        metrics[f"{name}/accuracy"] = (margin > 0).float().mean()
    if anchor_weight > 0:
        # mDPO's anchor (delta = 0 in its code): the chosen sequence's reward kept above a margin, so the
        # pairwise terms cannot lower every likelihood together.
        anchored = beta * logratios[CHOSEN] - anchor_margin
        term = -F.logsigmoid(anchored)
        loss = loss + anchor_weight * term.mean()
        metrics["anchor/loss"] = term.detach().mean()
        metrics["anchor/reward"] = chosen_reward.mean()
        metrics["anchor/accuracy"] = (anchored.detach() > 0).float().mean()
    assert loss is not None
    return loss, metrics


def active_rows(video_weight: float, text_weight: float, instance_weight: float = 0.0) -> list[int]:
    """Rows a forward must compute: a term whose weight is 0 drops its sequences (the anchor
    needs none of its own).

    >>> active_rows(1.0, 1.0), active_rows(0.0, 1.0), active_rows(0.0, 0.0), active_rows(0.0, 0.0, 1.0)
    ([0, 1, 2, 3], [0, 1, 3], [0, 1], [0, 1, 4])
    """
    rows = [CHOSEN, REJECTED]
    if video_weight > 0:
        rows.append(CHOSEN_REJECTED_VIDEO)
    if text_weight > 0:
        rows.append(CHOSEN_REJECTED_QUESTION)
    if instance_weight > 0:
        rows.append(REJECTED_REJECTED_VIDEO)
    return rows


def needs_rejected_video(video_weight: float, instance_weight: float) -> bool:
    """Whether any active term has a sequence with the rejected video v'.

    >>> needs_rejected_video(0.0, 0.0), needs_rejected_video(0.0, 0.5)
    (False, True)
    """
    return video_weight > 0 or instance_weight > 0


__all__ = ["panodpo_loss", "pairwise_loss", "active_rows", "check_loss_types", "needs_rejected_video", "PAIRWISE_LOSS_TYPES",
           "REFUSED_LOSS_TYPES", "TERMS", "NUM_KINDS"]
