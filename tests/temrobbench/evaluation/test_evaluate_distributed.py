"""hf:-style sharded evaluation under a real launcher (torchrun, 2 CPU processes, gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from temrobbench import evaluate_temporal_robustness
from temrobbench.evaluation.records import read_all_records, read_records

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from temrobbench import evaluate_temporal_robustness

    def model(request):
        # Rank 1 is slower: rank 0 must wait for it before merging.
        time.sleep(0.05 if os.environ.get("RANK") == "1" else 0.0)
        return request.letters[(len(request.item_id) + request.round) % 4]

    report = evaluate_temporal_robustness(model, sys.argv[1], num_frames=2, output_dir=sys.argv[2], progress=False)
    print("RANK", os.environ["RANK"], "RECORDS", report.num_records)
    """
)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _model(request):
    return request.letters[(len(request.item_id) + request.round) % 4]


def test_torchrun_ranks_wait_and_merge(tiny_benchmark, tmp_path):
    script = tmp_path / "sharded_eval.py"
    script.write_text(SCRIPT)
    out = tmp_path / "sharded"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()), str(script), str(tiny_benchmark), str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    shards = [read_records(out / f"records.rank{r}.jsonl") for r in (0, 1)]
    assert shards[0] and shards[1] and len(shards[0]) + len(shards[1]) == 60
    assert "RANK 0 RECORDS 60" in result.stdout  # rank 0 merged both shards after the barrier
    single = evaluate_temporal_robustness(_model, tiny_benchmark, num_frames=2, progress=False)
    assert json.loads((out / "metrics.json").read_text())["metrics"] == json.loads(single.to_json())["metrics"]


def test_rerun_with_another_world_size_resumes_from_every_shard(tiny_benchmark, tmp_path, monkeypatch):
    calls = []

    def counted(request):
        calls.append(request.key)
        return _model(request)

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    evaluate_temporal_robustness(counted, tiny_benchmark, num_frames=2, output_dir=tmp_path, progress=False)
    first = len(calls)
    assert 0 < first < 60  # rank 1 never ran: its shard is missing
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    report = evaluate_temporal_robustness(counted, tiny_benchmark, num_frames=2, output_dir=tmp_path, progress=False)
    assert len(calls) == 60 and len(set(calls)) == 60  # the single process ran only what was left
    assert report.num_records == 60 and len(read_all_records(tmp_path)) == 60
