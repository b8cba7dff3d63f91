"""Named objectives: the one table of the presets ``PanoDPOConfig.from_preset`` and
``panodpo train --preset NAME`` expand (docs/training.md, "Objectives").

Each preset sets every objective field (the loss type, the five term weights and margin, the
rejected-video strategy), so it means the same whatever the defaults; any field given explicitly
(a keyword argument, a command-line flag) overrides it. Standard library only: the command line
reads it before anything heavy is imported.

>>> preset_fields("mdpo")["anchor_loss_weight"], preset_fields("panodpo-no-dpot")["text_loss_weight"]
(1.0, 0.0)
>>> preset_argv("dpo")[:4]
['--loss_type', 'sigmoid', '--video_loss_weight', '0.0']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The fields a preset sets (all of them, always).
OBJECTIVE_FIELDS = ("loss_type", "video_loss_weight", "text_loss_weight", "instance_loss_weight", "anchor_loss_weight", "anchor_margin",
                    "rejected_video_strategy")


@dataclass(frozen=True)
class Preset:
    """One named objective: its field values and where it comes from."""

    fields: dict[str, Any]
    summary: str
    source: str


def _objective(video: float, text: float, instance: float = 0.0, anchor: float = 0.0, margin: float = 0.0,
               strategy: str = "shuffle") -> dict[str, Any]:
    return {"loss_type": ["sigmoid"], "video_loss_weight": video, "text_loss_weight": text, "instance_loss_weight": instance,
            "anchor_loss_weight": anchor, "anchor_margin": margin, "rejected_video_strategy": strategy}


PRESETS: dict[str, Preset] = {
    "dpo": Preset(_objective(0.0, 0.0), "vanilla DPO: y_w|v,q over y_l|v,q only",
                  "Rafailov et al., Direct Preference Optimization (arXiv:2305.18290); TRL's DPOTrainer, loss_type='sigmoid'"),
    "panodpo": Preset(_objective(1.0, 1.0), "PanoDPO: DPO + DPOv (shuffled v') + DPOt, the paper's weights and best v'",
                      "Liang et al. (arXiv:2505.14405), the PanoDPO loss and its v' ablation"),
    "panodpo-no-dpov": Preset(_objective(0.0, 1.0), "the paper's 'w/o DPOv' ablation: DPO + DPOt",
                              "Liang et al. (arXiv:2505.14405), ablation table"),
    "panodpo-no-dpot": Preset(_objective(1.0, 0.0), "the paper's 'w/o DPOt' ablation: DPO + DPOv",
                              "Liang et al. (arXiv:2505.14405), ablation table"),
    "mdpo": Preset(_objective(1.0, 0.0, anchor=1.0, margin=0.0, strategy="random_resized_crop"),
                   "mDPO: DPO + the conditional term (y_w|v,q over y_w|v',q, v' a random 1-20% crop resized back) + the anchor, "
                   "weights 1, margin 0",
                   "Wang et al., mDPO (arXiv:2406.11839); luka-group/mDPO, mdpo_trainer.py (dpo_loss) and "
                   "bunny/modeling_bunny_phi.py (crop_images)"),
    "vistadpo-instance": Preset(_objective(0.0, 0.0, instance=1.0),
                                "VistaDPO's instance level: DPO (response level) + the video level, y_w|v,q over y_l|v',q, weight 1",
                                "Huang et al., VistaDPO (arXiv:2504.13122), instance-wise semantic preference optimization; "
                                "HaroldChen19/VistaDPO, trl/trainer/dpo_trainer.py"),
}


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")


def preset_fields(name: str) -> dict[str, Any]:
    """The field values of preset ``name`` (a fresh dict: edit it freely).

    >>> preset_fields("vistadpo-instance")["instance_loss_weight"]
    1.0
    """
    if name not in PRESETS:
        raise _unknown(name)
    return {k: (list(v) if isinstance(v, list) else v) for k, v in PRESETS[name].fields.items()}


def _flag_value(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [repr(value) if isinstance(value, float) else str(value)]


def preset_argv(name: str) -> list[str]:
    """Preset ``name`` as command-line flags; put before the user's flags, which then win
    (argparse keeps a flag's last value)."""
    argv: list[str] = []
    for key, value in preset_fields(name).items():
        argv += [f"--{key}", *_flag_value(value)]
    return argv


def markdown_table() -> str:
    """The presets as the Markdown table of docs/training.md (a test keeps the two equal).

    >>> markdown_table().splitlines()[0].startswith("| preset |")
    True
    """
    header = "| preset | " + " | ".join(f"`{f}`" for f in OBJECTIVE_FIELDS) + " |"
    lines = [header, "|" + "---|" * (len(OBJECTIVE_FIELDS) + 1)]
    for name, preset in PRESETS.items():
        cells = []
        for f in OBJECTIVE_FIELDS:
            value = preset.fields[f]
            cells.append(" ".join(value) if isinstance(value, list) else str(value))
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["PRESETS", "OBJECTIVE_FIELDS", "Preset", "preset_fields", "preset_argv", "markdown_table"]
