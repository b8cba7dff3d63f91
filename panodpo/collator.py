"""Batches of PanoDPO examples: the (up to) 5 sequences of every example, tokenized with their videos.

Like TRL's vision collator, videos are decoded and tokenized on the fly (preprocessing a whole
video dataset upfront is impractical). The batch is kind-major: all chosen sequences, then all
rejected, then chosen given the rejected video, then chosen given the misleading question, then
rejected given the rejected video (VistaDPO's instance-level term), with the kinds whose loss
weight is 0 left out.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from trl.trainer.utils import flush_left

from temrobbench.evaluation.frames import SampledFrames
from temrobbench.processor_inputs import adds_special_tokens, chat_prompt, video_kwargs
from temrobbench.prompt import video_chat_messages

from panodpo.data.sharegptvideo import VIDEO_PLACEHOLDER, clean_prompt  # noqa: F401 - re-exported (VIDEO_PLACEHOLDER too)
from panodpo.loss import CHOSEN, CHOSEN_REJECTED_QUESTION, CHOSEN_REJECTED_VIDEO, REJECTED, REJECTED_REJECTED_VIDEO, active_rows
from panodpo.media import load_frames
from panodpo.rejected_videos import RejectedVideoSettings
from panodpo.shared_prefix import group_prefix_length

_TEXT_KEYS = {"input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids"}
#: The kinds of sequence with the real video v and with the rejected video v': each set of an
#: example shares its video's prefix (the groups of the shared-prefix tree).
_WITH_VIDEO = (CHOSEN, REJECTED, CHOSEN_REJECTED_QUESTION)
_WITH_REJECTED_VIDEO = (CHOSEN_REJECTED_VIDEO, REJECTED_REJECTED_VIDEO)



def response_text(value: Any) -> str:
    """A response given as text or as a chat message list."""
    if isinstance(value, list):
        return "".join(m["content"] if isinstance(m["content"], str) else m["content"][0]["text"] for m in value)
    return str(value)


@dataclass
class PanoDPOCollator:
    """Collates rows with ``video``, ``prompt``, ``chosen``, ``rejected`` and ``rejected_prompt``."""

    processor: Any
    num_frames: int = 8
    video_loss_weight: float = 1.0
    text_loss_weight: float = 1.0
    instance_loss_weight: float = 0.0
    rejected_video: RejectedVideoSettings = field(default_factory=RejectedVideoSettings)
    seed: int = 0
    media_root: str | None = None
    video_column: str = "video"
    frame_cache_size: int = 0
    max_length: int | None = None
    #: Set by the trainer where the model takes precomputed video features (``mm_encoder_outputs``):
    #: the distinct videos (v and v' of every example) are preprocessed once more on their own into
    #: ``video_inputs``, ``video_index`` maps every sequence to its video there, and the per-sequence
    #: ``pixel_values_videos`` are left out.
    share_video_encoding: bool = False
    #: Set by the trainer where the shared prefix applies (:mod:`panodpo.shared_prefix`): the batch
    #: also carries ``shared_prefix``: per example, the groups of rows that share a video (y_w|q,
    #: y_l|q, y_w|q' with v; y_w|v', y_l|v' with v' when the instance-level term is on), the length of
    #: each group's common prefix and that prefix's model inputs (its ids and its video), plus the
    #: other rows (a group of one, e.g. y_w|v' alone, and any group that cannot share) on their own.
    share_prefix: bool = False
    #: The training epoch v' is drawn for (not a dataclass field: it is no setting, and keys no
    #: cache). The trainer sets it at the start of every epoch when the reference is live; with a
    #: precomputed reference it stays 0, so v' is the one its reference log-prob was computed on.
    epoch = 0
    #: Whether a shared-prefix batch also carries the plain path's video inputs (not a field: the
    #: values are the same either way). The first training batch needs them, for the check against
    #: the plain path; once it passed, the trainer turns this off, and each batch holds its videos
    #: once (the prefixes' and the solo rows') instead of twice.
    carry_plain_video = True
    #: Processor arguments for the model the trainer trains (not a field: the trainer sets them from the
    #: model, :func:`temrobbench.processor_inputs.token_type_switches`): token types the model needs and
    #: its processor returns only when asked (Cosmos3 Edge's ``mm_token_type_ids``).
    processor_switches = {}  # noqa: RUF012 - replaced per collator by the trainer, never mutated

    def __post_init__(self) -> None:
        self._frames: OrderedDict[str, list] = OrderedDict()

    def _load(self, video: Any) -> list:
        """Sampled frames of ``video``, from an LRU cache keyed by path when one is configured."""
        if self.frame_cache_size <= 0 or not isinstance(video, str):
            return load_frames(video, self.num_frames, self.media_root)
        if video in self._frames:
            self._frames.move_to_end(video)
            return self._frames[video]
        frames = load_frames(video, self.num_frames, self.media_root)
        self._frames[video] = frames
        if len(self._frames) > self.frame_cache_size:
            self._frames.popitem(last=False)
        return frames

    @classmethod
    def from_config(cls, processor: Any, args: Any, media_root: str | None = None) -> "PanoDPOCollator":
        return cls(
            processor=processor, num_frames=args.num_frames, video_loss_weight=args.video_loss_weight,
            text_loss_weight=args.text_loss_weight, instance_loss_weight=getattr(args, "instance_loss_weight", 0.0),
            rejected_video=args.rejected_video, seed=args.seed,
            media_root=media_root, video_column=args.video_column, frame_cache_size=args.frame_cache_size, max_length=args.max_length,
        )

    def settings(self) -> dict[str, Any]:
        """Every setting of this collator (its dataclass fields but the processor): what decides the
        sequences it makes, so a cache keyed on them cannot forget one."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "processor"}

    @property
    def rows(self) -> list[int]:
        return active_rows(self.video_loss_weight, self.text_loss_weight, self.instance_loss_weight)

    def _prompt_text(self, question: str) -> str:
        # The evaluation adapter's messages and switches: a training prompt is an evaluation prompt.
        return chat_prompt(self.processor, video_chat_messages(question))

    def _prompt_inputs(self, questions: list[str], videos: list, **kwargs: Any) -> dict[str, Any]:
        texts = [self._prompt_text(q) for q in questions]
        return self.processor(text=texts, **video_kwargs(videos, self.processor), **self.processor_switches, padding=True,
                              return_tensors="pt", add_special_tokens=adds_special_tokens(self.processor.tokenizer, texts[0]), **kwargs)

    def _tokenize(self, sequences: list[tuple[str, list, str]]) -> dict[str, Any]:
        """(question, frames, response) sequences as one batch: left-aligned, right-padded, with
        ``completion_mask`` over the responses (responses truncated to ``max_length``, never prompts)."""
        tokenizer = self.processor.tokenizer
        prompts = self._prompt_inputs([q for q, _, _ in sequences], [v for _, v, _ in sequences], padding_side="left")
        completions = tokenizer([c for _, _, c in sequences], padding=True, padding_side="right", return_tensors="pt", add_special_tokens=False)
        prompt_mask = prompts["attention_mask"]
        input_ids = torch.cat((prompts["input_ids"], completions["input_ids"]), dim=1)
        attention_mask = torch.cat((prompt_mask, completions["attention_mask"]), dim=1)
        completion_mask = torch.cat((torch.zeros_like(prompt_mask), completions["attention_mask"]), dim=1)
        output = dict(prompts)
        # Per-token inputs besides the ids (Qwen-VL's mm_token_type_ids for multimodal RoPE, ERNIE-4.5-VL's
        # moe_mm_token_type_ids routing to text or vision experts): 0 (text) over the response.
        per_token = [k for k, v in prompts.items() if k not in ("input_ids", "attention_mask") and torch.is_tensor(v) and v.shape == prompt_mask.shape]
        extended = [torch.cat((prompts[k], torch.zeros_like(completions["input_ids"]).to(prompts[k].dtype)), dim=1) for k in per_token]
        attention_mask, input_ids, completion_mask, *extended = flush_left(attention_mask, input_ids, completion_mask, *extended)
        output.update(zip(per_token, extended))
        if self.max_length is not None and input_ids.shape[1] > self.max_length:
            # Truncate responses only: cutting a prompt would drop visual tokens whose features stay.
            prompt_lengths = (attention_mask.bool() & ~completion_mask.bool()).sum(dim=1)
            if int(prompt_lengths.max()) >= self.max_length:
                raise ValueError(f"max_length={self.max_length} leaves no room for a response after a prompt of {int(prompt_lengths.max())} "
                                 "tokens (video tokens included): raise max_length, lower num_frames, or set max_length=None")
            input_ids, attention_mask, completion_mask = (t[:, : self.max_length] for t in (input_ids, attention_mask, completion_mask))
            output.update((k, output[k][:, : self.max_length]) for k in per_token)
        output.update(input_ids=input_ids, attention_mask=attention_mask, completion_mask=completion_mask)
        return output

    def _multimodal_token_ids(self) -> list[int]:
        """Ids of the tokens a video (or image) block is made of, which must all fall in a prefix."""
        tokenizer, ids = self.processor.tokenizer, set()
        for name in ("video_token", "image_token"):
            token = getattr(self.processor, name, None)
            if isinstance(token, str):
                token_id = tokenizer.convert_tokens_to_ids(token)
                if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
                    ids.add(token_id)
        for name in ("video_token_id", "image_token_id"):
            if isinstance(getattr(self.processor, name, None), int):
                ids.add(getattr(self.processor, name))
        return sorted(ids)

    def _shared_prefix(self, output: dict[str, Any], sequences: list[tuple[str, list, str]], batch: int) -> dict[str, Any]:
        """The shared-prefix layout of a batch (see the ``share_prefix`` field): per example and video
        (v, then v'), the rows with that video, their common prefix's length and model inputs; the
        rest (a video's only row, a group that cannot share) as ``solo``."""
        position = {row: k for k, row in enumerate(self.rows)}
        kind_groups = [[row for row in self.rows if row in kinds] for kinds in (_WITH_VIDEO, _WITH_REJECTED_VIDEO)]
        forbidden = self._multimodal_token_ids()
        ids, mask, completion = output["input_ids"], output["attention_mask"], output["completion_mask"]
        # Per-token type inputs (Qwen's and Molmo2's mm_token_type_ids, Gemma's token_type_ids): nonzero
        # marks a multimodal token, which must stay in the prefix with the rest of its block.
        types = [v for k, v in output.items() if k.endswith("token_type_ids") and torch.is_tensor(v) and v.shape == ids.shape]
        groups, lengths, prefixes, solo = [], [], [], []
        for i, kinds in ((i, kinds) for kinds in kind_groups if kinds for i in range(batch)):
            rows = [position[kind] * batch + i for kind in kinds]
            length = group_prefix_length(ids, mask, completion, rows, forbidden, types) if len(rows) > 1 else 0
            prefix = None
            if length:
                question, frames, _ = sequences[rows[0]]
                alone = self._prompt_inputs([question], [frames])
                # The prefix's own tokenization must be the batch's, id for id (else it is not a prefix).
                if alone["input_ids"].shape[1] >= length and torch.equal(alone["input_ids"][0, :length], ids[rows[0], :length]):
                    prefix = {k: (v[:, :length] if torch.is_tensor(v) and v.shape == alone["input_ids"].shape else v) for k, v in alone.items()}
            if prefix is None:
                solo += rows
                continue
            groups.append(rows)
            lengths.append(length)
            prefixes.append(prefix)
        solo.sort()
        return {"groups": groups, "prefix_lengths": lengths, "prefixes": prefixes, "solo_rows": solo,
                "solo": self._tokenize([sequences[r] for r in solo]) if solo else None}

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        tokenizer = self.processor.tokenizer
        eos = tokenizer.eos_token or ""
        per_kind: dict[int, list[tuple[str, list, str]]] = {row: [] for row in self.rows}
        for example in examples:
            example_id = str(example.get("id", ""))
            frames = self._load(example[self.video_column])
            question, misleading = clean_prompt(example["prompt"]), clean_prompt(example.get("rejected_prompt") or "")
            chosen, rejected = response_text(example["chosen"]) + eos, response_text(example["rejected"]) + eos
            per_kind[CHOSEN].append((question, frames, chosen))
            per_kind[REJECTED].append((question, frames, rejected))
            if CHOSEN_REJECTED_VIDEO in per_kind or REJECTED_REJECTED_VIDEO in per_kind:
                rejected_video = self.rejected_video.make(frames, seed=self.seed, example_id=example_id, epoch=self.epoch)
                # v' is shown at the sampled times of v: same timing, edited content.
                rejected_video = SampledFrames(rejected_video)
                rejected_video.video_metadata = getattr(frames, "video_metadata", None)
                if CHOSEN_REJECTED_VIDEO in per_kind:
                    per_kind[CHOSEN_REJECTED_VIDEO].append((question, rejected_video, chosen))
                if REJECTED_REJECTED_VIDEO in per_kind:
                    per_kind[REJECTED_REJECTED_VIDEO].append((question, rejected_video, rejected))
            if CHOSEN_REJECTED_QUESTION in per_kind:
                if not misleading:
                    raise ValueError(f"example {example_id!r}: no rejected_prompt (run `panodpo prepare`, or set text_loss_weight=0)")
                per_kind[CHOSEN_REJECTED_QUESTION].append((misleading, frames, chosen))
        sequences = [entry for row in self.rows for entry in per_kind[row]]
        # Distinct videos: v of every example, then v' of every example; each sequence's index into them.
        batch = len(examples)
        video_of_kind = {CHOSEN: 0, REJECTED: 0, CHOSEN_REJECTED_VIDEO: batch, CHOSEN_REJECTED_QUESTION: 0, REJECTED_REJECTED_VIDEO: batch}
        video_index = torch.tensor([video_of_kind[row] + i for row in self.rows for i in range(batch)])
        output = self._tokenize(sequences)
        if self.share_prefix:
            output["shared_prefix"] = self._shared_prefix(output, sequences, batch)
            if not self.carry_plain_video:
                # The shared path reads only the batch's token ids and masks; its videos travel in the layout.
                keep = {"input_ids", "attention_mask", "completion_mask", "shared_prefix"}
                output = {k: v for k, v in output.items() if k in keep or (k.endswith("token_type_ids") and torch.is_tensor(v))}
        if self.share_video_encoding and "pixel_values_videos" in output:
            with_rejected_video = next((per_kind[k] for k in _WITH_REJECTED_VIDEO if k in per_kind), [])
            distinct = [(q, v) for q, v, _ in per_kind[CHOSEN]] + [(q, v) for q, v, _ in with_rejected_video]
            videos = self._prompt_inputs([q for q, _ in distinct], [v for _, v in distinct])
            del output["pixel_values_videos"]  # the model encodes the distinct videos instead
            output["video_inputs"] = {k: v for k, v in videos.items() if k not in _TEXT_KEYS}
            output["video_index"] = video_index
        if all("ref_logps" in e for e in examples):  # precomputed reference log-probs, (5, B)
            output["ref_logps"] = torch.tensor([e["ref_logps"] for e in examples], dtype=torch.float32).T.contiguous()
        return output


__all__ = ["PanoDPOCollator", "clean_prompt"]
