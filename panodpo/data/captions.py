"""Video captions: the first step of the paper's misleading questions q' (appendix B.2: "We first
generate captions for each video, and then generate perturbation texts based on the captions,
questions, and correct answers").

A captioner is a video LMM given as a spec, the same specs ``temrobbench eval`` takes:

- ``hf:<id-or-path>``: a transformers video LMM (the evaluation's ``HFVideoLM``: its chat template,
  the video as content, greedy decoding);
- ``openai:<model>[@base_url]``: GPT-4o or any OpenAI-compatible server (the evaluation's
  ``OpenAIVideoLM``: the sampled frames as JPEG images, retries with backoff on 429/5xx/time-outs,
  a refused key stops the run at once).

Both come from :func:`temrobbench.evaluation.resolve_model`, as ``temrobbench eval`` loads them.

Each *distinct* video is captioned once (ShareGPTVideo's rows ``<video>_<n>`` share a video),
from ``num_frames`` frames sampled uniformly, with :data:`CAPTION_PROMPT`. Captions are cached in a
jsonl (:class:`CaptionCache`), one line per video, written and fsynced as each caption arrives, so
a killed run resumes asking only for the videos still missing. Every line carries the captioner's
identity (:meth:`VideoCaptioner.identity`: model name and revision or content fingerprint, prompt,
frames, token budget); a line made by another captioner is not reused.

The prompt: LLaVA-Hound (the ShareGPTVideo authors' code, ``run_inference_video_caption.py``)
captions with one of 19 "detailed description" instructions drawn at random per video, 8 frames,
greedy decoding, at most 512 new tokens. Here one of them is fixed (a rerun asks the same thing),
followed by one sentence asking for the order of events, because q' is about temporal order.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

from temrobbench.utils.errors import EXIT_RUNTIME, UserError
from temrobbench.utils.files import JsonlAppender, read_jsonl_lines, truncate_torn_tail
from temrobbench.utils.redaction import redact

#: LLaVA-Hound's "Provide an exhaustive description of the video content." (one of its detail
#: templates) plus the order of events, which the misleading questions contradict.
CAPTION_PROMPT = "Provide an exhaustive description of the video content. Describe the actions and events in the order they happen."
#: LLaVA-Hound's caption budget (``max_new_tokens=512``) and frame count (8, sampled uniformly).
CAPTION_MAX_TOKENS = 512
CAPTION_FRAMES = 8
CAPTIONER_KINDS = ("hf", "openai")


class CaptionFailed(RuntimeError):
    """One video got no caption: its rows are skipped (``caption_failed``), counted and named.
    Redacted: a server's error text may quote the key."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


def parse_captioner(spec: str) -> tuple[str, str]:
    """``(kind, argument)`` of a captioner spec; ``("none", "")`` for ``none``.

    >>> parse_captioner("openai:gpt-4o@http://localhost:8000/v1")
    ('openai', 'gpt-4o@http://localhost:8000/v1')
    >>> parse_captioner("hf:Qwen/Qwen2-VL-7B-Instruct")
    ('hf', 'Qwen/Qwen2-VL-7B-Instruct')
    """
    if spec == "none":
        return "none", ""
    kind, sep, argument = spec.partition(":")
    if kind not in CAPTIONER_KINDS or not sep or not argument or (kind == "openai" and not argument.partition("@")[0]):
        raise ValueError(f"not a captioner spec: {spec!r}; give hf:<id-or-path>, openai:<model>[@base_url] or none")
    return kind, argument


