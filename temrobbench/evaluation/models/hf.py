"""``hf:<id-or-path>``: any transformers image-text-to-text model whose processor takes videos.

Qwen2-VL, Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision, LLaVA-NeXT-Video, SmolVLM2... load by hub id or
local path with ``AutoProcessor`` + ``AutoModelForImageTextToText``.

Likelihood and choice scoring encode each video once: every query of a video starts with the
same chat header and video block, so that prefix runs through the model once (vision tower
included) and each query's text continues from its KV cache, which is cropped back after each
query. ``blind:<spec>`` is the same model shown no video (the language prior).
"""

from __future__ import annotations

import inspect
import os
from collections import OrderedDict
from typing import Any, Sequence

from ..requests import VideoLMRequest
from .base import VideoLM, register_model


def _group_by_video(requests: Sequence[VideoLMRequest]) -> "OrderedDict[str, list[int]]":
    groups: OrderedDict[str, list[int]] = OrderedDict()
    for index, request in enumerate(requests):
        groups.setdefault(request.video_key or f"#{index}", []).append(index)
    return groups


class HFVideoLM(VideoLM):
    """A transformers video LMM (see the module docstring)."""

    scoring_modes = ("generate", "likelihood", "choice")

    def __init__(self, model: Any, processor: Any, *, name: str = "hf", use_video: bool = True, max_new_tokens: int = 16, reuse_prefix: bool = True) -> None:
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.name = name
        self.use_video = use_video
        self.max_new_tokens = max_new_tokens
        self.reuse_prefix = reuse_prefix
        forward_params = inspect.signature(self.model.forward).parameters
        # transformers renamed past_key_values to cache in 5.x; accept either.
        self._cache_kwarg = "cache" if "cache" in forward_params else "past_key_values"
        self.forward_calls = 0  # for tests and benchmarks

    @classmethod
    def from_pretrained(cls, model_id: str, *, use_video: bool = True, dtype: str = "auto", device_map: str | None = "auto", **kwargs: Any) -> "HFVideoLM":
        """Load ``model_id`` (hub id or local path) with its processor."""
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        processor = AutoProcessor.from_pretrained(model_id)
        load_kwargs: dict[str, Any] = {"dtype": dtype}
        if device_map and torch.cuda.is_available():
            if int(os.environ.get("WORLD_SIZE", 1)) > 1:
                # One full copy per rank under accelerate launch / torchrun ("auto" would spread
                # every rank's copy over all GPUs of the node).
                device_map = {"": int(os.environ.get("LOCAL_RANK", 0))}
            load_kwargs["device_map"] = device_map
        model = AutoModelForImageTextToText.from_pretrained(model_id, **load_kwargs)
        prefix = "hf" if use_video else "blind:hf"
        return cls(model, processor, name=f"{prefix}:{model_id}", use_video=use_video, **kwargs)

    # -- prompts ------------------------------------------------------------------------------

    def _messages(self, request: VideoLMRequest) -> list[dict]:
        content: list[dict] = [{"type": "video"}] if self.use_video else []
        content.append({"type": "text", "text": request.prompt})
        messages = [{"role": "user", "content": content}]
        if request.system_prompt:
            messages.insert(0, {"role": "system", "content": [{"type": "text", "text": request.system_prompt}]})
        return messages

    def chat_text(self, request: VideoLMRequest) -> str:
        return self.processor.apply_chat_template(self._messages(request), add_generation_prompt=True, tokenize=False)

    def _encode(self, texts: list[str], frames: list | None) -> dict:
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if frames is not None:
            kwargs["videos"] = [frames] * len(texts)
            kwargs["do_sample_frames"] = False  # frames are already sampled uniformly
        inputs = self.processor(**kwargs)
        return {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in inputs.items()}

    def _split_after_video(self, text: str) -> int | None:
        """Index in ``text`` just after the video block (and its closing special tokens)."""
        video_token = getattr(self.processor, "video_token", None)
        if not self.use_video or not video_token or video_token not in text:
            return None
        index = text.rindex(video_token) + len(video_token)
        specials = sorted(self.tokenizer.all_special_tokens, key=len, reverse=True)
        advanced = True
        while advanced:
            advanced = False
            for token in specials:
                if token and text.startswith(token, index):
                    index += len(token)
                    advanced = True
                    break
        return index

    # -- generation ---------------------------------------------------------------------------

    def generate(self, requests: Sequence[VideoLMRequest]) -> list[str]:
        import torch

        answers: list[str] = [""] * len(requests)
        for indices in _group_by_video(requests).values():
            group = [requests[i] for i in indices]
            inputs = self._encode([self.chat_text(r) for r in group], group[0].frames if self.use_video else None)
            with torch.inference_mode():
                output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            self.forward_calls += 1
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            for i, text in zip(indices, self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                answers[i] = text.strip()
        return answers

    # -- scoring ------------------------------------------------------------------------------

    def _continuations(self, group: Sequence[VideoLMRequest], extra: Sequence[Sequence[list[int]]]):
        """Yield, per request and per extra token list, log-softmax rows over the continuation.

        ``extra[j]`` lists token sequences appended to request j's prompt (``[[]]`` for its
        next-token distribution only). Yields ``(j, k, logprobs, prompt_length)`` where
        ``logprobs`` has one row per position from the last prompt token on.
        """
        import torch

        texts = [self.chat_text(r) for r in group]
        splits = [self._split_after_video(t) for t in texts]
        shared = self.reuse_prefix and splits[0] is not None and all(
            s is not None and t[:s] == texts[0][: splits[0]] for s, t in zip(splits, texts)
        )
        with torch.inference_mode():
            if not shared:
                for j, text in enumerate(texts):
                    inputs = self._encode([text], group[j].frames if self.use_video else None)
                    ids = inputs.pop("input_ids")
                    for k, tokens in enumerate(extra[j]):
                        full = torch.cat([ids, torch.tensor([tokens], dtype=ids.dtype, device=ids.device)], dim=1)
                        mask = torch.ones_like(full)
                        call = dict(inputs, input_ids=full, attention_mask=mask)
                        if "mm_token_type_ids" in call:
                            pad = torch.zeros((1, len(tokens)), dtype=call["mm_token_type_ids"].dtype, device=ids.device)
                            call["mm_token_type_ids"] = torch.cat([call["mm_token_type_ids"], pad], dim=1)
                        logits = self.model(**call).logits[0, ids.shape[1] - 1 :].float()
                        self.forward_calls += 1
                        yield j, k, torch.log_softmax(logits, dim=-1)
                return
            prefix = self._encode([texts[0][: splits[0]]], group[0].frames)
            prefix_length = prefix["input_ids"].shape[1]
            out = self.model(**prefix, use_cache=True)
            self.forward_calls += 1
            cache = _returned_cache(out)
            last_prefix_logits = out.logits[0, -1:].float()
            for j, text in enumerate(texts):
                suffix = self.tokenizer(text[splits[j] :], add_special_tokens=False)["input_ids"]
                for k, tokens in enumerate(extra[j]):
                    ids = torch.tensor([suffix + list(tokens)], device=self.model.device)
                    if ids.shape[1] == 0:
                        yield j, k, torch.log_softmax(last_prefix_logits, dim=-1)
                        continue
                    out = self.model(input_ids=ids, use_cache=True, **{self._cache_kwarg: cache})
                    self.forward_calls += 1
                    cache = _returned_cache(out)
                    _crop(cache, prefix_length)
                    logits = torch.cat([last_prefix_logits, out.logits[0].float()])[len(suffix) :]
                    yield j, k, torch.log_softmax(logits, dim=-1)

    def _letter_ids(self, letters: Sequence[str]) -> list[int]:
        return [self.tokenizer(letter, add_special_tokens=False)["input_ids"][0] for letter in letters]

    def letter_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[dict[str, float]]:
        results: list[dict[str, float]] = [{} for _ in requests]
        for indices in _group_by_video(requests).values():
            group = [requests[i] for i in indices]
            for j, _, logprobs in self._continuations(group, [[[]] for _ in group]):
                request = group[j]
                ids = self._letter_ids(request.letters)
                results[indices[j]] = {letter: float(logprobs[0, t]) for letter, t in zip(request.letters, ids)}
        return results

    def option_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[list[float]]:
        results: list[list[float]] = [[0.0] * len(r.options) for r in requests]
        for indices in _group_by_video(requests).values():
            group = [requests[i] for i in indices]
            option_tokens = [[self.tokenizer(o, add_special_tokens=False)["input_ids"] for o in r.options] for r in group]
            for j, k, logprobs in self._continuations(group, option_tokens):
                tokens = option_tokens[j][k]
                # Row t scores token t of the option (row 0 is the last prompt position).
                score = sum(float(logprobs[t, token]) for t, token in enumerate(tokens))
                results[indices[j]][k] = score
        return results


def _returned_cache(output: Any) -> Any:
    # transformers 5 names the returned cache ``cache``; older releases ``past_key_values``.
    return output["cache"] if "cache" in output else output["past_key_values"]


def _crop(cache: Any, length: int) -> None:
    """Cut a KV cache back to its first ``length`` positions (the shared prefix)."""
    excess = cache.get_seq_length() - length
    if excess > 0:
        cache.crop(-excess)
    if cache.get_seq_length() != length:
        raise RuntimeError("could not crop the KV cache back to the shared video prefix")


@register_model("hf", "hf:<id-or-path>")
def _hf(argument: str, **kwargs: Any) -> VideoLM:
    if not argument:
        raise ValueError("hf: needs a hub id or a local path, e.g. hf:Qwen/Qwen2-VL-2B-Instruct")
    return HFVideoLM.from_pretrained(argument, **kwargs)


@register_model("blind", "blind:<hf spec>")
def _blind(argument: str, **kwargs: Any) -> VideoLM:
    inner = argument[len("hf:") :] if argument.startswith("hf:") else argument
    if not inner:
        raise ValueError("blind: needs an hf spec, e.g. blind:hf:Qwen/Qwen2-VL-2B-Instruct")
    return HFVideoLM.from_pretrained(inner, use_video=False, **kwargs)
