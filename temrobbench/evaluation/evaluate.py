"""``evaluate_temporal_robustness``: run the protocol on a model, stream records, compute metrics."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from temrobbench.utils.errors import environment_error
from temrobbench.prompt import TRUST_THE_VIDEO_SYSTEM_PROMPT
from temrobbench.utils.redaction import redact
from temrobbench.evaluation.answers.parsing import parse_answer
from temrobbench.evaluation.data import benchmark_identity, load_items
from temrobbench.evaluation.frames import decode_frames
from temrobbench.evaluation.models import SCORING_MODES, VideoLM, resolve_model
from temrobbench.evaluation.models.base import FatalModelError
from temrobbench.evaluation.answers.picking import UnscorableResponseError, pick_letter, pick_option
from temrobbench.evaluation.protocol import NUM_OPTIONS, PlannedQuery, plan_item, render_query, video_key
from temrobbench.evaluation.records import RecordWriter, read_all_records, record_key, repair_records
from temrobbench.evaluation.report.tables import EvalReport
from temrobbench.evaluation.requests import VideoLMRequest
from temrobbench.evaluation.run_file import check_run, discard_results, owned_files, record_fast_path_check, write_run


def _distributed_rank() -> tuple[int, int]:
    """(rank, world size) under ``accelerate launch`` / torchrun, else (0, 1)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class _RankBarrier:
    """Waits for every rank before rank 0 merges the per-rank record files.

    Under ``accelerate launch`` / torchrun nobody has created a process group yet, so one is made
    here (gloo: CPU-only, works beside any GPU backend) with a long timeout, since ranks may finish
    their shards hours apart. Without a rendezvous address (e.g. RANK/WORLD_SIZE set by hand) there
    is nothing to wait for and the barrier is a no-op.
    """

    def __init__(self, world: int) -> None:
        self.group = None
        self.created = False
        if world <= 1 or "MASTER_ADDR" not in os.environ:
            return
        from datetime import timedelta

        import torch.distributed as dist

        timeout = timedelta(hours=48)
        if not dist.is_initialized():
            dist.init_process_group(backend="gloo", timeout=timeout)
            self.created = True
        else:
            # The user's group may be NCCL with a short timeout: wait on a gloo group of our own.
            self.group = dist.new_group(backend="gloo", timeout=timeout)
        self.dist = dist

    def wait(self) -> None:
        if self.created or self.group is not None:
            self.dist.barrier(group=self.group)

    def close(self) -> None:
        if self.created:
            self.dist.destroy_process_group()
            self.created = False


def _record(query: PlannedQuery, request: VideoLMRequest, rendered, model: VideoLM, scoring: str) -> dict[str, Any]:
    row = query.row
    return {
        "item_id": row["id"],
        "video_id": row["video_id"],
        "perturbation": row["perturbation"],
        "category": row["category"],
        "setting": query.setting,
        "round": query.round,
        "order": list(rendered.order),
        "correct_letter": rendered.letter_of_role("correct"),
        "shortcut_letter": rendered.letter_of_role("shortcut"),
        "model": model.name,
        "scoring": scoring,
        "system_prompt": request.system_prompt is not None,
    }


def _answer(model: VideoLM, scoring: str, requests: list[VideoLMRequest]) -> list[dict[str, Any]]:
    """Per request: the chosen letter (or None), the raw output, and scores where the mode gives them."""
    if scoring == "generate":
        results = []
        for r, text in zip(requests, model.generate(requests)):
            # An adapter may attach ``details`` (finish reason, token usage, requests) to its output.
            details = dict(getattr(text, "details", None) or {})
            choice = parse_answer(str(text), r.letters, r.options)
            truncated = details.get("finish_reason") == "length"
            reason = None if choice else ("truncated: the token budget ran out before an answer" if truncated else "no option named in the output")
            results.append({"output": str(text), "choice": choice, **({"invalid_reason": reason} if reason else {}), **details, **({"truncated": True} if truncated else {})})
        return results
    # Scores become an answer by one shared rule (picking.py): no information or a tie is invalid.
    if scoring == "likelihood":
        results = []
        for request, logprobs in zip(requests, model.letter_logprobs(requests)):
            pick = pick_letter(logprobs, request.letters)
            details = dict(getattr(logprobs, "details", None) or {})
            results.append({"output": pick.choice, "choice": pick.choice, "letter_logprobs": dict(logprobs), **({"invalid_reason": pick.reason} if pick.reason else {}), **details})
        return results
    results = []
    for request, scores in zip(requests, model.option_logprobs(requests)):
        pick = pick_option(scores, request.letters)
        output = request.options[request.letters.index(pick.choice)] if pick.choice else None
        results.append({"output": output, "choice": pick.choice, "option_scores": scores, **({"invalid_reason": pick.reason} if pick.reason else {})})
    return results


