"""The lmms-eval tasks give the numbers of ``evaluate_temporal_robustness`` for the same responses.

A scripted model answers from the prompt text and the video's content (several answer forms, some
unparseable). The adapter-only tests run always; the end-to-end test registers the scripted model
in lmms-eval and runs ``simple_evaluate`` on the task folder, offline, when lmms-eval is installed.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from temrobbench import evaluate_temporal_robustness, render_prompt
from temrobbench.integrations.lmms_eval import DEFAULT_DATA, TASKS, shipped_task_dir, task_files, write_task_dir
from temrobbench.integrations.lmms_eval import utils
from temrobbench.prompt import rotation

ANSWER_FORMS = ("{L}", "The answer is {L}.", "({L})", "I cannot tell from the video.", "{L}. {text}", "Answer: {L}")


def scripted_answer(prompt: str, video_bytes: bytes) -> str:
    h = hashlib.sha1(prompt.encode() + hashlib.sha1(video_bytes).digest()).digest()
    options = [line[3:] for line in prompt.splitlines() if line[:3] in ("A. ", "B. ", "C. ", "D. ")]
    letter = "ABCD"[h[0] % 4]
    return ANSWER_FORMS[h[1] % len(ANSWER_FORMS)].format(L=letter, text=options["ABCD".index(letter)])


def _load_docs(bench: Path, config: str):
    import datasets

    from temrobbench.hub.layout import data_files_patterns

    patterns = data_files_patterns()[config]
    ds = datasets.load_dataset(str(bench), data_files={"test": [patterns["clean"], patterns["adversarial"]]}, split="test")
    return utils.process_docs(ds)


@pytest.fixture()
def video_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(utils.VIDEO_CACHE_ENV, str(tmp_path / "videos"))
    return tmp_path / "videos"


def _reference_report(bench: Path):
    def answer(request):
        return scripted_answer(request.prompt, Path(request.video_key).read_bytes())

    return evaluate_temporal_robustness(answer, bench, num_frames=0, progress=False)


def test_shipped_task_files_are_the_generated_ones():
    for name, text in task_files(DEFAULT_DATA).items():
        assert (shipped_task_dir() / name).read_text(encoding="utf-8") == text, f"{name}: regenerate with write_task_dir(shipped_task_dir())"


def test_docs_are_the_protocol_queries_with_the_exact_prompt(tiny_benchmark, video_cache):
    docs = _load_docs(tiny_benchmark, "extrinsic")
    assert len(docs) == 8 * (1 + utils.ROUNDS)
    first = docs[0]
    assert [(d["setting"], d["round"]) for d in docs.select(range(5))] == [("clean", 0)] + [("adversarial", r) for r in range(4)]
    for doc in docs.select(range(5)):
        assert Path(utils.doc_to_visual(doc)[0]).is_file()
        expected = render_prompt(doc, rotation(4, doc["round"]))
        assert utils.doc_to_text(doc, {"pre_prompt": "ignored"}) == expected.text
        assert utils.doc_to_target(doc) == expected.letter_of_role("correct")
    assert first["id"] == docs[4]["id"] and first["descriptions"] != docs[1]["descriptions"]  # clean vs edited text


def test_adapter_records_give_the_same_metrics(tiny_benchmark, video_cache):
    report = _reference_report(tiny_benchmark)
    for task, config in TASKS.items():
        records = [utils.process_results(doc, [scripted_answer(utils.doc_to_text(doc), Path(doc["video"]).read_bytes())])["fr"]
                   for doc in _load_docs(tiny_benchmark, config)]
        for name, key in utils.METRICS.items():
            expected = report.metrics[config][key]
            got = getattr(utils, f"aggregate_{name}")(records)
            assert (math.isnan(got) and expected is None) or got == pytest.approx(expected), (task, name)


def test_end_to_end_in_lmms_eval(tiny_benchmark, video_cache, tmp_path, monkeypatch):
    pytest.importorskip("lmms_eval", reason="lmms-eval is not installed (pip install 'temrobbench[lmms-eval]')")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))
    monkeypatch.setenv("LMMS_EVAL_DATASETS_CACHE", str(tmp_path / "hf_datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from lmms_eval import evaluator
    from lmms_eval.api.model import lmms
    from lmms_eval.models import MODEL_REGISTRY_V2
    from lmms_eval.models.registry_v2 import ModelManifest
    from lmms_eval.tasks import TaskManager

    MODEL_REGISTRY_V2.register_manifest(ModelManifest(model_id="temrobbench_scripted", simple_class_path=f"{__name__}.ScriptedLMM"), overwrite=True)
    include = write_task_dir(tmp_path / "tasks", str(tiny_benchmark))
    results = evaluator.simple_evaluate(model="temrobbench_scripted", tasks=["temrobbench"], task_manager=TaskManager("ERROR", include_path=str(include)),
                                        log_samples=False, process_docs_parallel=1, batch_size=1)
    report = _reference_report(tiny_benchmark)
    for task, config in TASKS.items():
        got = results["results"][task]
        for name, key in utils.METRICS.items():
            expected = report.metrics[config][key]
            value = got[f"{name},none"]
            assert (expected is None and math.isnan(value)) or value == pytest.approx(expected), (task, name, value, expected)


try:
    from lmms_eval.api.model import lmms as _lmms
except ImportError:  # lmms-eval not installed: the end-to-end test skips
    _lmms = object


class ScriptedLMM(_lmms):
    """An lmms-eval model that answers with ``scripted_answer`` (the prompt and the video file)."""

    def __init__(self, **kwargs):
        super().__init__()

    def generate_until(self, requests):
        out = []
        for request in requests:
            context, _, doc_to_visual, doc_id, task, split = request.args
            video = doc_to_visual(self.task_dict[task][split][doc_id])[0]
            out.append(scripted_answer(context, Path(video).read_bytes()))
        return out

    def loglikelihood(self, requests):
        raise NotImplementedError

    def generate_until_multi_round(self, requests):
        raise NotImplementedError
