"""``hf:<id-or-path>``: any transformers image-text-to-text model whose processor takes videos.

Loaded by hub id or local path with ``AutoProcessor`` + ``AutoModelForImageTextToText`` (for an
omni checkpoint, Qwen2.5-Omni or Qwen3-Omni-MoE, its text-writing *thinker* alone, from the
``thinker_config`` and ``thinker.*`` weights: the talker only speaks); the families proven by tests are listed in :mod:`tests.support.tiny_families` (and the README).

Every scoring encodes each video once: all queries of a video start with the same chat header and
video block, so that prefix runs through the model once (vision tower included) and each query
continues from its KV cache: likelihood and choice scoring feed the query's text (and an option),
``generate`` feeds it and decodes greedily. A cache of full-attention layers is cropped back after
each query; one that cannot be cropped (linear attention, an overflowed sliding window) is copied
per query. The query's token ids are cut from its full prompt's tokenization, so the model sees
exactly the ids a full forward would. Without a reusable prefix (no video, a tokenizer that merges
across the boundary) each query runs in full, batched generation padded on the left.
``blind:<spec>`` is the same model shown no video (the language prior).

Those fast paths are proven equal to the plain path (a full forward per query, one ``generate``
per query) by tests/temrobbench/evaluation/models/test_model_matrix.py, but a family nobody proved, or a transformers
release that changes how a cache or positions work, could make them differ silently. So every
adapter checks itself at run time (:meth:`HFVideoLM._self_check_scores`,
:meth:`HFVideoLM._self_check_generation`): the first group of queries of a scoring that takes a
fast path is also scored by the plain path (one query's full forward; the whole batch one by one
for ``generate``), and a difference beyond the tolerance switches the adapter to the plain path
for the rest of the run, with one line on stderr. The outcome is :attr:`HFVideoLM.fast_path_check`
(kept by the adapter: one reused for another run of the same scoring is not checked again).
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from temrobbench.utils.hub_checks import check_model_source
from temrobbench.processor_inputs import adds_special_tokens, chat_prompt, token_type_switches, video_kwargs
from temrobbench.prompt import video_chat_messages
from temrobbench.rope_positions import first_text_position, rope_index_function
from temrobbench.evaluation.requests import VideoLMRequest
from temrobbench.evaluation.models.base import VideoLM, check_options
from temrobbench.family_support import check_family


def _group_by_video(requests: Sequence[VideoLMRequest]) -> "OrderedDict[str, list[int]]":
    groups: OrderedDict[str, list[int]] = OrderedDict()
    for index, request in enumerate(requests):
        groups.setdefault(request.video_key or f"#{index}", []).append(index)
    return groups


class HFVideoLM(VideoLM):
    """A transformers video LMM (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        name: str = "hf",
        use_video: bool = True,
        max_new_tokens: int = 16,
        reuse_prefix: bool = True,
        enable_thinking: bool = False,
        self_check: bool = True,
    ) -> None:
        check_family(model, training=False, subject=name)
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.name = name
        self.use_video = use_video
        self.max_new_tokens = max_new_tokens
        self.reuse_prefix = reuse_prefix
        self.enable_thinking = enable_thinking
        #: Compare the fast paths with the plain path once per scoring (see the module docstring).
        self.self_check = self_check
        #: Several queries of a video in one left-padded ``model.generate``; False: one at a time
        #: (the plain path, switched to when batched generation fails its self-check).
        self.batch_generation = True
        #: Per scoring (``likelihood``, ``choice``, ``generate``): the outcome of the self-check
        #: (:meth:`_check_outcome`), made on the first group of queries that took a fast path.
        self.fast_path_check: dict[str, dict[str, Any]] = {}
        # Token types the model needs and its processor returns only when asked (Cosmos3 Edge).
        self._token_type_switches = token_type_switches(processor, model)
        if use_video and getattr(processor, "video_processor", None) is None:
            raise ValueError(f"{name}: its processor ({type(processor).__name__}) takes no videos; TemRobBench needs a video LMM")
        forward_params = inspect.signature(self.model.forward).parameters
        # transformers renamed past_key_values to cache in 5.x; accept either.
        self._cache_kwarg = "cache" if "cache" in forward_params else "past_key_values"
        # The model's own position function (M-RoPE): a continuation gets the full forward's positions.
        self._rope_index = rope_index_function(self.model)
        self.forward_calls = 0  # for tests and benchmarks; the self-check's own are not counted
        #: Set to a list to record the token ids each query feeds the model (tests compare them).
        self.fed_token_ids: list[list[int]] | None = None

    @classmethod
    def from_pretrained(cls, model_id: str, *, use_video: bool = True, dtype: str = "auto", device_map: str | None = "auto", **kwargs: Any) -> "HFVideoLM":
        """Load ``model_id`` (hub id or local path) with its processor."""
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from transformers import AutoConfig

        # A refused family fails here, before its weights are read.
        config = AutoConfig.from_pretrained(model_id)
        check_family(config, training=False, subject=f"hf:{model_id}")
        processor = AutoProcessor.from_pretrained(model_id)
        load_kwargs: dict[str, Any] = {"dtype": dtype}
        if device_map and torch.cuda.is_available():
            if int(os.environ.get("WORLD_SIZE", 1)) > 1:
                # One full copy per rank under accelerate launch / torchrun ("auto" would spread
                # every rank's copy over all GPUs of the node).
                device_map = {"": int(os.environ.get("LOCAL_RANK", 0))}
            load_kwargs["device_map"] = device_map
        thinker = getattr(config, "thinker_config", None)
        if thinker is not None:
            # An omni model (Qwen2.5-Omni, Qwen3-Omni-MoE): its thinker writes the text, from video and
            # audio; the talker only speaks it. Load the thinker alone (the checkpoint's thinker.* weights).
            load_kwargs["config"] = thinker
        model = AutoModelForImageTextToText.from_pretrained(model_id, **load_kwargs)
        prefix = "hf" if use_video else "blind:hf"
        lm = cls(model, processor, name=f"{prefix}:{model_id}", use_video=use_video, **kwargs)
        lm.source = model_id
        return lm

    #: The local folder or Hub id the weights came from (None: a model built in memory).
    source: str | None = None

    @property
    def model_identity(self) -> dict[str, Any]:
        """The name plus what the weights are: a local folder's content fingerprint (a re-save
        with other weights is another model), or a Hub id's revision (None when unknown)."""
        identity: dict[str, Any] = {"name": self.name}
        if self.source is not None:
            from temrobbench.utils.identity import hub_revision, model_folder_fingerprint

            folder = Path(self.source).expanduser()
            if folder.is_dir():
                identity["fingerprint"] = model_folder_fingerprint(folder)
            else:
                identity["revision"] = hub_revision(self.source, "model")
        return identity

    # -- prompts ------------------------------------------------------------------------------

    def _messages(self, request: VideoLMRequest) -> list[dict]:
        return video_chat_messages(request.prompt, request.system_prompt, with_video=self.use_video)

    def chat_text(self, request: VideoLMRequest) -> str:
        # enable_thinking=False by default for thinking templates (see template_switches), and the
        # template's answer header after the generation prompt where it leaves one out (chat_prompt).
        return chat_prompt(self.processor, self._messages(request), self.enable_thinking)

    def _encode(self, texts: list[str], frames: list | None) -> dict:
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True,
                                  "add_special_tokens": adds_special_tokens(self.tokenizer, texts[0])}
        if len(texts) > 1:
            # Batched generation continues every row from its last token: pad on the left, whatever
            # side the checkpoint's tokenizer ships with (Qwen2.5-VL/Qwen3-VL pad right).
            kwargs["padding_side"] = "left"
        if frames is not None:
            kwargs.update(video_kwargs([frames] * len(texts), self.processor), **self._token_type_switches)
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

    def _text_ids(self, text: str) -> list[int]:
        # As the processor tokenizes (its default special tokens), before it expands the video
        # placeholder: a prefix and a full prompt tokenized the same way share their first ids.
        return list(self.tokenizer(text, add_special_tokens=adds_special_tokens(self.tokenizer, text))["input_ids"])

    def _plan_prefix(self, group: Sequence[VideoLMRequest]) -> "_PrefixPlan | None":
        """The shared video prefix of a group of queries and each query's remaining token ids, or
        None when the prefix cannot be reused exactly (then every query runs in full).

        The remaining ids are cut from each *full* prompt's tokenization, never from the suffix
        text tokenized alone: SentencePiece tokenizers (Llama-2: LLaVA-NeXT-Video, Video-LLaVA) would
        add a word-start piece there that the full prompt does not have.
        """
        if not (self.reuse_prefix and self.use_video):
            return None
        texts = [self.chat_text(r) for r in group]
        split = self._split_after_video(texts[0])
        if split is None or not all(t.startswith(texts[0][:split]) for t in texts):
            return None
        prefix_text = texts[0][:split]
        prefix_ids = self._text_ids(prefix_text)
        suffixes = []
        for text in texts:
            ids = self._text_ids(text)
            if ids[: len(prefix_ids)] != prefix_ids:
                return None  # the tokenizer merges across the boundary: no exact reuse
            suffixes.append(ids[len(prefix_ids) :])
        return _PrefixPlan(prefix_text, suffixes)

    def _run_prefix(self, plan: "_PrefixPlan", frames: list) -> tuple["_SharedPrefix", Any]:
        """One forward over the chat header and the video block; returns its cache and last logits."""
        inputs = self._encode([plan.prefix_text], frames)
        output = self.model(**inputs, use_cache=True)
        self.forward_calls += 1
        prefix_ids = inputs["input_ids"][0].tolist()
        return _SharedPrefix(_returned_cache(output), len(prefix_ids), prefix_ids, inputs), output.logits[0, -1:].float()

    def _continue(self, prefix: "_SharedPrefix", cache: Any, ids: list[int], offset: int = 0) -> tuple[Any, Any]:
        """Feed ``ids`` after what ``cache`` holds (the prefix and ``offset`` tokens after it);
        returns (logits rows, cache). The tokens get the positions a full forward gives them
        (:mod:`temrobbench.rope_positions`), not the ones the model would derive from its cache."""
        import torch

        tensor = torch.tensor([ids], device=self.model.device)
        kwargs: dict[str, Any] = {"input_ids": tensor, "use_cache": True, self._cache_kwarg: cache}
        for key in _token_type_keys(prefix.inputs):  # the query's tokens are text: type 0
            kwargs[key] = torch.zeros_like(tensor)
        if self._rope_index is not None:
            if prefix.text_start is None:
                prefix.text_start = first_text_position(self._rope_index, prefix.inputs, ids[0])
            steps = torch.arange(offset, offset + len(ids), device=prefix.text_start.device, dtype=prefix.text_start.dtype)
            kwargs["position_ids"] = prefix.text_start + steps
        output = self.model(**kwargs)
        self.forward_calls += 1
        return output.logits[0].float(), _returned_cache(output)

    def _record(self, ids: list[int]) -> None:
        if self.fed_token_ids is not None:
            self.fed_token_ids.append(list(ids))

    # -- generation ---------------------------------------------------------------------------

    def generate(self, requests: Sequence[VideoLMRequest]) -> list[str]:
        """Greedy answers. With a reusable video prefix, the header and video run once per video
        and each query decodes from a branch of that cache; otherwise one batched, left-padded
        ``model.generate`` per video."""
        import torch

        answers: list[str] = [""] * len(requests)
        for indices in _group_by_video(requests).values():
            group = [requests[i] for i in indices]
            with torch.inference_mode():
                plan = self._plan_prefix(group)
                if plan is None:
                    texts, ids = self._generate_full(group)
                    path = "batched generation" if len(group) > 1 and self.batch_generation else None
                else:
                    texts, ids = self._generate_from_prefix(group, plan)
                    path = "prefix reuse"
                if path is not None and self._check_pending("generate"):
                    texts = self._self_check_generation(group, path, texts, ids)
            for i, text in zip(indices, texts):
                answers[i] = text.strip()
        return answers

    def _generate_full(self, group: Sequence[VideoLMRequest]) -> tuple[list[str], list[list[int]]]:
        """Texts and generated token ids (as ``model.generate`` returned them, padding included):
        one left-padded batch, or one query at a time when :attr:`batch_generation` is off."""
        if len(group) > 1 and not self.batch_generation:
            alone = [self._generate_full([request]) for request in group]
            return [t for texts, _ in alone for t in texts], [i for _, ids in alone for i in ids]
        try:
            inputs = self._encode([self.chat_text(r) for r in group], group[0].frames if self.use_video else None)
        except ValueError as error:
            if len(group) == 1 or not self.use_video:
                raise
            # Some processors take a video with one prompt only (Nemotron 3 Nano Omni's): one query at a time.
            from tqdm.auto import tqdm

            self.batch_generation = False
            tqdm.write(f"{self.name}: its processor refuses several prompts with a video ({error}); generation runs "
                       "one query at a time (batch_generation=False)", file=sys.stderr)
            return self._generate_full(group)
        output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        self.forward_calls += 1
        if self.fed_token_ids is not None:
            for row, mask in zip(inputs["input_ids"], inputs["attention_mask"]):
                self._record(row[mask.bool()].tolist())
        new = output[:, inputs["input_ids"].shape[1] :]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True), new.tolist()

    def _generate_from_prefix(self, group: Sequence[VideoLMRequest], plan: "_PrefixPlan") -> tuple[list[str], list[list[int]]]:
        prefix, _ = self._run_prefix(plan, group[0].frames)
        stop = self._stop_ids()
        texts, generated = [], []
        for suffix in plan.suffixes:
            self._record(prefix.ids + suffix)
            cache = prefix.branch()
            logits, cache = self._continue(prefix, cache, suffix)
            new: list[int] = []
            while True:
                token = int(logits[-1].argmax())
                if token in stop:
                    break
                new.append(token)
                if len(new) >= self.max_new_tokens:
                    break
                logits, cache = self._continue(prefix, cache, [token], offset=len(suffix) + len(new) - 1)
            prefix.release(cache)
            texts.append(self.tokenizer.decode(new, skip_special_tokens=True))
            generated.append(new)
        return texts, generated

    def _stop_ids(self) -> set[int]:
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    # -- scoring ------------------------------------------------------------------------------

    def _continuations(self, group: Sequence[VideoLMRequest], extra: Sequence[Sequence[list[int]]], plan: Any = "plan"):
        """Yield, per request and per extra token list, log-softmax rows over the continuation.

        ``extra[j]`` lists token sequences appended to request j's prompt (``[[]]`` for its
        next-token distribution only). Yields ``(j, k, logprobs)`` where ``logprobs`` has one row
        per position from the last prompt token on. ``plan``: the group's :meth:`_plan_prefix`
        (``"plan"``: make it here; None: the plain path, a full forward per query).
        """
        import torch

        with torch.inference_mode():
            if isinstance(plan, str):
                plan = self._plan_prefix(group)
            if plan is None:
                yield from self._full_continuations(group, extra)
                return
            prefix, last_prefix_logits = self._run_prefix(plan, group[0].frames)
            for j, suffix in enumerate(plan.suffixes):
                for k, tokens in enumerate(extra[j]):
                    ids = suffix + list(tokens)
                    self._record(prefix.ids + ids)
                    if not ids:
                        yield j, k, torch.log_softmax(last_prefix_logits, dim=-1)
                        continue
                    cache = prefix.branch()
                    logits, cache = self._continue(prefix, cache, ids)
                    prefix.release(cache)
                    logits = torch.cat([last_prefix_logits, logits])[len(suffix) :]
                    yield j, k, torch.log_softmax(logits, dim=-1)

    def _full_continuations(self, group: Sequence[VideoLMRequest], extra: Sequence[Sequence[list[int]]]):
        import torch

        for j, request in enumerate(group):
            inputs = self._encode([self.chat_text(request)], request.frames if self.use_video else None)
            ids = inputs.pop("input_ids")
            inputs.pop("attention_mask", None)
            for k, tokens in enumerate(extra[j]):
                full = torch.cat([ids, torch.tensor([tokens], dtype=ids.dtype, device=ids.device)], dim=1)
                call = dict(inputs, input_ids=full, attention_mask=torch.ones_like(full))
                for key in _token_type_keys(call):  # the appended answer tokens are text
                    pad = torch.zeros((1, len(tokens)), dtype=call[key].dtype, device=ids.device)
                    call[key] = torch.cat([call[key], pad], dim=1)
                self._record(full[0].tolist())
                logits = self.model(**call).logits[0, ids.shape[1] - 1 :].float()
                self.forward_calls += 1
                yield j, k, torch.log_softmax(logits, dim=-1)

    def _letter_ids(self, letters: Sequence[str]) -> list[int]:
        return [self.tokenizer(letter, add_special_tokens=False)["input_ids"][0] for letter in letters]

    def letter_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[dict[str, float]]:
        return self._score(requests, "likelihood")

    def option_logprobs(self, requests: Sequence[VideoLMRequest]) -> list[list[float]]:
        return self._score(requests, "choice")

    def _score(self, requests: Sequence[VideoLMRequest], scoring: str) -> list:
        """Per request, its letters' log-probs (``likelihood``) or options' (``choice``), one video
        at a time; the first video scored from a shared prefix is checked against the plain path."""
        import torch

        results: list = [None] * len(requests)
        for indices in _group_by_video(requests).values():
            group = [requests[i] for i in indices]
            with torch.inference_mode():
                plan = self._plan_prefix(group)
            scores = self._score_group(scoring, group, plan)
            if plan is not None and self._check_pending(scoring):
                scores = self._self_check_scores(scoring, group, scores)
            for i, score in zip(indices, scores):
                results[i] = score
        return results

    def _score_group(self, scoring: str, group: Sequence[VideoLMRequest], plan: "_PrefixPlan | None") -> list:
        if scoring == "likelihood":
            letters: list[dict[str, float]] = [{} for _ in group]
            for j, _, logprobs in self._continuations(group, [[[]] for _ in group], plan):
                request = group[j]
                ids = self._letter_ids(request.letters)
                letters[j] = {letter: float(logprobs[0, t]) for letter, t in zip(request.letters, ids)}
            return letters
        options: list[list[float]] = [[0.0] * len(r.options) for r in group]
        option_tokens = [[self.tokenizer(o, add_special_tokens=False)["input_ids"] for o in r.options] for r in group]
        for j, k, logprobs in self._continuations(group, option_tokens, plan):
            tokens = option_tokens[j][k]
            # Row t scores token t of the option (row 0 is the last prompt position).
            options[j][k] = sum(float(logprobs[t, token]) for t, token in enumerate(tokens))
        return options

    # -- run-time self-check ------------------------------------------------------------------

    #: Allowed |fast - plain| on a log-prob, times max(1, |plain|): float32 (and wider) weights,
    #: then half precision (bf16/fp16), whose kernels round differently for other shapes.
    CHECK_TOLERANCE = {"float32": 1e-4, "half": 2e-2}

    def _check_pending(self, scoring: str) -> bool:
        return self.self_check and scoring not in self.fast_path_check

    def _tolerance(self) -> tuple[str, float]:
        import torch

        dtype = getattr(self.model, "dtype", None)
        half = dtype in (torch.float16, torch.bfloat16)
        return str(dtype).removeprefix("torch."), self.CHECK_TOLERANCE["half" if half else "float32"]

    def _plain_aside(self, run: Any) -> tuple[Any, int, float]:
        """``run()`` (the plain path) kept out of :attr:`forward_calls` and :attr:`fed_token_ids`,
        which describe the scoring itself; returns its result, its forwards and its seconds."""
        calls, fed = self.forward_calls, self.fed_token_ids
        self.fed_token_ids = None
        start = time.perf_counter()
        try:
            result = run()
        finally:
            spent = self.forward_calls - calls
            self.forward_calls, self.fed_token_ids = calls, fed
        return result, spent, time.perf_counter() - start

    def _self_check_scores(self, scoring: str, group: Sequence[VideoLMRequest], fast: list) -> list:
        """Compare the prefix-reused scores of ``group``'s first query with its full forward (one
        extra forward per run and scoring). Within the tolerance: ``fast`` as it is. Beyond it:
        prefix reuse is switched off and the group is scored again by the plain path."""
        plain, calls, seconds = self._plain_aside(lambda: self._score_group(scoring, group[:1], None))
        request = group[0]
        if scoring == "likelihood":
            a, b = [fast[0].get(x) for x in request.letters], [plain[0].get(x) for x in request.letters]
            compared = "the first query's letter log-probs"
        else:
            a, b = list(fast[0]), list(plain[0])
            compared = "the first query's option log-probs"
        dtype, tolerance = self._tolerance()
        worst, passed = _largest_difference(a, b, tolerance)
        outcome = self._check_outcome(scoring, group, "prefix reuse", compared, passed, worst, dtype, tolerance, calls, seconds)
        if passed:
            return fast
        self._switch_to_plain(outcome, ["reuse_prefix"], f"{compared} differ from a full forward by {_number(worst)} "
                                                         f"(tolerance {tolerance:g} x max(1, |log-prob|), {dtype})")
        rest = self._score_group(scoring, group[1:], None) if len(group) > 1 else []
        return plain + rest

    def _self_check_generation(self, group: Sequence[VideoLMRequest], path: str, texts: list[str], ids: list[list[int]]) -> list[str]:
        """Compare the first batch generated by a fast path (``path``: prefix reuse or one
        left-padded batch) with one plain ``model.generate`` per query: the token ids (up to the
        first stop token) and the texts must be the same. Otherwise prefix reuse and batching are
        switched off, and the plain answers are returned."""
        def one_by_one():
            alone = [self._generate_full([request]) for request in group]
            return [t[0] for t, _ in alone], [i[0] for _, i in alone]

        (plain_texts, plain_ids), calls, seconds = self._plain_aside(one_by_one)
        stop = self._stop_ids()
        differing = [j for j in range(len(group))
                     if _until_stop(ids[j], stop) != _until_stop(plain_ids[j], stop) or texts[j] != plain_texts[j]]
        dtype, _ = self._tolerance()
        compared = f"the first batch's generated token ids ({len(group)} queries)"
        outcome = self._check_outcome("generate", group, path, compared, not differing, None, dtype, 0, calls, seconds)
        outcome["differing_queries"] = len(differing)
        if not differing:
            return texts
        j = differing[0]
        fast_ids, plain_cut = _until_stop(ids[j], stop), _until_stop(plain_ids[j], stop)
        at = next((t for t, (x, y) in enumerate(zip(fast_ids, plain_cut)) if x != y), min(len(fast_ids), len(plain_cut)))
        outcome["first_difference"] = {"query": j, "token": at, "fast": fast_ids[at : at + 4], "plain": plain_cut[at : at + 4]}
        self._switch_to_plain(outcome, ["reuse_prefix", "batch_generation"],
                              f"{path} generated other tokens than one generate per query in {len(differing)} of {len(group)} "
                              f"queries (query {j}: from token {at}, {fast_ids[at:at + 4]} vs {plain_cut[at:at + 4]})")
        return plain_texts

    def _check_outcome(self, scoring: str, group: Sequence[VideoLMRequest], path: str, compared: str, passed: bool,
                       worst: float | None, dtype: str, tolerance: float, calls: int, seconds: float) -> dict[str, Any]:
        """Record (in :attr:`fast_path_check`) and return one self-check's outcome: what was
        compared, whether it passed, the largest difference, what was switched off (set by
        :meth:`_switch_to_plain`), and its cost (forwards or generate calls, seconds)."""
        outcome: dict[str, Any] = {
            "checked": True, "passed": bool(passed), "scoring": scoring, "model_class": type(self.model).__name__, "dtype": dtype,
            "path": path, "compared": compared, "video_key": group[0].video_key,
            "max_difference": None if worst is None or not math.isfinite(worst) else worst,
            "tolerance": tolerance, "switched_off": [], "forward_calls": calls, "seconds": round(seconds, 6),
        }
        self.fast_path_check[scoring] = outcome
        return outcome

    def _switch_to_plain(self, outcome: dict[str, Any], switches: list[str], difference: str) -> None:
        """Turn the fast paths off for the rest of this adapter's life (the run) and say so in one line."""
        from tqdm.auto import tqdm

        self.reuse_prefix = False
        if "batch_generation" in switches:
            self.batch_generation = False
        outcome["switched_off"] = list(switches)
        tqdm.write(f"{self.name}: the fast path failed its self-check on {outcome['model_class']} ({outcome['scoring']} scoring, "
                   f"video {outcome['video_key']}): {difference}; the rest of the run takes the plain path "
                   f"({', '.join(f'{s}=False' for s in switches)})", file=sys.stderr)


