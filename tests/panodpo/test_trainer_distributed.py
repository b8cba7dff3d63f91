"""PanoDPOTrainer under a real launcher: 2 CPU processes (torchrun, gloo, DDP) against 1 process.

One launch of each, tiny Qwen2-VL, 8 examples, global batch 4, 2 steps, ``crop`` rejected videos:

- both end with the same trainable parameters (float tolerance): the 2 ranks see disjoint halves
  of each global batch, in the one-process order, and DDP averages their gradients, which with the
  loss's mean over the local batch is the one-process mean over the global batch;
- the reference log-probs precomputed on 2 ranks (batches of 3: an uneven last batch) cover every
  example exactly once and equal the one-process ones;
- checkpoints are written by rank 0 only, and a 2-process resume from checkpoint-1 ends where the
  uninterrupted 2-process run did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.support.paths import REPO

WORKER = textwrap.dedent(
    """
    import json, os, sys, warnings
    warnings.filterwarnings("ignore")
    import torch
    torch.set_num_threads(1)
    from datasets import Dataset
    from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
    from temrobbench.tiny_models import build_tiny_qwen2vl

    spec = json.loads(sys.argv[1])
    rows = [{"id": f"ex{i}", "video": v, "prompt": "<video>\\nWhich step comes first?", "chosen": "cut bread" + " now" * (i % 3),
             "rejected": "add ham", "rejected_prompt": "The video opens with adding ham. Which step comes first?"}
            for i, v in enumerate(spec["videos"])]
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    saves = []  # adapter files this rank wrote
    import peft.peft_model
    _write = peft.peft_model.safe_save_file
    peft.peft_model.safe_save_file = lambda tensors, path, **kw: saves.append(os.path.relpath(path, spec["out"])) or _write(tensors, path, **kw)

    def run(out, resume=None, max_steps=2):
        model, processor = build_tiny_qwen2vl(seed=1)
        args = PanoDPOConfig(output_dir=out, max_steps=max_steps, per_device_train_batch_size=4 // world, logging_steps=1, report_to=[],
                             num_frames=2, gradient_checkpointing=False, learning_rate=1e-2, warmup_ratio=0.0, seed=0, disable_tqdm=True,
                             rejected_video_strategy="crop", precompute_ref_log_probs=True, precompute_ref_batch_size=3,
                             save_strategy="steps" if world > 1 and resume is None else "no", save_steps=1)
        trainer = PanoDPOTrainer(model, args=args, train_dataset=Dataset.from_list(rows), processing_class=processor,
                            peft_config=default_lora_config(model, r=4, alpha=8, dropout=0.0))
        seen, collate = [], trainer.data_collator
        trainer.data_collator = lambda examples: seen.append([e["id"] for e in examples]) or collate(examples)
        trainer.train(resume_from_checkpoint=resume)
        params = {n: p.detach().clone() for n, p in trainer.accelerator.unwrap_model(trainer.model).named_parameters() if p.requires_grad}
        return trainer, params, seen

    trainer, params, seen = run(os.path.join(spec["out"], "run"))
    result = {"world": trainer.accelerator.num_processes, "params": params, "seen": seen,
              "ids": trainer.train_dataset["id"], "ref": trainer.train_dataset["ref_logps"], "saves": list(saves),
              "share_prefix": dict(trainer.share_prefix_status)}
    if world > 1:
        _, resumed, _ = run(os.path.join(spec["out"], "resumed"), resume=os.path.join(spec["out"], "run", "checkpoint-1"))
        result["resumed"] = resumed
    torch.save(result, os.path.join(spec["out"], f"result.rank{rank}.pt"))
    """
)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tiny_benchmark, tmp_path_factory):
    """One 1-process run and one 2-process run (plus its resume), each a subprocess."""
    root = tmp_path_factory.mktemp("ddp")
    script = root / "worker.py"
    script.write_text(WORKER)
    videos = sorted(str(p) for p in (tiny_benchmark / "videos").glob("*/clean.mp4"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    env.update(OMP_NUM_THREADS="1", TQDM_DISABLE="1", PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    results = {}
    for world in (1, 2):
        out = root / f"world{world}"
        out.mkdir()
        spec = json.dumps({"videos": (videos * 2)[:8], "out": str(out)})
        launcher = [] if world == 1 else ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port())]
        # Plain torchrun, no --cpu anywhere: PanoDPOConfig must notice there is no accelerator.
        done = subprocess.run([sys.executable, *launcher, str(script), spec], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-4000:]
        results[world] = [torch.load(out / f"result.rank{r}.pt", weights_only=False) for r in range(world)]
    results["root"] = root
    return results


def test_two_processes_end_where_one_process_does(runs):
    [single], (rank0, rank1) = runs[1], runs[2]
    assert single["world"] == 1 and rank0["world"] == 2 and rank1["world"] == 2  # really distributed, not 2 lone runs
    # On the shared-prefix path (the default), checked against the plain path on every rank.
    assert all(r["share_prefix"]["enabled"] and r["share_prefix"]["checked"] for r in (single, rank0, rank1))
    # Each global batch of 4 is split in two disjoint halves, in the one-process order.
    assert [a + b for a, b in zip(rank0["seen"], rank1["seen"])] == single["seen"][: len(rank0["seen"])]
    assert len(rank0["seen"]) == 2 and not set(sum(rank0["seen"], [])) & set(sum(rank1["seen"], []))
    initial = _initial_trainable()
    moved = max((single["params"][n] - initial[n]).abs().max().item() for n in initial)
    assert moved > 1e-3  # the runs trained (lr 1e-2, 2 steps)
    for name, value in single["params"].items():
        assert torch.allclose(rank0["params"][name], value, atol=2e-5), (name, (rank0["params"][name] - value).abs().max().item())
        assert torch.equal(rank0["params"][name], rank1["params"][name]), name  # DDP keeps replicas identical


def test_reference_precompute_gathers_every_example_once(runs):
    [single], (rank0, rank1) = runs[1], runs[2]
    assert rank0["ids"] == single["ids"] == [f"ex{i}" for i in range(8)]
    # Batches of 3 on 2 ranks: 8 = 6 + 2, the last global batch padded then trimmed by the gather.
    assert torch.allclose(torch.tensor(rank0["ref"]), torch.tensor(single["ref"]), atol=1e-5)
    assert rank0["ref"] == rank1["ref"]


def test_checkpoints_saved_once_and_resumed_on_two_processes(runs):
    (rank0, rank1), root = runs[2], runs["root"]
    assert rank0["saves"] == ["run/checkpoint-1/adapter_model.safetensors", "run/checkpoint-2/adapter_model.safetensors"]
    assert rank1["saves"] == []
    checkpoint = root / "world2" / "run" / "checkpoint-1"
    assert (checkpoint / "adapter_model.safetensors").is_file() and "PanoDPO" in (checkpoint / "README.md").read_text()
    assert sorted(p.name for p in checkpoint.glob("rng_state*.pth")) == ["rng_state_0.pth", "rng_state_1.pth"]
    for name, value in rank0["params"].items():
        assert torch.allclose(rank0["resumed"][name], value, atol=1e-6), name


def _initial_trainable():
    from panodpo import default_lora_config
    from peft import get_peft_model
    from temrobbench.tiny_models import build_tiny_qwen2vl
    from transformers import set_seed

    model, _ = build_tiny_qwen2vl(seed=1)
    set_seed(0)  # as the trainer does before PEFT initializes the adapter
    peft_model = get_peft_model(model, default_lora_config(model, r=4, alpha=8, dropout=0.0))
    return {n: p.detach().clone() for n, p in peft_model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("name, kind", [("fsdp.yaml", "FSDP"), ("deepspeed_zero3.yaml", "DEEPSPEED")])
def test_example_accelerate_configs_load(name, kind):
    """The shipped configs parse as accelerate reads them (GPU-only: FSDP and ZeRO-3 are not run on CPU here)."""
    from pathlib import Path

    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(REPO / "examples" / "accelerate" / name))
    assert str(config.distributed_type).endswith(kind) and config.num_processes == 8 and not config.use_cpu
    if kind == "FSDP":
        assert config.fsdp_config["fsdp_version"] == 2 and config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    else:
        assert config.deepspeed_config["zero_stage"] == 3
