"""The wheel ships the packages with their data and nothing of the tests: card templates, the
paper's reference CSVs and the lmms-eval task files inside, tiny_families and tests outside, no
symlink, both console scripts and the plugin entry points."""

from __future__ import annotations

import configparser
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from tests.support.paths import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # A copy of the sources (symlinks kept as links), so setuptools' build/ and egg-info stay out of the checkout.
    source = tmp_path_factory.mktemp("wheel_source") / "src"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "out", "runs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
                   check=True, capture_output=True, text=True, timeout=600)
    (path,) = out.glob("temrobbench-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_package_data_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    for template in ("dataset_card.md.j2", "dpo_dataset_card.md.j2", "model_card.md.j2"):
        assert f"temrobbench/hub/templates/{template}" in names
    assert "temrobbench/evaluation/report/explorer.html.j2" in names
    assert {"temrobbench/reference/paper_table1.csv", "temrobbench/reference/paper_table3_table5.csv"} <= names
    tasks = {n for n in names if n.startswith("temrobbench/integrations/lmms_eval/tasks/")}
    assert any(n.endswith(".yaml") for n in tasks) and "temrobbench/integrations/lmms_eval/tasks/_default_template_yaml" in tasks


def test_no_test_scaffolding_and_no_symlink_in_the_wheel(wheel):
    names = wheel.namelist()
    assert not [n for n in names if "tiny_families" in n or n.startswith("tests/") or "/tests/" in n]
    assert {n.split("/")[0] for n in names} <= {"temrobbench", "panodpo"} | {n.split("/")[0] for n in names if ".dist-info" in n}
    assert not [i.filename for i in wheel.infolist() if stat.S_ISLNK(i.external_attr >> 16)]


def test_entry_points_are_in_the_wheel(wheel):
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    points = configparser.ConfigParser()
    points.read_string(wheel.read(name).decode())
    assert dict(points["console_scripts"]) == {"temrobbench": "temrobbench.cli:main", "panodpo": "panodpo.cli:main"}
    assert dict(points["temrobbench.commands"]) == {"reproduce": "panodpo.reproduction.cli:add_parser"}
    assert dict(points["temrobbench.quickstart_stages"]) == {"train": "panodpo.quickstart:STAGE"}
