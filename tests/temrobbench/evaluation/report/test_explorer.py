"""report.html: the explorer page of an evaluation (and the comparison of two), checked as data
and in a real browser (Debian's Chromium driven by Playwright, opening the page from disk)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from temrobbench import evaluate_temporal_robustness
from temrobbench.cli import main
from temrobbench.evaluation.report.explorer import read_benchmark_pointer, script_json, write_benchmark_pointer

CHROMIUM = os.environ.get("TEMROBBENCH_CHROMIUM", "/usr/bin/chromium")
EVIL = '</script><script>window.pwned = 1</script><!-- & \u2028'


def shortcut_taker(request):
    """Right on the clean video, the shortcut in adversarial round 0 of ITS items; ETS round 0 is
    answered with a hostile text naming the correct option."""
    if request.setting == "clean":
        return request.letters[request.roles.index("correct")]
    if request.perturbation == "intrinsic":
        role = "shortcut" if request.round == 0 else "correct"
        return request.letters[request.roles.index(role)]
    return f"{EVIL} answer: {request.letters[request.roles.index('correct')]}"


def payload(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', text, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def runs(tiny_benchmark, tmp_path_factory):
    """Two evaluations of the tiny benchmark: ``temrobbench eval --model random`` (the command
    records where the benchmark is) and a scripted shortcut taker through the Python API."""
    root = tmp_path_factory.mktemp("html_report")
    a, b = root / "random", root / "shortcut"
    assert main(["eval", "--data", str(tiny_benchmark), "--model", "random", "--out", str(a), "--frames", "2"]) == 0
    evaluate_temporal_robustness(shortcut_taker, tiny_benchmark, num_frames=2, output_dir=b, progress=False)
    assert main(["report", str(b), "--data", str(tiny_benchmark), "--reference", "paper"]) == 0
    assert main(["report", str(a), str(b), "--out", str(root / "compare.html")]) == 0
    return {"root": root, "a": a, "b": b, "bench": Path(tiny_benchmark)}


# ---------------------------------------------------------------------------- the page as data

def test_eval_and_report_write_the_page_with_videos_and_options(runs):
    a, b, bench = runs["a"], runs["b"], runs["bench"]
    assert read_benchmark_pointer(a) == str(bench.resolve())  # written by `temrobbench eval`
    assert read_benchmark_pointer(b) == str(bench.resolve())  # remembered from `report --data`
    for folder in (a, b):
        page = folder / "report.html"
        data = payload(page)
        assert len(data["items"]) == 12 and len(data["runs"]) == 1
        text = page.read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text  # nothing fetched from a network
        assert 'src="data:image/png;base64,' in text  # plots embedded
        for item in data["items"]:
            assert len(item["o"]) == 4 and set(item["ra"]) <= set("csi") and item["vc"]["ok"] and item["va"]["ok"]
            for video in (item["vc"], item["va"]):  # relative to the page, resolving to the build's MP4s
                assert not os.path.isabs(video["src"]) and (folder / video["src"]).resolve().is_file()
            if item["p"] == "extrinsic":
                assert item["dc"] and item["da"] and item["vc"]["src"] == item["va"]["src"]
    assert "Beside the paper" in (b / "report.html").read_text(encoding="utf-8")  # --reference paper


def test_outcomes_match_the_metrics(runs):
    data = payload(runs["b"] / "report.html")
    answers = data["runs"][0]["a"]
    outcomes = {item["id"]: (item["p"], answers[item["id"]]["o"]) for item in data["items"]}
    assert {o for p, o in outcomes.values() if p == "intrinsic"} == {"shortcut"}  # FR 100 on ITS
    assert {o for p, o in outcomes.values() if p == "extrinsic"} == {"held"}
    metrics = json.loads((runs["b"] / "metrics.json").read_text())["metrics"]
    assert metrics["intrinsic"]["fr"] == 100 and metrics["extrinsic"]["fr"] == 0


def test_hostile_model_output_stays_inside_the_data(runs):
    text = (runs["b"] / "report.html").read_text(encoding="utf-8")
    assert "window.pwned" in text and "<script>window.pwned" not in text and "</script><script>" not in text
    assert text.count("</script>") == 2  # the data element and the page's script
    outputs = [q[5] for a in payload(runs["b"] / "report.html")["runs"][0]["a"].values() for q in a["q"] if len(q) > 5 and q[5]]
    assert any(EVIL in o for o in outputs)  # the text itself survives, exactly
    assert "<" not in script_json({"x": "</script>"}) and json.loads(script_json({"x": "</script>"})) == {"x": "</script>"}


def test_compare_puts_the_items_whose_outcome_differs_first(runs):
    data = payload(runs["root"] / "compare.html")
    assert [r["label"] for r in data["runs"]] == ["random", "shortcut_taker"]
    # The page sorts; the data must hold both runs' answers for every item.
    assert all(item["id"] in r["a"] for r in data["runs"] for item in data["items"])
    default = runs["a"] / "compare.html"
    assert main(["report", str(runs["a"]), str(runs["b"])]) == 0 and default.exists()


def test_a_hub_benchmark_gives_a_note_not_videos(runs, tmp_path):
    folder = tmp_path / "hub_run"
    shutil.copytree(runs["b"], folder)
    write_benchmark_pointer(folder, "ORG/temrobbench-not-here")
    assert main(["report", str(folder)]) == 0
    data = payload(folder / "report.html")
    assert "vc" not in data["items"][0] and data["runs"][0]["a"]
    assert "ORG/temrobbench-not-here" in (folder / "report.html").read_text(encoding="utf-8")
    assert "--data DIR" in (folder / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- in a real browser

@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright; the test says why and skips when either is missing
    (``./install.sh dev`` installs both)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: ./install.sh dev")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: ./install.sh dev installs Debian's chromium (or set TEMROBBENCH_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield chromium
        chromium.close()


def open_page(browser, path: Path, query: str = ""):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else problems.append(f"network request: {r.url}"))
    start = time.perf_counter()
    page.goto(path.resolve().as_uri() + query)
    page.wait_for_function("window.explorerReady === true", timeout=20_000)
    return page, problems, time.perf_counter() - start


def shown(page) -> int:
    return int(page.get_attribute("#count", "data-count"))


def choose(page, selector: str, value: str) -> None:
    page.select_option(selector, value)


def test_browser_filters_play_videos_and_log_no_errors(browser, runs, tmp_path):
    page, problems, seconds = open_page(browser, runs["b"] / "report.html")
    assert seconds < 10
    assert shown(page) == 12 and page.locator("article.item").count() == 12
    assert page.evaluate("window.pwned") is None  # the hostile output did not run
    choose(page, "#f-perturbation", "intrinsic")
    assert shown(page) == 4 and page.locator("article.item").count() == 4
    choose(page, "#f-category", "light")
    assert shown(page) == 2
    choose(page, "#f-category", "")
    choose(page, "#f-outcome-0", "held")
    assert shown(page) == 0  # every ITS item flipped to the shortcut
    choose(page, "#f-perturbation", "")
    assert shown(page) == 8  # the ETS items held
    choose(page, "#f-outcome-0", "shortcut")
    assert shown(page) == 4
    page.fill("#f-search", "_its")
    assert shown(page) == 4
    page.fill("#f-search", "no such item")
    assert shown(page) == 0 and page.locator("article.item").count() == 0
    page.fill("#f-search", "")
    # The clean and the adversarial MP4 load from disk by their relative paths and decode (H.264).
    page.wait_for_function("Array.from(document.querySelectorAll('article.item video')).length >= 2 && "
                           "Array.from(document.querySelectorAll('article.item video')).slice(0, 2).every(v => v.readyState >= 2 && v.videoWidth > 0)",
                           timeout=20_000)
    sources = page.evaluate("Array.from(document.querySelectorAll('article.item video')).slice(0, 2).map(v => v.currentSrc)")
    assert sources[0].endswith("/clean.mp4") and re.search(r"/(light|severe)\.mp4$", sources[1])
    page.evaluate("document.querySelector('article.item details.answers').open = true")
    page.locator("#items-section").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, document.querySelector('#items-section').getBoundingClientRect().top - 10)")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    if os.environ.get("TEMROBBENCH_SCREENSHOTS"):  # to look at it: TEMROBBENCH_SCREENSHOTS=DIR pytest ...
        shutil.copy(shot, Path(os.environ["TEMROBBENCH_SCREENSHOTS"]) / "report.png")
    assert problems == []
    page.close()


def test_browser_renders_one_page_of_items_at_a_time(browser, runs):
    page, problems, _ = open_page(browser, runs["b"] / "report.html", "?per_page=5")
    assert shown(page) == 12 and page.locator("article.item").count() == 5
    assert "page 1 of 3" in page.inner_text("#pager-top")
    first = page.locator("article.item").first.get_attribute("data-item")
    page.locator("#pager-top button", has_text="next").click()
    page.locator("#pager-top button", has_text="next").click()
    assert "page 3 of 3" in page.inner_text("#pager-top") and page.locator("article.item").count() == 2
    assert page.locator("#pager-top button", has_text="next").is_disabled()
    choose(page, "#f-perturbation", "intrinsic")  # a filter goes back to the first page
    assert "page 1 of 1" in page.inner_text("#pager-top") and page.locator("article.item").count() == 4
    assert first != page.locator("article.item").nth(3).get_attribute("data-item")
    page.close()
    assert problems == []


def test_browser_compare_page(browser, runs, tmp_path):
    page, problems, _ = open_page(browser, runs["root"] / "compare.html")
    assert shown(page) == 12
    # The items whose outcome differs come first: the first card's two badges differ.
    badges = page.locator("article.item").first.locator(".item-head .badge").all_inner_texts()
    assert len(badges) == 2 and badges[0].split(": ")[1] != badges[1].split(": ")[1]
    data = payload(runs["root"] / "compare.html")
    differing = sum(1 for item in data["items"] if len({r["a"][item["id"]]["o"] for r in data["runs"]}) > 1)
    page.check("#f-differ")
    assert shown(page) == differing
    page.uncheck("#f-differ")
    # A cell of the transition table lists its items.
    cell = page.locator("#transitions td.cell").filter(has_text=re.compile(r"^[1-9]")).first
    expected = int(cell.inner_text())
    cell.click()
    assert shown(page) == expected
    page.screenshot(path=str(tmp_path / "compare.png"))
    if os.environ.get("TEMROBBENCH_SCREENSHOTS"):
        shutil.copy(tmp_path / "compare.png", Path(os.environ["TEMROBBENCH_SCREENSHOTS"]) / "compare.png")
    assert problems == []
    page.close()


def test_browser_hub_note(browser, runs, tmp_path):
    folder = tmp_path / "hub"
    shutil.copytree(runs["b"], folder)
    write_benchmark_pointer(folder, "ORG/temrobbench-not-here")
    assert main(["report", str(folder)]) == 0
    page, problems, _ = open_page(browser, folder / "report.html")
    assert "ORG/temrobbench-not-here" in page.inner_text("#note")
    assert page.locator("article.item video").count() == 0 and page.locator("article.item").count() == 12
    assert page.locator("article.item .options").count() == 0 and page.locator("article.item details.answers").count() == 12
    page.close()
    assert problems == []


def test_browser_says_so_when_a_video_is_gone(browser, runs, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(runs["bench"], bench)
    folder = tmp_path / "run"
    shutil.copytree(runs["b"], folder)
    assert main(["report", str(folder), "--data", str(bench)]) == 0
    shutil.rmtree(bench / "videos")  # moved away after the page was written
    page, problems, _ = open_page(browser, folder / "report.html")
    page.wait_for_function("document.querySelectorAll('article.item video').length === 0", timeout=20_000)
    assert "Cannot play" in page.locator("article.item").first.inner_text()
    page.close()
    assert [p for p in problems if "ERR_FILE_NOT_FOUND" not in p] == []


def test_browser_likelihood_run_shows_and_sorts_by_shortcut_margin(browser, tiny_benchmark, tmp_path):
    from temrobbench.evaluation.models.base import VideoLM

    class Margins(VideoLM):
        """Prefers the shortcut by an amount that depends on the item (likelihood scoring)."""

        name = "margins"

        def generate(self, requests):
            return ["A"] * len(requests)

        def letter_logprobs(self, requests):
            scores = []
            for r in requests:
                bias = (sum(map(ord, r.item_id)) % 7) - 3
                scores.append({letter: {"correct": -1.0, "shortcut": -1.0 + bias / 2}.get(role, -4.0) for letter, role in zip(r.letters, r.roles)})
            return scores

    out = tmp_path / "likelihood"
    evaluate_temporal_robustness(Margins(), tiny_benchmark, num_frames=2, scoring="likelihood", output_dir=out, progress=False)
    assert main(["report", str(out), "--data", str(tiny_benchmark)]) == 0
    margins = {item_id: a["m"] for item_id, a in payload(out / "report.html")["runs"][0]["a"].items()}
    assert all(m is not None for m in margins.values())
    page, problems, _ = open_page(browser, out / "report.html")
    page.select_option("#f-sort", "0")
    first = page.locator("article.item").first.get_attribute("data-item")
    assert margins[first] == min(margins.values())
    assert f"mean shortcut margin {margins[first]:.3f}" in page.locator("article.item").first.inner_text()
    page.close()
    assert problems == []


def test_a_hub_benchmark_read_through_datasets_shows_frame_strips(runs, tmp_path, monkeypatch):
    """A Hub id whose rows datasets can read (here: the same build loaded through datasets, video
    bytes embedded, no MP4 files at hand) gives texts and frame strips, flipped items first."""
    import base64

    from datasets import load_dataset

    from temrobbench.evaluation.report import explorer
    from temrobbench.evaluation.data import load_items

    bench = str(runs["bench"])
    as_hub = {c: {s: load_dataset(bench, c, split=s, cache_dir=str(tmp_path / "cache")) for s in ("clean", "adversarial")}
              for c in ("intrinsic", "extrinsic")}
    monkeypatch.setattr(explorer, "_hub_items", lambda data: load_items(as_hub))
    monkeypatch.setattr(explorer, "MAX_FRAME_STRIPS", 3)
    folder = tmp_path / "hub_strips"
    shutil.copytree(runs["b"], folder)
    write_benchmark_pointer(folder, "ORG/temrobbench")
    assert main(["report", str(folder)]) == 0
    data = payload(folder / "report.html")
    striped = [it for it in data["items"] if it.get("vc", {}).get("strip")]
    assert len(striped) == 3 and all("o" in it for it in data["items"])  # options for all, strips for 3
    answers = data["runs"][0]["a"]
    assert {answers[it["id"]]["o"] for it in striped} == {"shortcut"}  # the shortcut taker's flips come first
    jpeg = base64.b64decode(striped[0]["vc"]["strip"].split(",", 1)[1])
    assert jpeg[:2] == b"\xff\xd8"
    assert "frame strips" in (folder / "report.html").read_text(encoding="utf-8")
