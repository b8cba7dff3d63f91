"""PanoDPOConfig: DPOConfig plus the video- and question-conditioned terms (docs/design.md, "The PanoDPO loss") and the
field's other video preference terms (docs/training.md, "Objectives")."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from trl import DPOConfig

from panodpo.loss import check_loss_types, needs_rejected_video
from panodpo.rejected_videos import STRATEGIES, RejectedVideoSettings


def _launched_without_accelerator() -> bool:
    """Whether this process is one of several started by a launcher (torchrun, accelerate) on a
    machine with no GPU or other accelerator."""
    import os

    import torch

    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    return world_size > 1 and not torch.accelerator.is_available()


#: DPOConfig fields PanoDPO does not implement: the one value each may take, and why. A config with
#: another value is refused (never silently ignored). Every other DPOConfig field is honoured; the
#: table of where is tests/panodpo/test_config_fields.py. ``loss_type`` is checked on its own: every
#: pairwise type is honoured, the others refused (panodpo.loss.REFUSED_LOSS_TYPES says why).
REFUSED_DPO_FIELDS: dict[str, tuple[Any, str]] = {
    "use_weighting": (False, "WPO weighting is not defined for PanoDPO's terms"),
    "ld_alpha": (None, "LD-DPO's length desensitization is not defined for PanoDPO's terms"),
    "f_divergence_type": ("reverse_kl", "PanoDPO is defined on the reverse-KL (standard) DPO reward"),
    "f_alpha_divergence_coef": (0.5, "it only applies with f_divergence_type='alpha_divergence', which PanoDPO does not support"),
    "label_smoothing": (0.0, "only the robust and exo_pair loss types take it (TRL's aot does too, which PanoDPO refuses): with "
                             "the others it would do nothing"),
    "discopop_tau": (0.05, "it only applies with loss_type='discopop'"),
    "dataset_num_proc": (None, "PanoDPO prepares no dataset upfront: videos are decoded and tokenized by the collator "
                               "(use dataloader_num_workers to run it in parallel)"),
    "truncation_mode": ("keep_start", "PanoDPO truncates responses, never prompts (a cut prompt would drop visual tokens): "
                                      "that is keep_start; see max_length"),
    "padding_free": (False, "PanoDPO's collator pads; TRL disables padding_free as well"),
    "pad_to_multiple_of": (None, "PanoDPO's collator pads to the longest sequence of the batch"),
    "pad_token": (None, "TRL reads it only for its own collator; PanoDPO's pads with the processor's tokenizer (set "
                        "processor.tokenizer.pad_token instead)"),
    "ref_model_mixup_alpha": (0.6, "it only applies with sync_ref_model=True"),
    "ref_model_sync_steps": (512, "it only applies with sync_ref_model=True"),
}


@dataclass
class PanoDPOConfig(DPOConfig):
    r"""Configuration of [`PanoDPOTrainer`]: every [`~trl.DPOConfig`] field, plus PanoDPO's.

    Weights of 0 drop a term and its sequences from the forward: ``video_loss_weight=0`` is the
    paper's "w/o DPOv" ablation, ``text_loss_weight=0`` "w/o DPOt", both 0 vanilla DPO. The field's other
    terms (VistaDPO's instance-level video term, mDPO's anchor) are off by default; named presets
    set every objective field at once (:meth:`from_preset`, :mod:`panodpo.presets`).

    Defaults follow the paper where it states them: beta 0.1, learning rate 1e-5, 3 epochs, cosine
    schedule with 10% warm-up (the paper's batch of 64 is ``per_device_train_batch_size`` x
    ``gradient_accumulation_steps`` x number of devices).

    >>> config = PanoDPOConfig(output_dir="out", video_loss_weight=0.0)
    >>> config.beta, config.text_loss_weight, config.rejected_video_strategy
    (0.1, 1.0, 'shuffle')
    >>> mdpo = PanoDPOConfig.from_preset("mdpo", output_dir="out", anchor_margin=0.5)
    >>> mdpo.text_loss_weight, mdpo.anchor_loss_weight, mdpo.anchor_margin, mdpo.rejected_video_strategy
    (0.0, 1.0, 0.5, 'random_resized_crop')
    """

    learning_rate: float = field(default=1e-5, metadata={"help": "Initial AdamW learning rate (paper: 1e-5)."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Training epochs (paper: 3)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule (paper: cosine)."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps for linear warm-up (paper: 0.1)."})
    remove_unused_columns: bool = field(
        default=False,
        metadata={"help": "Keep the dataset's columns: the collator reads video, prompt, rejected_prompt and responses."},
    )
    max_length: int | None = field(
        default=None,
        metadata={"help": "Longest sequence in tokens (video tokens included); longer responses are truncated, never prompts "
                          "(that would cut visual tokens). None keeps whole sequences."},
    )

    video_loss_weight: float = field(
        default=1.0,
        metadata={"help": "lambda_v, weight of the video-conditioned term (chosen | real video vs. chosen | rejected video). 0 drops it."},
    )
    text_loss_weight: float = field(
        default=1.0,
        metadata={"help": "lambda_t, weight of the question-conditioned term (chosen | real question vs. chosen | misleading question). 0 drops it."},
    )
    instance_loss_weight: float = field(
        default=0.0,
        metadata={"help": "lambda_i, weight of VistaDPO's instance-level video term (chosen | real video vs. rejected | rejected "
                          "video: one more sequence, y_l|v',q). 0 (default) drops it."},
    )
    anchor_loss_weight: float = field(
        default=0.0,
        metadata={"help": "lambda_a, weight of mDPO's anchor -log sigmoid(beta * (log pi - log ref)(chosen) - anchor_margin): keeps "
                          "the chosen answer's reward above the margin (no extra sequence). 0 (default) drops it."},
    )
    anchor_margin: float = field(default=0.0, metadata={"help": "delta, the anchor's margin (mDPO: 0)."})
    rejected_video_strategy: str = field(
        default="shuffle",
        metadata={"help": "How the rejected video v' is made from the sampled frames: shuffle, crop (a share of each frame's area "
                          "blanked at a random place per frame) or replace (the paper's), or zoom (one window of every frame scaled "
                          "back to full size), shuffle_segments / swap_segments (events reordered as blocks / one adjacent pair of "
                          "events swapped), random_resized_crop (mDPO's: one window of 1 to 20 percent of the area, scaled back). v' is seeded by (seed, example id, epoch) and drawn anew each epoch with a live "
                          "reference; with precompute_ref_log_probs=True it is fixed (epoch 0's), since its reference log-prob "
                          "is computed once.", "choices": list(STRATEGIES)},
    )
    crop_area_ratio: float = field(default=0.2, metadata={"help": "Share of each frame's area the crop strategy blanks (the zoom strategy: cuts away)."})
    blank_frame_ratio: float = field(default=0.5, metadata={"help": "Share of frames blanked by the replace strategy."})
    num_video_segments: int = field(default=4, metadata={"help": "Segments the shuffle_segments and swap_segments strategies reorder (one per event for event-level edits)."})
    num_frames: int = field(default=8, metadata={"help": "Frames sampled uniformly from each video."})
    frame_cache_size: int = field(default=0, metadata={"help": "Decoded videos kept in memory (LRU), for small datasets revisited every epoch; 0 decodes every time."})
    share_video_encoding: bool = field(
        default=True,
        metadata={"help": "Run the vision tower once per distinct video (v and v' of each example) and give its features to all the "
                          "sequences that share it, where the model takes precomputed video features; False (or a family that "
                          "cannot) encodes the video of every sequence."},
    )
    share_prefix: bool = field(
        default=True,
        metadata={"help": "Compute the prefix the sequences of an example share (chat header and video, up to where they differ) once, "
                          "in the policy and the reference forward, and continue each sequence from it (a read-only KV cache); "
                          "equal to the plain forward, also under gradient checkpointing. A family or set-up that cannot (recurrent "
                          "or compressed caches, reentrant checkpointing) uses the plain path, with one logged line; the first "
                          "batch is checked against the plain path."},
    )
    video_column: str = field(default="video", metadata={"help": "Dataset column holding the video (file, frames folder, or Video feature)."})

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "PanoDPOConfig":
        """The config of preset ``name`` (:data:`panodpo.presets.PRESETS`: ``dpo``, ``panodpo``,
        ``panodpo-no-dpov``, ``panodpo-no-dpot``, ``mdpo``, ``vistadpo-instance``), every field given
        in ``overrides`` (``output_dir`` too) taking precedence over the preset's value."""
        from panodpo.presets import preset_fields

        return cls(**{**preset_fields(name), **overrides})

    @property
    def rejected_video(self) -> RejectedVideoSettings:
        """The rejected-video fields above as the settings object the collator and prepare use
        (flat fields here, so each is a command-line flag)."""
        return RejectedVideoSettings(self.rejected_video_strategy, self.crop_area_ratio, self.blank_frame_ratio, self.num_video_segments)

    # -- secrets never reach a file ---------------------------------------------------------------
    # Trainer saves ``torch.save(self.args)`` as training_args.bin in the output folder and every
    # checkpoint: pickling leaves the token fields (``hub_token``) out, while the object in memory
    # keeps them, so pushing to the Hub still authenticates. In-memory copies keep them too.

    def __getstate__(self) -> dict[str, Any]:
        """The pickled state: every field, the ``*_token`` ones emptied."""
        return {k: (None if k.endswith("_token") and v else v) for k, v in self.__dict__.items()}

    def __copy__(self) -> "PanoDPOConfig":
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> "PanoDPOConfig":
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update({k: copy.deepcopy(v, memo) for k, v in self.__dict__.items()})
        return new

    def __post_init__(self) -> None:
        from temrobbench.utils.redaction import register_secret

        register_secret(self.hub_token)  # redacted from every error line and report as well
        if self.bf16 is None and not self.fp16:
            # TRL turns bf16 on by default, which fails on machines without bf16 support (CPUs in CI,
            # older GPUs); here it is on exactly where the hardware supports it.
            import torch

            self.bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        if not self.use_cpu and _launched_without_accelerator():
            # Under torchrun / `accelerate launch --multi_gpu` on a machine with no accelerator,
            # accelerate only sets up a (gloo) process group when told the run is on CPU; otherwise
            # every process trains alone on the whole dataset (world size 1, no gradient averaging)
            # and the run looks fine. Measured: 2 processes then end 3e-2 away from 1 process.
            self.use_cpu = True
        super().__post_init__()
        for name in ("video_loss_weight", "text_loss_weight", "instance_loss_weight", "anchor_loss_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")
        check_loss_types(self.loss_type)  # one line naming the type and why, for one that cannot apply
        self.rejected_video  # validates the rejected-video settings (one definition: RejectedVideoSettings)
        if self.num_frames < 1:
            raise ValueError("num_frames must be >= 1")
        for name, (accepted, why) in REFUSED_DPO_FIELDS.items():
            if self.sync_ref_model and name in ("ref_model_mixup_alpha", "ref_model_sync_steps"):
                continue  # honoured then, by TRL's SyncRefModelCallback
            if name == "label_smoothing" and {"robust", "exo_pair"} & set(self.loss_type):
                continue  # honoured then, by those loss types
            if name == "discopop_tau" and "discopop" in self.loss_type:
                continue
            if getattr(self, name) != accepted:
                raise ValueError(f"PanoDPO does not support {name}={getattr(self, name)!r} (only {accepted!r}): {why}")
        if "exo_pair" in self.loss_type and not 0 < self.label_smoothing < 1:
            raise ValueError("loss_type 'exo_pair' needs 0 < label_smoothing < 1 (the EXO paper recommends 1e-3)")
        if self.dataloader_persistent_workers and self.dataloader_num_workers > 0 \
                and needs_rejected_video(self.video_loss_weight, self.instance_loss_weight) and not self.precompute_ref_log_probs:
            raise ValueError("dataloader_persistent_workers=True keeps the first epoch's collator in the workers, so v' would not "
                             "be drawn anew each epoch: set dataloader_persistent_workers=False, or precompute_ref_log_probs=True "
                             "(v' fixed)")
