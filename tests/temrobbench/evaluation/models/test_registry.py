"""The model extension point: what an adapter implements decides its scorings; a spec prefix is
registered once; built-in adapters load only when used; options reach the factory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from temrobbench.evaluation.models import VideoLM, register_model, resolve_model, valid_specs
from temrobbench.evaluation.models import registry


class Echo(VideoLM):
    def __init__(self, answer: str = "A") -> None:
        self.answer = answer
        self.name = f"echo:{answer}"

    def generate(self, requests):
        return [self.answer for _ in requests]


def test_scoring_modes_follow_what_the_adapter_implements():
    class Choices(Echo):
        def option_logprobs(self, requests):
            return [[0.0, -1.0, -2.0, -3.0] for _ in requests]

    assert Echo().scoring_modes == ("generate",)
    assert Choices().scoring_modes == ("generate", "choice")
    assert resolve_model("random").scoring_modes == ("generate", "likelihood", "choice")
    with pytest.raises(TypeError):
        type("NoGenerate", (VideoLM,), {})()  # generate is the one required method


def test_a_registered_prefix_resolves_with_its_options_and_a_clash_is_refused(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", {})
    register_model("echo", "echo:<letter>")(lambda argument, **options: Echo(argument or options.get("answer", "A")))
    assert resolve_model("echo:C").generate([None]) == ["C"]
    assert resolve_model("echo", answer="D").generate([None]) == ["D"]
    assert "echo:<letter>" in valid_specs()
    with pytest.raises(ValueError, match="taken"):
        register_model("echo", "echo:<other>")(lambda argument: Echo())
    with pytest.raises(ValueError, match="taken"):
        register_model("openai", "openai:<mine>")(lambda argument: Echo())
    register_model("echo", "echo:<other>", replace=True)(lambda argument: Echo("B"))
    assert resolve_model("echo").generate([None]) == ["B"]


def test_unknown_adapter_options_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"hf: unknown option max_tokens; options: dtype, device_map, max_new_tokens"):
        resolve_model("hf:/nonexistent", max_tokens=8)
    with pytest.raises(ValueError, match="random: unknown option"):
        resolve_model("random", seed=3)


def test_built_in_adapters_load_only_when_used():
    code = ("import sys; from temrobbench.evaluation.models import resolve_model; resolve_model('random'); "
            "print(sorted(m for m in ('transformers', 'openai', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