@dataclass
class _PrefixPlan:
    prefix_text: str
    suffixes: list[list[int]]  # per query: its prompt ids after the prefix


@dataclass
class _SharedPrefix:
    """The KV cache of a video prefix, branched for each query.

    A cache made only of full-attention layers is cropped back after each query (no copy).
    Others cannot be cropped (Qwen3.5's linear-attention states, sliding-window layers whose
    window the video prefix overflows, as Gemma's does with 32 real frames): each query then
    continues from a copy of the prefix state, taken before anything is appended to it.
    """

    cache: Any
    length: int
    ids: list[int]
    inputs: dict
    #: Where a full forward places the first text token after the prefix (M-RoPE models; set on first use).
    text_start: Any = None

    def __post_init__(self) -> None:
        from transformers.cache_utils import DynamicLayer

        layers = getattr(self.cache, "layers", None)
        self.croppable = bool(layers) and all(type(layer) is DynamicLayer for layer in layers)

    def branch(self) -> Any:
        return self.cache if self.croppable else copy.deepcopy(self.cache)

    def release(self, cache: Any) -> None:
        if self.croppable:
            _crop(cache, self.length)


def _largest_difference(fast: Sequence[float | None], plain: Sequence[float | None], tolerance: float) -> tuple[float, bool]:
    """(largest |fast - plain|, whether each is within ``tolerance`` x max(1, |plain|)).

    >>> worst, passed = _largest_difference([-1.0, -20.0], [-1.00005, -20.001], 1e-4)
    >>> round(worst, 6), passed
    (0.001, True)
    >>> _largest_difference([-1.0], [-1.01], 1e-4)[1]
    False
    """
    worst, passed = 0.0, len(fast) == len(plain)
    for a, b in zip(fast, plain):
        if a == b:  # -inf on both sides included
            continue
        difference = abs(a - b) if a is not None and b is not None and math.isfinite(a) and math.isfinite(b) else math.inf
        worst = max(worst, difference)
        if not difference <= tolerance * max(1.0, abs(b)):
            passed = False
    return worst, passed