def evaluate_temporal_robustness(
    model: Any,
    data: Any,
    *,
    num_frames: int = 32,
    rounds: int = 4,
    scoring: str = "generate",
    output_dir: str | os.PathLike | None = None,
    batch_size: int = 16,
    limit: int | None = None,
    system_prompt: str | bool | None = None,
    configs: Sequence[str] = ("intrinsic", "extrinsic"),
    progress: bool = True,
    model_kwargs: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> EvalReport:
    """Evaluate ``model`` on TemRobBench ``data`` and return an :class:`EvalReport`.

    ``model``: a spec (``hf:<id-or-path>``, ``openai:<model>[@base_url]``, ``random``,
    ``blind:<hf spec>``), a :class:`VideoLM`, or a callable ``fn(request) -> str``.
    ``data``: a built benchmark folder, a hub id, or ``{config: {split: Dataset}}``.
    ``scoring``: ``generate`` (parse the answer text), ``likelihood`` (the option letters'
    log-probabilities after the prompt; records the shortcut margin) or ``choice`` (the
    log-likelihood of each option's text as the answer, highest wins, as lm-evaluation-harness
    scores multiple choice). ``system_prompt=True`` uses the trust-the-video prompt (the paper's
    "Prompt" baseline). ``rounds``: at most the 4 options (more would repeat rotations). With
    ``output_dir``, records stream to ``records.jsonl`` and a rerun resumes; metrics, tables and
    plots are saved beside them. The folder belongs to one run: ``run.json`` records the
    benchmark's identity (a digest of the items evaluated), the model's and the settings, and a
    rerun with any of them changed raises :class:`~temrobbench.evaluation.run_file.RunMismatchError`
    (a ValueError) unless ``overwrite=True``, which discards the folder's results and starts over.
    ``fast_path_check.json`` beside it records each session's run-time self-check of the ``hf:``
    adapter's fast paths (not part of the run's identity: a resumed run is never refused over it).

    >>> import tempfile, os
    >>> from temrobbench.source.synth import SynthConfig, synthesize_coin
    >>> from temrobbench.build.pipeline import BuildConfig, build_benchmark
    >>> src = tempfile.mkdtemp()
    >>> coin = synthesize_coin(src, SynthConfig(num_videos=2), progress=False)
    >>> bench = build_benchmark(coin, os.path.join(src, "videos"), os.path.join(src, "b"),
    ...                         BuildConfig(num_videos=2), progress=False).out_dir
    >>> report = evaluate_temporal_robustness("random", bench, num_frames=4, progress=False)
    >>> report.metrics["intrinsic"]["n"], report.metrics["extrinsic"]["n"]
    (2, 4)
    """
    if scoring not in SCORING_MODES:
        raise ValueError(f"scoring must be one of {', '.join(SCORING_MODES)}, not {scoring!r}")
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    if rounds > NUM_OPTIONS:
        raise ValueError(f"rounds must be at most {NUM_OPTIONS}, the number of options (round r and r + {NUM_OPTIONS} show the same order), not {rounds}")
    lm = resolve_model(model, **(model_kwargs or {}))
    if scoring not in lm.scoring_modes:
        raise ValueError(f"{lm.name} supports scoring {', '.join(lm.scoring_modes)}, not {scoring!r}")
    system = TRUST_THE_VIDEO_SYSTEM_PROMPT if system_prompt is True else (system_prompt or None)

    items = load_items(data, tuple(configs), limit)
    fewest = min((len(row["options"]) for pair in items for row in pair), default=NUM_OPTIONS)
    if rounds > fewest:
        raise ValueError(f"rounds must be at most {fewest}, the number of options of the benchmark's items, not {rounds}")
    queries = [q for clean, adversarial in items for q in plan_item(clean, adversarial, rounds)]
    rank, world = _distributed_rank()
    out = Path(output_dir) if output_dir is not None else None
    records_path = None if out is None else out / ("records.jsonl" if world == 1 else f"records.rank{rank}.jsonl")
    barrier = _RankBarrier(world) if out is not None else None
    try:
        if out is not None:
            settings = {"model": lm.identity or lm.name, "scoring": scoring, "num_frames": num_frames, "rounds": rounds, "system_prompt": system is not None}
            if getattr(lm, "run_options", None):  # e.g. an API model's token budget: a resumed run cannot mix two
                settings["model_options"] = lm.run_options
            settings["benchmark"] = benchmark_identity(items, configs, limit, source=data)
            settings["model_identity"] = lm.model_identity
            _prepare_folder(out, settings, overwrite, barrier, rank, world)
        # Resume from every record file of the folder, so a rerun under another world size (or a
        # single process after a sharded run) neither repeats nor loses queries.
        done = {record_key(r): r for r in (read_all_records(out) if out is not None else []) if not r.get("error")}
        records: list[dict[str, Any]] = list(done.values())

        groups: OrderedDict[str, list[PlannedQuery]] = OrderedDict()
        for query in queries:
            groups.setdefault(video_key(query.row), []).append(query)
        # Under accelerate/torchrun each rank takes every world-th video; records merge by key.
        group_list = [g for i, g in enumerate(groups.values()) if i % world == rank]
        pending = [[q for q in g if q.key not in done] for g in group_list]
        pending = [g for g in pending if g]
        writer = RecordWriter(records_path) if records_path else None
        bar = tqdm(total=sum(len(g) for g in pending), desc=f"eval {lm.name}", unit="query", disable=not progress)
        check = _FastPathCheckRecord(lm, scoring, out, rank, world) if out is not None else None
        try:
            for group in pending:
                records += _run_group(lm, group, num_frames, scoring, system, batch_size, writer, bar)
                if check:
                    check.after_group()
        finally:
            bar.close()
            if writer:
                writer.close()
            if check:
                check.close()

        if out is not None and world > 1:
            barrier.wait()
            if rank != 0:
                return EvalReport.from_records(records, model=lm.name, scoring=scoring, rounds=rounds)
            records = read_all_records(out)
    finally:
        if barrier is not None:
            barrier.close()
    report = EvalReport.from_records(records, model=lm.name, scoring=scoring, rounds=rounds)
    if out is not None:
        report.save(out)
    return report


def _prepare_folder(out: Path, settings: dict[str, Any], overwrite: bool, barrier: "_RankBarrier", rank: int, world: int) -> None:
    """Check ``run.json`` (refuse another run, or start over), record this run's, and move
    damaged record lines aside. Under a launcher every rank reads the old ``run.json`` before any
    rank changes the folder, so all ranks decide alike, and all wait until the folder is ready
    before reading records."""
    barrier.wait()
    start_over = check_run(out, settings, overwrite)
    barrier.wait()
    out.mkdir(parents=True, exist_ok=True)
    if start_over:
        discard_results(out, rank, world)
    write_run(out, settings)
    for path in owned_files(out, ("records.jsonl", "records.rank*.jsonl"), rank, world):
        repair_records(path)
    barrier.wait()


class _FastPathCheckRecord:
    """Records, once per session, the outcome of an adapter's fast-path self-check (the ``hf:``
    adapter's ``fast_path_check``: per scoring, made on the first video that took a fast path) in
    ``fast_path_check.json`` beside ``run.json`` (see :mod:`~temrobbench.evaluation.run_file` for why
    not inside it). Written as soon as the check is made, so a run killed later still says whether
    its records came from a checked fast path; a session that took no fast path records that."""

    def __init__(self, lm: VideoLM, scoring: str, out: Path, rank: int, world: int) -> None:
        self.lm, self.scoring, self.out, self.rank, self.world = lm, scoring, out, rank, world
        self.active = isinstance(getattr(lm, "fast_path_check", None), dict)
        self.groups, self.done = 0, False

    def after_group(self) -> None:
        self.groups += 1
        if self.active and not self.done:
            outcome = self.lm.fast_path_check.get(self.scoring)
            if outcome is not None:
                self._write(outcome)

    def close(self) -> None:
        if self.active and not self.done and self.groups:
            reason = ("no query took a fast path: every query ran the plain path" if getattr(self.lm, "self_check", True)
                      else "the self-check is off (self_check=False)")
            self._write({"checked": False, "scoring": self.scoring, "reason": reason})

    def _write(self, outcome: dict[str, Any]) -> None:
        record_fast_path_check(self.out, outcome, self.rank, self.world)
        self.done = True


def _failure(err: BaseException) -> str:
    """A failed query's error text, as recorded: secrets redacted (a server may quote the key)."""
    return redact(f"{type(err).__name__}: {err}")


def _run_group(lm: VideoLM, group: list[PlannedQuery], num_frames: int, scoring: str, system: str | None, batch_size: int, writer: RecordWriter | None, bar) -> list[dict]:
    """All pending queries of one video: frames decoded once, answers recorded one by one."""
    renders = [render_query(q) for q in group]
    try:
        frames = decode_frames(group[0].row["video"], num_frames) if num_frames > 0 else []
        error = None
    except Exception as err:  # noqa: BLE001 - a bad video fails its items, not the run
        if environment_error(err) is not None:
            raise  # a full disk or a refused permission fails the run, with its path, not the items
        frames, error = [], f"video {group[0].row['video_id']}: cannot decode ({_failure(err)})"
    requests = [
        VideoLMRequest(
            item_id=q.row["id"], video_id=q.row["video_id"], perturbation=q.row["perturbation"], category=q.row["category"],
            setting=q.setting, round=q.round, frames=frames, prompt=r.text, options=r.options, letters=r.letters,
            roles=r.roles, system_prompt=system, video_key=video_key(q.row),
        )
        for q, r in zip(group, renders)
    ]
    out: list[dict] = []
    for start in range(0, len(group), batch_size):
        batch = slice(start, start + batch_size)
        stop = None
        if error is None:
            try:
                answers = _answer(lm, scoring, requests[batch])
                batch_error = None
            except Exception as err:  # noqa: BLE001 - e.g. API errors after retries: recorded, retried on rerun
                if isinstance(err, FatalModelError) or environment_error(err) is not None:
                    raise  # e.g. a refused key or a full disk: no query can succeed; nothing recorded
                answers, batch_error = None, _failure(err)
                stop = err if isinstance(err, UnscorableResponseError) else None
        else:
            answers, batch_error = None, error
        for i, (query, request, rendered) in enumerate(zip(group[batch], requests[batch], renders[batch])):
            record = _record(query, request, rendered, lm, scoring)
            if answers is None:
                record.update(output=None, choice=None, role="invalid", error=batch_error)
            else:
                answer = answers[i]
                record.update(answer)
                record["role"] = rendered.role_of_letter(answer["choice"]) if answer["choice"] else "invalid"
                record["error"] = None
                logprobs = answer.get("letter_logprobs") or {}
                correct, shortcut = logprobs.get(record["correct_letter"]), logprobs.get(record["shortcut_letter"])
                if correct is not None and shortcut is not None:  # a letter outside an API's top log-probs has no margin
                    record["shortcut_margin"] = correct - shortcut
            if writer:
                writer.write(record)
            out.append(record)
            bar.update(1)
        if stop is not None:
            raise stop  # recorded above; every further query would fail the same way
    return out
