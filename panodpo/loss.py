"""The PanoDPO objective (docs/design.md, "The PanoDPO loss") as one pure function.

With h(a, b) = log sigmoid(beta * ((log pi(a) - log ref(a)) - (log pi(b) - log ref(b)))):

    L = - h(y_w|v,q ; y_l|v,q)  - lambda_v * h(y_w|v,q ; y_w|v',q)  - lambda_t * h(y_w|v,q ; y_w|v,q')

The first term is DPO; the second (DPOv) prefers the chosen answer given the real video over the
same answer given a corrupted video; the third (DPOt) prefers it given the real question over the
same answer given a misleading question.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Rows of the (4, B) log-probability tensors.
CHOSEN, REJECTED, CHOSEN_REJECTED_VIDEO, CHOSEN_REJECTED_QUESTION = range(4)
TERMS = {"dpo": REJECTED, "dpov": CHOSEN_REJECTED_VIDEO, "dpot": CHOSEN_REJECTED_QUESTION}


def panodpo_loss(
    policy_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    *,
    beta: float,
    video_weight: float,
    text_weight: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean PanoDPO loss and per-term metrics.

    ``policy_logps`` and ``ref_logps`` are (4, B) sequence log-probabilities in the order
    [chosen, rejected, chosen with rejected video, chosen with rejected question]. Rows of a term
    whose weight is 0 are ignored (they may hold anything, e.g. zeros when not computed).

    Metrics (detached, batch means): ``<term>/loss``, ``<term>/reward_margin`` (beta times the
    difference of log-ratios), ``<term>/accuracy`` (share of examples with a positive margin) for
    term in ``dpo``, ``dpov``, ``dpot`` (the last two only when weighted); and the DPO term under
    TRL's ``DPOTrainer`` names too (``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``,
    ``rewards/accuracies``), so a PanoDPO run and a TRL DPO run plot on one chart.

    >>> policy = torch.tensor([[-1.0], [-3.0], [-2.0], [-1.5]])
    >>> ref = torch.zeros(4, 1)
    >>> loss, metrics = panodpo_loss(policy, ref, beta=1.0, video_weight=1.0, text_weight=0.0)
    >>> round(loss.item(), 4)  # -log sigmoid(2) - log sigmoid(1)
    0.4402
    """
    if policy_logps.shape != ref_logps.shape or policy_logps.shape[0] != 4:
        raise ValueError(f"expected (4, B) tensors, got {tuple(policy_logps.shape)} and {tuple(ref_logps.shape)}")
    if video_weight < 0 or text_weight < 0:
        raise ValueError("loss weights must be >= 0")
    logratios = policy_logps - ref_logps
    weights = {"dpo": 1.0, "dpov": video_weight, "dpot": text_weight}
    loss = policy_logps.new_zeros(())
    chosen_reward, rejected_reward = (beta * logratios[CHOSEN]).detach(), (beta * logratios[REJECTED]).detach()
    metrics: dict[str, torch.Tensor] = {
        "rewards/chosen": chosen_reward.mean(),
        "rewards/rejected": rejected_reward.mean(),
        "rewards/margins": (chosen_reward - rejected_reward).mean(),
        "rewards/accuracies": (chosen_reward > rejected_reward).float().mean(),
    }
    for name, row in TERMS.items():
        if weights[name] == 0:
            continue
        margin = beta * (logratios[CHOSEN] - logratios[row])
        term = -F.logsigmoid(margin)
        loss = loss + weights[name] * term.mean()
        metrics[f"{name}/loss"] = term.detach().mean()
        metrics[f"{name}/reward_margin"] = margin.detach().mean()
        metrics[f"{name}/accuracy"] = (margin.detach() > 0).float().mean()
    return loss, metrics


def active_rows(video_weight: float, text_weight: float) -> list[int]:
    """Rows a forward must compute: a term whose weight is 0 drops its sequences.

    >>> active_rows(1.0, 1.0), active_rows(0.0, 1.0), active_rows(0.0, 0.0)
    ([0, 1, 2, 3], [0, 1, 3], [0, 1])
    """
    rows = [CHOSEN, REJECTED]
    if video_weight > 0:
        rows.append(CHOSEN_REJECTED_VIDEO)
    if text_weight > 0:
        rows.append(CHOSEN_REJECTED_QUESTION)
    return rows