def _until_stop(ids: Sequence[int], stop: set[int]) -> list[int]:
    """Generated ids up to the first stop token: a batch pads its finished rows after it."""
    cut = []
    for token in ids:
        if token in stop:
            break
        cut.append(token)
    return cut


def _number(value: float) -> str:
    return f"{value:.3g}"


def _token_type_keys(inputs: dict) -> list[str]:
    """Per-token type inputs the processor made and the model took for the prompt (Qwen-VL's
    ``mm_token_type_ids`` for M-RoPE, ERNIE-4.5-VL's ``moe_mm_token_type_ids`` for expert routing,
    ``token_type_ids``): tokens appended after the prompt are text and need them too."""
    return [key for key in inputs if key.endswith("token_type_ids")]


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


#: Options ``--model-args`` can set on ``hf:``/``blind:`` (loading, then the adapter's own).
HF_OPTIONS = ("dtype", "device_map", "max_new_tokens", "reuse_prefix", "enable_thinking", "self_check")


def load_hf(argument: str, **options: Any) -> VideoLM:
    """``hf:<id-or-path>``."""
    if not argument:
        raise ValueError("hf: needs a hub id or a local path, e.g. hf:Qwen/Qwen2-VL-2B-Instruct")
    check_options("hf:", options, HF_OPTIONS)
    check_model_source(argument)  # "no such folder" / Hub unreachable in one line, before any download
    return HFVideoLM.from_pretrained(argument, **options)


def load_blind(argument: str, **options: Any) -> VideoLM:
    """``blind:<hf spec>``: the same model shown no video."""
    inner = argument[len("hf:") :] if argument.startswith("hf:") else argument
    if not inner:
        raise ValueError("blind: needs an hf spec, e.g. blind:hf:Qwen/Qwen2-VL-2B-Instruct")
    check_options("blind:", options, HF_OPTIONS)
    check_model_source(inner, f"blind:{argument}")
    return HFVideoLM.from_pretrained(inner, use_video=False, **options)