class VideoCaptioner:
    """Captions videos with a video LMM spec (see the module docstring).

    >>> captioner = VideoCaptioner("openai:gpt-4o@http://127.0.0.1:9/v1")  # no request is sent here
    >>> captioner.identity["name"], captioner.identity["num_frames"], captioner.identity["base_url"]
    ('openai:gpt-4o', 8, 'http://127.0.0.1:9/v1')
    """

    def __init__(self, spec: str, *, num_frames: int = CAPTION_FRAMES, max_new_tokens: int = CAPTION_MAX_TOKENS,
                 frames_fps: float = 1.0, max_concurrency: int = 8, max_retries: int = 5, initial_backoff: float = 1.0,
                 dtype: str = "auto") -> None:
        self.kind, self.argument = parse_captioner(spec)
        if self.kind == "none":
            raise ValueError("captioner 'none' captions nothing: make no VideoCaptioner")
        self.spec, self.num_frames, self.max_new_tokens, self.frames_fps = spec, num_frames, max_new_tokens, frames_fps
        self.max_concurrency, self.max_retries, self.dtype = max_concurrency, max_retries, dtype
        self._generations = 0
        self._lm: Any = None
        if self.kind == "openai":
            from temrobbench.evaluation import resolve_model

            # Cheap (no request): the client only. Temperature 0: a rerun asks for the same caption.
            self._lm = resolve_model(spec, max_new_tokens=max_new_tokens, temperature=0.0, max_concurrency=1, max_retries=max_retries,
                                     initial_backoff=initial_backoff)
        self._identity = self._make_identity()

    def _make_identity(self) -> dict[str, Any]:
        """What produced a caption, computed without loading the model (a rerun with every caption
        cached loads nothing): the model name, its weights' revision (Hub) or content fingerprint
        (local folder) or its server, and the settings that change the caption."""
        if self.kind == "openai":
            identity: dict[str, Any] = dict(self._lm.model_identity)
        else:
            from temrobbench.utils.identity import hub_revision, model_folder_fingerprint

            identity = {"name": f"hf:{self.argument}"}
            folder = Path(self.argument).expanduser()
            if folder.is_dir():
                identity["fingerprint"] = model_folder_fingerprint(folder)
            else:
                identity["revision"] = hub_revision(self.argument, "model")
        identity.update(prompt=CAPTION_PROMPT, num_frames=self.num_frames, max_new_tokens=self.max_new_tokens,
                        frames_fps=self.frames_fps, decoding="greedy")
        return identity

    @property
    def identity(self) -> dict[str, Any]:
        """See :meth:`_make_identity`; recorded in every cache line and in ``prepare_report.json``."""
        return dict(self._identity)

    @property
    def requests(self) -> int:
        """Caption requests so far: HTTP requests for openai (retries included), generations for hf."""
        sent = getattr(self._lm, "requests_sent", None) if self.kind == "openai" else None
        return self._generations if sent is None else int(sent)

    @property
    def name(self) -> str:
        return str(self._identity["name"])

    def _load(self) -> Any:
        if self._lm is None:
            from temrobbench.evaluation import resolve_model
            from temrobbench.utils.hub_checks import check_model_source

            check_model_source(self.argument, f"--captioner {self.spec}")
            try:
                # One request per video: no shared prefix to reuse (and no self-check to pay for).
                self._lm = resolve_model(self.spec, dtype=self.dtype, max_new_tokens=self.max_new_tokens, reuse_prefix=False)
            except UserError:
                raise
            except Exception as err:  # noqa: BLE001 - one line for the user, the model is theirs to fix
                raise UserError(f"could not load the captioner ({type(err).__name__}: {redact(str(err))[:200]})", f"--captioner {self.spec}",
                                "give a transformers video LMM (hf:<id-or-path>) or openai:<model>") from None
        return self._lm

    def _request(self, key: str, video: str, media_root: str | os.PathLike) -> Any:
        from temrobbench.evaluation import VideoLMRequest

        from panodpo.media import load_frames

        try:
            frames = load_frames(video, self.num_frames, media_root, frames_fps=self.frames_fps)
        except (OSError, ValueError, RuntimeError) as err:
            raise CaptionFailed(f"video {key!r}: could not read its frames: {err}") from None
        return VideoLMRequest(item_id=key, video_id=key, perturbation="caption", category="caption", setting="clean", round=0,
                              frames=frames, prompt=CAPTION_PROMPT, options=(), letters=(), video_key=key)

    def caption(self, key: str, video: str, media_root: str | os.PathLike) -> str:
        """The caption of one video (``video`` relative to ``media_root``, named ``key`` in
        messages). Raises :class:`CaptionFailed` for this video only, and
        :class:`~temrobbench.utils.errors.UserError` when no video can be captioned (a refused
        key, an unknown model, an unreachable server): the run stops there."""
        lm = self._load()
        request = self._request(key, video, media_root)
        attempts = self.max_retries + 1 if self.kind == "openai" else 1  # greedy hf: the same output again
        for _ in range(attempts):
            self._generations += 1
            try:
                text = lm.generate([request])[0]
            except UserError:
                raise  # a refused key (APIKeyRefusedError): every later request would be refused too
            except Exception as err:  # noqa: BLE001 - classified; anything else (a bug) is raised as it is
                problem = self._classify(key, err)
                if problem is None:
                    raise
                raise problem from None
            text = str(text).strip()
            if text:
                return text
        raise CaptionFailed(f"video {key!r}: the captioner returned an empty caption ({attempts} attempt{'s' if attempts > 1 else ''})")

    def _classify(self, key: str, error: Exception) -> Exception | None:
        """What a failed generation means: the run stops (UserError), this video fails
        (:class:`CaptionFailed`), or None (not a known failure: raised as it is)."""
        if self.kind == "openai":
            import openai

            if isinstance(error, openai.NotFoundError):
                return UserError(f"the captioner's server has no such model or URL ({type(error).__name__}, HTTP 404)",
                                 f"--captioner {self.spec}", "fix the model name or the base URL; captions so far are kept")
            if isinstance(error, openai.APIConnectionError):
                # After the adapter's retries: the server is down, every other video would fail the same way.
                return UserError(f"cannot reach the captioner's server ({type(error).__name__})", f"--captioner {self.spec}",
                                 "start the server or fix the URL, then rerun (captions so far are kept)", EXIT_RUNTIME)
            if isinstance(error, openai.OpenAIError):
                return CaptionFailed(f"video {key!r}: {type(error).__name__}: {error}")
        if isinstance(error, (RuntimeError, ValueError)):  # a generation that fails on this video
            return CaptionFailed(f"video {key!r}: {type(error).__name__}: {error}")
        return None

    def caption_videos(self, videos: Sequence[tuple[str, str]], media_root: str | os.PathLike,
                       on_result: Callable[[str, str | None, str | None], None]) -> None:
        """Caption each ``(key, video)``; ``on_result(key, caption, error)`` is called (one thread
        at a time) as each finishes. openai: up to ``max_concurrency`` requests in flight; hf: one
        video at a time. A :class:`UserError` stops the run after the requests in flight."""
        lock, stop = threading.Lock(), threading.Event()
        fatal: list[UserError] = []

        def one(item: tuple[str, str]) -> None:
            if stop.is_set():
                return
            key, video = item
            try:
                result, error = self.caption(key, video, media_root), None
            except CaptionFailed as err:
                result, error = None, str(err)
            except UserError as err:
                with lock:
                    fatal.append(err)
                stop.set()
                return
            with lock:
                on_result(key, result, error)

        if self.kind == "hf":
            self._load()  # a model that cannot load stops here, before the first video
            for item in videos:
                one(item)
        else:
            with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(videos) or 1))) as pool:
                list(pool.map(one, videos))
        if fatal:
            raise fatal[0]


