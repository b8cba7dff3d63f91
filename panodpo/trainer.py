"""PanoDPOTrainer: TRL's DPOTrainer with videos, the two conditional-preference terms, and the
field's other video preference terms (docs/training.md, "Objectives").

Subclassed, not copied. What each override replaces and why:

- ``__init__``: builds the video collator (TRL's collators know images, not videos) and freezes
  the vision tower; everything else (PEFT wrapping, fused LM head, accelerate) is TRL's.
- ``_prepare_dataset`` / ``_set_signature_columns_if_needed``: the dataset stays as is (videos
  are decoded and tokenized on the fly by the collator, as TRL does for image datasets), and the
  raw columns the collator reads are kept.
- ``_precompute_ref_logps`` / ``compute_ref_log_probs``: 5 reference log-probs per example
  instead of 2 (one per kind of sequence, 0 for a dropped kind), in a ``ref_logps`` column cached
  on disk like TRL's (keyed by the dataset's and the model's fingerprints, the run's data and
  model identity when given, and the collator's settings, so a rerun or a resumed run reuses it, and a run of another model never does);
  training then runs no reference forward.
- ``_compute_loss``: one policy forward over the (up to) 5 sequences of every example (one
  reference forward before it unless precomputed), and the loss of
  :func:`panodpo.loss.panodpo_loss` (TRL's pairwise loss types and ``loss_weights`` applied to each
  term), logging loss, reward margin and accuracy per term.
- ``create_model_card`` and ``_save``: the card from ``temrobbench/hub/templates/model_card.md.j2``, written into
  ``output_dir`` and into every folder a model is saved to (``save_model(dir)``, checkpoints),
  replacing the generic card PEFT writes next to the adapter.

The reference model is the base model with the LoRA adapter disabled (no second copy), TRL's
behaviour with a PEFT model and ``ref_model=None``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from typing import Any

import torch
from accelerate.utils import broadcast_object_list, is_peft_model
from datasets import Dataset, IterableDataset, concatenate_datasets
from datasets.fingerprint import Hasher
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import TrainerCallback
from trl import DPOTrainer
from trl.models import prepare_deepspeed
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import use_adapter

from temrobbench.processor_inputs import token_type_switches
from temrobbench.reference import BIBTEX, PAPER_TITLE

from panodpo.collator import PanoDPOCollator
from panodpo.config import PanoDPOConfig
from panodpo.loss import NUM_KINDS, active_rows, panodpo_loss
from panodpo.model_parts import freeze_vision_tower, lora_targets_missed
from temrobbench.family_support import check_family
from panodpo.shared_encoding import FrozenEncoderReuse, features_per_sequence, frozen_encoder_modules, shared_video_encoder
from panodpo.shared_prefix import (
    RecordingCache,
    SharedPrefixUnsupported,
    branch_cache,
    cache_kwarg,
    branch_position_ids,
    keep_cache_under_checkpointing,
    rope_index_function,
    unsupported_reason,
)

logger = logging.getLogger(__name__)

_NON_MODEL_KEYS = {"completion_mask", "ref_logps", "video_inputs", "video_index", "shared_prefix"}


#: What MoE text configs call their routed-expert count, besides ``num_experts``.
_EXPERT_COUNT_NAMES = ("n_routed_experts", "num_local_experts", "moe_num_experts")


@contextlib.contextmanager
def _expert_count_for_trl(model: Any, enabled: bool):
    """Expose the routed-expert count as ``text_config.num_experts`` for one forward.

    TRL 1.16's fused forward computes the router load-balancing loss with ``text_config.num_experts``;
    DeepSeek-style MoE configs (GLM-5-Next, Kimi-K2.5's DeepSeek-V3 text model) name it
    ``n_routed_experts`` and the forward fails with AttributeError. The alias is set on the config
    instance for the forward only (never saved with the model)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base = getattr(base, "module", base)  # DDP
    text_config = base.config.get_text_config()
    alias = next((name for name in _EXPERT_COUNT_NAMES if getattr(text_config, name, None) is not None), None)
    if not enabled or getattr(text_config, "num_experts", None) is not None or alias is None:
        yield
        return
    text_config.__dict__["num_experts"] = getattr(text_config, alias)
    try:
        yield
    finally:
        text_config.__dict__.pop("num_experts", None)


class RejectedVideoEpoch(TrainerCallback):
    """With a live reference, v' is drawn anew every epoch: at each epoch's start (before the epoch's
    dataloader iterator, and so its workers, exist) the collator is given the epoch, from the
    trainer state, which every rank holds alike, so all ranks draw the same v' for an example.
    After training it is 0 again (a later ``evaluate`` sees epoch 0's v')."""

    def __init__(self, collator: PanoDPOCollator) -> None:
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        # state.epoch is `epoch + steps done / steps per epoch`: a whole number here, or the
        # fraction of a resumed epoch; the small margin absorbs float rounding of a whole epoch.
        self.collator.epoch = int(state.epoch + 1e-6) if state.epoch else 0

    def on_train_end(self, args, state, control, **kwargs):
        self.collator.epoch = 0


def _identity_key(identity: dict[str, Any] | None) -> Any:
    """The content part of a run identity (fingerprints, Hub ids and revisions, split), without
    local paths: a moved copy of the same data or model keys the same cache."""
    if not identity:
        return None
    return sorted((what, tuple(sorted((k, str(v)) for k, v in entry.items() if k != "source" or "fingerprint" not in entry)))
                  for what, entry in identity.items() if isinstance(entry, dict))


class PanoDPOTrainer(DPOTrainer):
    """DPO + video-conditioned DPO + question-conditioned DPO for video LMMs (see module docstring).

    Args:
        model: the policy: a transformers video LMM (or its hub id / path), wrapped with LoRA when
            ``peft_config`` is given. Its vision tower is frozen; with PEFT the reference is this model
            with the adapter disabled (no second copy).
        ref_model: an explicit reference model instead (full fine-tuning without precomputed
            reference log-probs); None uses the adapter-disabled policy, or a frozen copy.
        args: a :class:`PanoDPOConfig` (DPOConfig plus the loss weights, rejected-video settings,
            frames, shared video encoding).
        data_collator: defaults to :class:`~panodpo.collator.PanoDPOCollator` built from ``args``.
        train_dataset: rows with ``id``, ``video`` (a video file or frames folder, relative to
            ``media_root``, or a ``datasets`` Video), ``prompt``, ``chosen``, ``rejected`` and, when
            ``text_loss_weight > 0``, ``rejected_prompt`` (see ``panodpo prepare``).
        eval_dataset: rows of the same form, evaluated with the same loss and metrics.
        processing_class: the model's processor (loaded from ``model`` when that is a hub id or path).
        peft_config: e.g. :func:`panodpo.default_lora_config` (LoRA on the language model, the
            projector trained in full); None trains every unfrozen weight.
        media_root: the folder relative video paths are resolved against (a path leading out of it
            is refused, never read).
        dataset_name: the data's hub id or folder, named in the model card.
        run_identity: what the data and the model are (``panodpo train`` records fingerprints or Hub
            revisions of both, see ``panodpo.cli.data_identity``); it keys the precomputed
            reference log-probs too, beyond the weights and dataset fingerprints TRL uses, so a
            cache of another model (another tokenizer or chat template as well) is never reused.
        **kwargs: passed on to TRL's ``DPOTrainer`` (callbacks, optimizers, ...).

    Example (a tiny random Qwen2-VL, two steps on CPU)::

        from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
        trainer = PanoDPOTrainer(model, args=PanoDPOConfig("out", max_steps=2), train_dataset=ds,
                                 processing_class=processor, peft_config=default_lora_config(model))
        trainer.train()
    """

    _tag_names = ["trl", "dpo", "panodpo", "video"]
    _name = "PanoDPO"
    # The paper the method comes from, as TRL's trainers carry theirs (model cards cite it).
    _paper = {"title": PAPER_TITLE, "id": "2505.14405", "citation": BIBTEX}

    def __init__(
        self,
        model: Any,
        ref_model: Any = None,
        args: PanoDPOConfig | None = None,
        data_collator: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        peft_config: Any = None,
        media_root: str | None = None,
        dataset_name: str | None = None,
        run_identity: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if args is None:
            args = PanoDPOConfig("panodpo-output")
        if not isinstance(args, PanoDPOConfig):
            raise TypeError(f"args must be a PanoDPOConfig, not {type(args).__name__}")
        if processing_class is None:
            from transformers import AutoProcessor

            if not isinstance(model, str):
                raise ValueError("pass processing_class= (the model's processor)")
            processing_class = AutoProcessor.from_pretrained(model)
        if not isinstance(model, str):
            check_family(model, training=True, subject=type(model).__name__)
        # Set before super().__init__, which may precompute reference log-probs with them.
        self.rows = active_rows(args.video_loss_weight, args.text_loss_weight, args.instance_loss_weight)
        self.media_root = media_root
        self.dataset_name = dataset_name  # named in the model card (a hub id or a folder)
        self.run_identity = run_identity
        if data_collator is None:
            data_collator = PanoDPOCollator.from_config(processing_class, args, media_root)
        # Shared video encoding where the family allows it (decided on the model before wrapping,
        # so the reference log-probs precomputed in super().__init__ use it too).
        self._video_encoder = shared_video_encoder(model) if args.share_video_encoding and not isinstance(model, str) else None
        if isinstance(data_collator, PanoDPOCollator):
            data_collator.share_video_encoding = self._video_encoder is not None
            if not isinstance(model, str):  # token types the model needs and its processor returns only when asked
                data_collator.processor_switches = token_type_switches(data_collator.processor, model)
        # The shared prefix where the family and set-up allow it (decided before wrapping, like the
        # encoding); the first training batch is checked against the plain path as well.
        self.share_prefix_status: dict[str, Any] = {"enabled": False, "reason": "share_prefix=False"}
        if args.share_prefix and not isinstance(model, str):
            reason = unsupported_reason(model, args.gradient_checkpointing, args.gradient_checkpointing_kwargs)
            self.share_prefix_status = {"enabled": reason is None, "reason": reason, "checked": False}
            if reason:
                logger.warning("share_prefix: %s uses the plain path: %s", type(model).__name__, reason)
        if isinstance(data_collator, PanoDPOCollator):
            data_collator.share_prefix = self.share_prefix_status["enabled"]
        # PEFT may rewrite the targets in place while wrapping: keep what was asked for.
        asked_targets = copy.copy(getattr(peft_config, "target_modules", None))
        super().__init__(
            model, ref_model=ref_model, args=args, data_collator=data_collator, train_dataset=train_dataset,
            eval_dataset=eval_dataset, processing_class=processing_class, peft_config=peft_config, **kwargs,
        )
        missed = lora_targets_missed(self.accelerator.unwrap_model(self.model), asked_targets) if peft_config is not None else []
        if missed:
            raise ValueError(f"{type(self.accelerator.unwrap_model(self.model).get_base_model()).__name__}: PEFT left {len(missed)} targeted "
                             f"language-model layers without LoRA (e.g. {missed[0]}), a known PEFT rewrite of MoE targets for this model "
                             "type; training would leave them frozen without a word. Pass a peft_config naming them differently, or train "
                             "without PEFT.")
        freeze_vision_tower(self.model)
        if isinstance(self.data_collator, PanoDPOCollator) and not args.precompute_ref_log_probs:
            # A live reference scores whatever v' the batch holds: v' is drawn anew each epoch. A
            # precomputed reference was computed once on epoch 0's v', which then stays fixed.
            self.add_callback(RejectedVideoEpoch(self.data_collator))
        # The frozen part of the vision tower gives the reference and the policy forward the same
        # outputs: with a live reference (adapter disabled), computed once per step.
        self._encoder_reuse = FrozenEncoderReuse(frozen_encoder_modules(self.accelerator.unwrap_model(self.model))) \
            if args.share_video_encoding else None
        if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and not self.is_fsdp_enabled:
            # accelerate turns FSDP on for GPU-like devices only: on CPU the run is plain DDP.
            logger.warning("an FSDP config was given, but accelerate runs this %s job without FSDP (it enables FSDP on GPUs and "
                           "other accelerators only): every process holds the whole model", self.accelerator.distributed_type)

    # -- data -----------------------------------------------------------------------------------

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        """Replaces TRL's tokenization: the collator decodes and tokenizes videos on the fly."""
        return dataset

    def _set_signature_columns_if_needed(self):
        """Replaces TRL's list (tokenized or image columns): the raw columns the video collator reads,
        kept when ``remove_unused_columns=True``."""
        if self._signature_columns is None:
            self._signature_columns = ["id", self.args.video_column, "prompt", "chosen", "rejected", "rejected_prompt", "ref_logps"]

    # -- log-probabilities ------------------------------------------------------------------------

    def _sequence_logps(self, model, inputs: dict[str, Any], plain: bool = False) -> tuple[torch.Tensor, Any]:
        """Sum of completion log-probs of every sequence in the batch, as (5, B) (zeros for
        dropped kinds): on the shared-prefix path where the batch carries its layout (see
        :mod:`panodpo.shared_prefix`), else from one forward over every sequence (``plain``)."""
        if not plain and inputs.get("shared_prefix") is not None and self.share_prefix_status["enabled"]:
            try:
                per_sequence, outputs = self._shared_prefix_logps(model, inputs)
            except SharedPrefixUnsupported as err:
                self._disable_share_prefix(str(err))
                if not any(k.startswith(("pixel_values", "video_inputs")) for k in inputs):
                    raise RuntimeError(f"share_prefix: this batch cannot take the shared path ({err}) and carries no plain-path "
                                       "video inputs; the next batches use the plain path") from err
            else:
                return self._by_kind(per_sequence), outputs
        per_sequence, outputs = self._plain_logps(model, inputs)
        return self._by_kind(per_sequence), outputs

    def _by_kind(self, per_sequence: torch.Tensor) -> torch.Tensor:
        batch = per_sequence.shape[0] // len(self.rows)
        logps = per_sequence.new_zeros(NUM_KINDS, batch)
        logps[self.rows] = per_sequence.view(len(self.rows), batch)
        return logps

    def _disable_share_prefix(self, reason: str) -> None:
        logger.warning("share_prefix: switching this run to the plain path: %s", reason)
        self.share_prefix_status.update(enabled=False, reason=reason)
        if isinstance(self.data_collator, PanoDPOCollator):
            self.data_collator.share_prefix = False
            self.data_collator.carry_plain_video = True

    def _shared_prefix_logps(self, model, inputs: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        """Per-sequence completion log-probs with each example's common prefix computed once:
        one prefix forward per group recording its keys and values, then the group's remaining
        tokens as one batch over a read-only branch of that cache (a group per example and video: v,
        and v' when y_l|v' joins y_w|v'); the other rows (y_w|v' alone) in one plain forward. Gradients reach the prefix through the recorded keys and values."""
        layout = inputs["shared_prefix"]
        ids, completion = inputs["input_ids"], inputs["completion_mask"]
        labels = ids.masked_fill(completion == 0, -100)
        per_token = [k for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "completion_mask")
                     and torch.is_tensor(v) and v.shape == ids.shape]
        lengths = inputs["attention_mask"].sum(dim=1)
        unwrapped = self.accelerator.unwrap_model(model)
        base = unwrapped.get_base_model() if hasattr(unwrapped, "get_base_model") else unwrapped
        config = base.config.get_text_config(decoder=True)
        key = cache_kwarg(unwrapped)
        rope_index = rope_index_function(base)
        pieces: dict[int, torch.Tensor] = {}
        outputs = None
        with keep_cache_under_checkpointing(unwrapped):
            for rows, length, prefix in zip(layout["groups"], layout["prefix_lengths"], layout["prefixes"]):
                cache = RecordingCache(config)
                # No label is scored in the prefix: every branch keeps the prefix's last common token.
                prefix_labels = torch.full_like(prefix["input_ids"], -100)
                model(**prefix, **{key: cache}, use_cache=True, labels=prefix_labels, fused_lm_head=True)
                end = int(lengths[rows].max())
                branch = {"input_ids": ids[rows, length:end], **{k: inputs[k][rows, length:end] for k in per_token}}
                full_rows = {"input_ids": ids[rows, :end], "attention_mask": inputs["attention_mask"][rows, :end],
                             **{k: inputs[k][rows, :end] for k in per_token}}
                positions = branch_position_ids(rope_index, full_rows, prefix, len(rows), length)
                if positions is not None:
                    branch["position_ids"] = positions
                outputs = model(**branch, **{key: branch_cache(cache)}, use_cache=True, labels=labels[rows, length:end], fused_lm_head=True)
                for j, row in enumerate(rows):
                    pieces[row] = outputs.log_probs[j].sum()
        if layout["solo_rows"]:
            solo = layout["solo"]
            solo_labels = solo["input_ids"].masked_fill(solo["completion_mask"] == 0, -100)
            kwargs = {k: v for k, v in solo.items() if k not in _NON_MODEL_KEYS}
            solo_out = model(**kwargs, use_cache=False, labels=solo_labels, fused_lm_head=True)
            for j, row in enumerate(layout["solo_rows"]):
                pieces[row] = solo_out.log_probs[j].sum()
            outputs = outputs or solo_out
        return torch.stack([pieces[row] for row in range(ids.shape[0])]), outputs

    def _plain_logps(self, model, inputs: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        model_kwargs = {k: v for k, v in inputs.items() if k not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        if "video_index" in inputs:
            # Each distinct video through the vision tower (and projector) once; every sequence then
            # gets its video's features through the model's own precomputed-features input.
            encoder = self._encoder_of(model)
            features = encoder.get_video_features(**self._video_feature_kwargs(encoder, inputs["video_inputs"]), return_dict=True)
            model_kwargs["mm_encoder_outputs"] = {"video": features_per_sequence(features, inputs["video_index"])}
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        seq_len = completion_mask.size(1) - 1
        per_sequence = outputs.log_probs[:, -seq_len:].sum(dim=1)
        return per_sequence, outputs

    def _encoder_of(self, model: Any) -> torch.nn.Module:
        """The video encoder of ``model`` (the policy, possibly wrapped, or a separate ``ref_model``)."""
        if model is self.ref_model and self.ref_model is not None:
            if not hasattr(self, "_ref_video_encoder"):
                self._ref_video_encoder = shared_video_encoder(self.accelerator.unwrap_model(self.ref_model))
            if self._ref_video_encoder is None:
                raise ValueError(f"ref_model {type(self.ref_model).__name__} cannot take precomputed video features: "
                                 "set share_video_encoding=False")
            return self._ref_video_encoder
        return self._video_encoder

    @staticmethod
    def _video_feature_kwargs(encoder: torch.nn.Module, video_inputs: dict[str, Any]) -> dict[str, Any]:
        import inspect

        parameters = inspect.signature(encoder.get_video_features).parameters
        takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        return {k: v for k, v in video_inputs.items() if k in parameters or (takes_any and k.startswith("video_"))}

    def _reference_context(self):
        if self.ref_model is None and is_peft_model(self.model):
            unwrapped = self.accelerator.unwrap_model(self.model)
            return use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None)
        return contextlib.nullcontext()

    def compute_ref_log_probs(self, model, inputs):
        """Replaces TRL's (2, B) version: reference log-probs (5, B) of one batch, from the
        adapter-disabled base model, or ``ref_model`` when one is given."""
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
            self._reference_context(),
            self.accelerator.autocast(),
        ):
            logps, _ = self._sequence_logps(self.ref_model or model, inputs)
        return logps

    def _ref_cache_fingerprint(self, dataset: Dataset) -> str:
        """What the cached reference log-probs depend on: TRL's (dataset, model weights) pair, the
        run's data and model identity when known (the model folder's tokenizer and chat template
        too), plus every setting of the collator that makes the sequences (derived from its
        fields, not listed here, so a new setting cannot be left out: ``max_length`` once was)."""
        collator = self.data_collator
        settings = collator.settings() if hasattr(collator, "settings") else repr(collator)
        identity = _identity_key(getattr(self, "run_identity", None))
        fingerprint = [Hasher.hash((dataset._fingerprint, self._precompute_model_hash, "panodpo-ref-logps", settings, identity))]
        broadcast_object_list(fingerprint, from_process=0)  # rank-dependent under ZeRO-3: use rank 0's
        return fingerprint[0]

    def _precompute_ref_logps(self, dataset: Dataset, name: str, batch_size: int) -> Dataset:
        """Replaces TRL's 2-column version: adds a ``ref_logps`` column (5 floats per example,
        in the order of :mod:`panodpo.loss`) computed once, in a cache file next to the dataset's."""
        if "ref_logps" in dataset.column_names:
            return dataset
        if isinstance(dataset, IterableDataset):
            raise ValueError("precompute_ref_log_probs=True needs a map-style Dataset, not an IterableDataset")
        fingerprint = self._ref_cache_fingerprint(dataset)
        # An in-memory dataset (no cache files) would be cached in a per-process temporary folder
        # that the other ranks cannot read: its column stays in memory (every rank gathers it).
        cache_file = dataset._get_cache_file_path(fingerprint) if dataset.cache_files else None
        cached = [cache_file is not None and os.path.exists(cache_file)]
        broadcast_object_list(cached, from_process=0)  # one decision for all ranks (rank 0 writes the file)
        if cached[0]:
            return concatenate_datasets([dataset, Dataset.from_file(cache_file)], axis=1)
        loader = self.accelerator.prepare(DataLoader(
            dataset, batch_size=batch_size, collate_fn=self.data_collator, shuffle=False,
            num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory,
        ))
        if self.ref_model is None and self.is_deepspeed_enabled:
            # Before `train`, ZeRO-sharded parameters are not placed yet: TRL's inference engine does it.
            if self._precompute_engine is None:
                self._precompute_engine = prepare_deepspeed(self.model, self.accelerator)
            model = self._precompute_engine
        else:
            model = self.ref_model or self.model
        values = []
        for batch in tqdm(loader, desc=f"reference log-probs ({name})", disable=self.args.disable_tqdm or bool(os.environ.get("TQDM_DISABLE"))):
            logps = self.compute_ref_log_probs(model, batch)
            values.append(self.accelerator.gather_for_metrics(logps.T.contiguous()).float().cpu())
        column = torch.cat(values)  # every example once, in dataset order (the padding of an uneven last batch dropped)
        if len(column) != len(dataset):
            raise RuntimeError(f"reference log-probs: gathered {len(column)} rows for {len(dataset)} examples")
        if cache_file is None:
            return dataset.add_column("ref_logps", column.tolist(), new_fingerprint=fingerprint)
        if self.accelerator.is_main_process:
            dataset.map(
                lambda batch, indices: {"ref_logps": column[indices].tolist()},
                with_indices=True, batched=True, remove_columns=dataset.column_names,
                new_fingerprint=fingerprint, cache_file_name=cache_file, desc=f"caching reference log-probs ({name})",
            )
        self.accelerator.wait_for_everyone()
        return concatenate_datasets([dataset, Dataset.from_file(cache_file)], axis=1)

    # -- loss -------------------------------------------------------------------------------------

    def _compute_loss(self, model, inputs, return_outputs):
        """Replaces TRL's: one policy forward over the active sequences, reference log-probs from
        the batch (precomputed) or from one adapter-disabled forward, then :func:`panodpo_loss`."""
        mode = "train" if self.model.training else "eval"
        if self.share_prefix_status.get("enabled") and not self.share_prefix_status.get("checked") and inputs.get("shared_prefix") is not None:
            self._check_shared_prefix(model, inputs)
        reuse = None
        if "ref_logps" in inputs:
            ref_logps = inputs["ref_logps"]
        else:
            # Before the policy forward (TRL runs it after): its transient memory is then freed before
            # the policy's activations exist, instead of adding to them at the step's peak.
            reuse = self._encoder_reuse if self.ref_model is None else None
            with reuse.record() if reuse else contextlib.nullcontext():
                ref_logps = self.compute_ref_log_probs(model, inputs)
        # MoE models (TRL's rule: the text config has `output_router_logits` and the coefficient, from
        # `router_aux_loss_coef` or the config's own, is not 0): the policy forward returns the router
        # load-balancing loss, added as TRL adds it. That loss is a mean over every token of the forward,
        # not additive over the shared-prefix path's several forwards, so the policy runs the plain
        # path: one forward over every sequence, the one TRL's aux_loss comes from.
        aux_loss_enabled = getattr(self, "aux_loss_enabled", False)
        policy_inputs = inputs
        if aux_loss_enabled:
            policy_inputs = {**inputs, "output_router_logits": True}
            if inputs.get("shared_prefix") is not None and self.share_prefix_status.get("enabled") and not getattr(self, "_aux_plain_logged", False):
                self._aux_plain_logged = True
                logger.warning("share_prefix: the policy forward uses the plain path: the MoE router auxiliary loss "
                               "(router_aux_loss_coef=%s) is that of one forward over all sequences; the reference forward "
                               "keeps the shared prefix", self.router_aux_loss_coef)
        with reuse.replay() if reuse else contextlib.nullcontext(), _expert_count_for_trl(model, aux_loss_enabled):
            policy_logps, outputs = self._sequence_logps(model, policy_inputs, plain=aux_loss_enabled)
        ref_logps = ref_logps.to(policy_logps.device, policy_logps.dtype)
        # Completion tokens per sequence, for the length-normalized loss types (ipo, sigmoid_norm), as TRL
        # counts them (the completion mask's sum).
        lengths = self._by_kind(inputs["completion_mask"].sum(dim=1)).to(policy_logps.device)
        args = self.args
        # TRL: each loss type's loss times its weight (`loss_weights`, one per `loss_type`), here in every
        # pairwise term; the per-term metrics stay unweighted, as TRL's.
        loss, metrics = panodpo_loss(
            policy_logps, ref_logps, beta=self.beta, video_weight=args.video_loss_weight, text_weight=args.text_loss_weight,
            instance_weight=args.instance_loss_weight, anchor_weight=args.anchor_loss_weight, anchor_margin=args.anchor_margin,
            loss_type=self.loss_types, loss_weights=self.loss_weights, lengths=lengths, label_smoothing=args.label_smoothing,
            discopop_tau=args.discopop_tau,
        )
        if aux_loss_enabled:
            aux_loss = outputs.aux_loss
            loss = loss + self.router_aux_loss_coef * aux_loss
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(aux_loss.detach().reshape(1)).mean().item())
        for key, value in metrics.items():
            self._metrics[mode][key].append(self.accelerator.gather_for_metrics(value.detach().reshape(1)).mean().item())
        self._metrics[mode]["logps/chosen"].append(self.accelerator.gather_for_metrics(policy_logps[0].detach()).mean().item())
        self._metrics[mode]["logps/rejected"].append(self.accelerator.gather_for_metrics(policy_logps[1].detach()).mean().item())
        return (loss, outputs) if return_outputs else loss

    def _check_shared_prefix(self, model, inputs: dict[str, Any]) -> None:
        """Once per run, before its numbers are trusted: the first batch's log-probs on the shared-
        prefix path against the plain path (no gradients). Beyond tolerance, or if the shared path
        fails, the run switches to the plain path with one logged line; ``share_prefix_status``
        (also in the trainer's log) records the outcome."""
        self.share_prefix_status["checked"] = True
        training = model.training
        model.eval()  # dropout off: both paths must see the same function
        try:
            with torch.no_grad(), self.accelerator.autocast():
                try:
                    shared, _ = self._sequence_logps(model, inputs)
                except Exception as err:  # noqa: BLE001 - a family the shared path does not fit: plain, said once
                    self._disable_share_prefix(f"{type(err).__name__}: {err}")
                    return
                if not self.share_prefix_status["enabled"]:
                    return
                plain, _ = self._sequence_logps(model, inputs, plain=True)
        finally:
            model.train(training)
        shared, plain = shared[self.rows].float(), plain[self.rows].float()
        difference = float((shared - plain).abs().max())
        half = plain.dtype != torch.float32 or getattr(self.args, "bf16", False) or getattr(self.args, "fp16", False)
        tolerance = (2e-2 if half else 1e-4) * max(1.0, float(plain.abs().max()))
        self.share_prefix_status.update(max_abs_difference=difference, tolerance=tolerance)
        if not difference <= tolerance:
            self._disable_share_prefix(f"the first batch's log-probs differ from the plain path by {difference:.3g} (tolerance {tolerance:.3g})")
        elif isinstance(self.data_collator, PanoDPOCollator):
            self.data_collator.carry_plain_video = False  # checked: later batches carry their videos once
        self.log({"share_prefix/enabled": float(self.share_prefix_status["enabled"]), "share_prefix/max_abs_difference": difference})

    # -- cards ------------------------------------------------------------------------------------

    def create_model_card(self, model_name: str | None = None, dataset_name: str | None = None, tags: Any = None, **kwargs: Any) -> None:
        """Replaces TRL's card: ``README.md`` in ``output_dir`` from ``temrobbench/hub/templates/model_card.md.j2``
        (``push_to_hub`` uploads it with the adapter)."""
        if dataset_name:
            self.dataset_name = dataset_name  # later saves name the same data
        self._write_model_card(self.args.output_dir, model_name=model_name, dataset_name=dataset_name, tags=tags)

    def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
        """Extends Trainer's: every saved adapter (``save_model(dir)``, checkpoints) gets the
        project's card instead of PEFT's generic one."""
        super()._save(output_dir, state_dict=state_dict)
        self._write_model_card(output_dir or self.args.output_dir)

    def _write_model_card(self, directory: str, **card: Any) -> None:
        if not self.args.should_save:
            return
        from panodpo.model_card import render_model_card

        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "README.md"), "w", encoding="utf-8") as f:
            f.write(render_model_card(self, **card))
