"""Failures of the machine, not of the program: one line naming the path, exit 1, and whatever was
written before the failure left valid (a rerun with the problem fixed finishes the same build).

Tests run as root, whom permission bits do not stop: the unprivileged runs drop the capabilities
that override them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER) from the child's bounding
set before it executes, or else run as nobody; a machine that allows neither skips them. Full and
read-only disks are small tmpfs mounts, skipped where mounting is not permitted.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.support.fault_injection import BIN

from temrobbench.build.pipeline import load_marker
from temrobbench.utils.errors import UnreadableDataFile, naming_path
from temrobbench.cli.contract import run_cli
from temrobbench.hub.layout import read_local_split
from temrobbench.source.synth import SynthConfig, synthesize_coin

PR_CAPBSET_DROP = 24
OVERRIDING_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def _drop_caps() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in OVERRIDING_CAPS:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _become_nobody() -> None:
    os.setuid(65534)


def _run(argv: list[str], preexec=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, env=env, preexec_fn=preexec, timeout=300)


@pytest.fixture(scope="module")
def unprivileged(tmp_path_factory):
    """A ``preexec_fn`` under which permission bits bind, or a skip."""
    if os.geteuid() != 0:
        return None  # they bind already
    probe = tmp_path_factory.mktemp("probe")
    closed = probe / "closed"
    closed.mkdir(mode=0o555)
    closed.chmod(0o555)
    code = f"open({str(closed / 'x')!r}, 'w')"
    for preexec in (_drop_caps, _become_nobody):
        try:
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=preexec, timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        if "PermissionError" in result.stderr:
            return preexec
    pytest.skip("cannot run a child that permission bits stop (no capability drop, no setuid, or not root)")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("env_source")
    root.chmod(0o755)  # readable by an unprivileged child
    coin = synthesize_coin(root, SynthConfig(num_videos=3, seed=4), progress=False)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return coin, root / "videos"


def _argv(source, out: Path) -> list[str]:
    coin, videos = source
    return ["temrobbench", "build", "--coin", str(coin), "--videos", str(videos), "--out", str(out), "--num-videos", "3"]


def _is_progress(line: str) -> bool:
    """A tqdm progress bar (they write to stderr too, and the build shows them)."""
    return re.search(r"\[\d+:\d+|/s\]|\d+%\|", line) is not None


def _error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip() and not _is_progress(line)]
    assert result.returncode == 1, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "unexpected" not in lines[0] and "Traceback" not in result.stderr
    return lines[0]


def _open_to_all(path: Path) -> None:
    while path != path.parent:
        path.chmod(path.stat().st_mode | 0o755)
        path = path.parent
        if path == Path(path.anchor) or str(path) in ("/tmp", "/"):
            break


# ----------------------------------------------------------------------------------------------
# Permissions
# ----------------------------------------------------------------------------------------------


def test_out_inside_a_folder_without_write_permission(unprivileged, source, tmp_path):
    _open_to_all(tmp_path)
    closed = tmp_path / "closed"
    closed.mkdir()
    closed.chmod(0o555)
    line = _error_line(_run(_argv(source, closed / "bench"), unprivileged))
    assert line.startswith("error: permission denied") and str(closed / "bench") in line
    assert list(closed.iterdir()) == []


def test_out_is_a_folder_without_write_permission(unprivileged, source, tmp_path):
    _open_to_all(tmp_path)
    closed = tmp_path / "bench"
    closed.mkdir()
    closed.chmod(0o555)
    line = _error_line(_run(_argv(source, closed), unprivileged))
    assert line.startswith("error: permission denied") and str(closed) in line
    assert list(closed.iterdir()) == []


def test_unreadable_coin_json(unprivileged, source, tmp_path):
    _open_to_all(tmp_path)
    coin = tmp_path / "COIN.json"
    shutil.copy(source[0], coin)
    coin.chmod(0o000)
    line = _error_line(_run(_argv((coin, source[1]), tmp_path / "bench"), unprivileged))
    assert line.startswith("error: permission denied") and str(coin) in line
    assert not (tmp_path / "bench").exists()


# ----------------------------------------------------------------------------------------------
# Read-only and full disks
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_out_on_a_read_only_file_system(source, tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        line = _error_line(_run(_argv(source, ro / "bench")))
        assert line.startswith("error: read-only file system") and str(ro / "bench") in line


def _rows(out: Path) -> dict[str, list]:
    return {p.relative_to(out).as_posix(): pq.read_table(p).to_pylist() for p in sorted((out / "data").rglob("*.parquet"))}


@pytest.mark.parametrize("size", ["256k", "600k"])  # full while encoding clips / while writing shards
def test_full_disk_names_the_path_and_the_rerun_finishes(source, tmp_path, size):
    reference = tmp_path / "reference"
    assert _run(_argv(source, reference)).returncode == 0
    with tmpfs(tmp_path / "small", f"size={size}") as disk:
        out = disk / "bench"
        line = _error_line(_run(_argv(source, out)))
        assert line.startswith("error: no space left on the device") and str(out) in line
        # What was written stays valid: no half-written file under a final name or beside one,
        # every video's marker that exists loads.
        assert not list(out.rglob(".partial-*"))
        for marker in (out / ".build" / "videos").glob("*.json"):
            assert load_marker(out / ".build", marker.stem) is not None
        for shard in (out / "data").rglob("*.parquet") if (out / "data").exists() else ():
            pq.read_metadata(shard)
        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
        rerun = _run(_argv(source, out))
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert _rows(out) == _rows(reference)


# ----------------------------------------------------------------------------------------------
# A benchmark whose Parquet shard was cut in half
# ----------------------------------------------------------------------------------------------


def test_eval_of_a_benchmark_with_a_truncated_shard(tiny_benchmark, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(tiny_benchmark, bench)
    shard = sorted((bench / "data" / "extrinsic").glob("adversarial-*.parquet"))[0]
    os.truncate(shard, shard.stat().st_size // 2)
    out = tmp_path / "eval"
    result = _run(["temrobbench", "eval", "--data", str(bench), "--model", "random", "--out", str(out), "--frames", "2"])
    line = _error_line(result)
    assert "unreadable data file" in line and str(shard) in line
    assert not out.exists()


def test_a_shard_row_naming_a_video_outside_the_folder_is_refused(tiny_benchmark, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(tiny_benchmark, bench)
    shard = sorted((bench / "data" / "intrinsic").glob("clean-*.parquet"))[0]
    table = pq.read_table(shard)
    rows = table.to_pylist()
    rows[0]["video"]["path"] = "../../../../etc/passwd"
    pq.write_table(table.from_pylist(rows, schema=table.schema), shard)
    with pytest.raises(UnreadableDataFile, match="outside the benchmark folder") as caught:
        read_local_split(bench, "intrinsic", "clean")
    assert caught.value.path == str(shard)


# ----------------------------------------------------------------------------------------------
# The mapping itself, through run_cli
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, what", [
    (errno.ENOSPC, "no space left on the device"), (errno.EDQUOT, "disk quota exceeded"), (errno.EROFS, "read-only file system"),
    (errno.EACCES, "permission denied"), (errno.EIO, "input/output error"), (errno.ENOTDIR, "a part of the path is a file, not a folder"),
])
def test_environment_errnos_are_one_line_naming_the_path(capsys, code, what):
    def main(argv):
        raise OSError(code, os.strerror(code), "/data/out/file.bin")

    assert run_cli(main, [], "temrobbench") == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"error: {what} (/data/out/file.bin): ") and "\n" not in line and "unexpected" not in line


def test_a_temporary_file_is_named_by_its_folder(capsys):
    def main(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out/data/intrinsic/.partial-x1y2.parquet")

    assert run_cli(main, [], "temrobbench") == 1
    assert "(/data/out/data/intrinsic)" in capsys.readouterr().err


def test_an_os_error_without_a_name_gets_the_path_being_written(capsys):
    def main(argv):
        with naming_path("/data/out/data/intrinsic/clean-00000-of-00001.parquet"):
            raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    assert run_cli(main, [], "temrobbench") == 1
    assert "(/data/out/data/intrinsic/clean-00000-of-00001.parquet)" in capsys.readouterr().err


def test_a_genuine_bug_still_says_unexpected(capsys):
    def main(argv):
        return {}["missing"]

    assert run_cli(main, [], "temrobbench") == 1
    assert "unexpected KeyError" in capsys.readouterr().err