class CaptionCache:
    """A jsonl of ``{video, caption, captioner}``, one line per captioned video, appended and
    fsynced as each arrives (a torn last line, left by a kill, is cut off; other damaged lines
    are skipped). Only lines whose ``captioner`` equals ``identity`` are used: a caption made by
    another model or with other settings is asked again, never mixed in.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "captions.jsonl"
    >>> cache = CaptionCache(path, {"name": "openai:gpt-4o"})
    >>> cache.add("a.mp4", "A man cuts bread.")
    >>> CaptionCache(path, {"name": "openai:gpt-4o"}).values, CaptionCache(path, {"name": "hf:other"}).values
    ({'a.mp4': 'A man cuts bread.'}, {})
    """

    def __init__(self, path: str | os.PathLike, identity: dict[str, Any]) -> None:
        self.path, self.identity = Path(path), json.loads(json.dumps(identity))  # as a line reads back
        self.values: dict[str, str] = {}
        truncate_torn_tail(self.path)
        for entry in read_jsonl_lines(self.path):
            if (isinstance(entry, dict) and isinstance(entry.get("captioner"), dict) and _same_captioner(entry["captioner"], self.identity) and isinstance(entry.get("video"), str)
                    and isinstance(entry.get("caption"), str) and entry["caption"].strip()):
                self.values.setdefault(entry["video"], entry["caption"])

    def add(self, video: str, caption: str) -> None:
        with JsonlAppender(self.path) as out:
            out.write({"video": video, "caption": caption, "captioner": self.identity})
        self.values[video] = caption



def _same_captioner(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal identities, ``base_url`` aside (recorded, not compared)."""
    return {k: v for k, v in a.items() if k != "base_url"} == {k: v for k, v in b.items() if k != "base_url"}
