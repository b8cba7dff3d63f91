#!/usr/bin/env bash
# GPU check of issue 24 (benchmarks/gpu_check.py): PanoDPO plain / shared-prefix / TRL's DPO step on
# a real-size random-weight Qwen2-VL-7B at 32 frames, and the evaluation protocol's throughput.
# One H200, at most ~8 minutes, nothing downloaded.
#
#   bash benchmarks/gpu_check.sh [gpu_check.py options, e.g. --variants plain shared]
#
# The GPU machine's image holds torch, transformers (an older 5.x), peft, accelerate and OpenCV, but
# not trl or datasets: make the wheels here first with `bash benchmarks/gpu_wheels.sh` (into .whl/,
# which .gitignore ignores) and carry `.whl` in the device call; they are installed into /tmp/site.
# Environment: PYTHON (python3), GPU_CHECK_BUDGET (seconds for all variants, 420).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${PYTHON:-python3}"
BUDGET="${GPU_CHECK_BUDGET:-420}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export PYTORCH_CUDA_ALLOC_CONF="${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if compgen -G ".whl/*.whl" > /dev/null; then
  echo "installing the carried wheels: $(cd .whl && ls *.whl | tr '\n' ' ')"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi

# Preflight: what is there, and a clear line (not a traceback mid-run) when something is missing.
"$PY" - <<'PREFLIGHT'
import importlib
import sys

missing = []
for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "pyarrow", "cv2", "PIL", "jinja2"):
    try:
        module = importlib.import_module(name)
        print(f"  {name} {getattr(module, '__version__', '')}")
    except Exception as err:  # noqa: BLE001 - reported, then the check stops
        missing.append(f"{name} ({type(err).__name__}: {err})")
if missing:
    sys.exit("gpu_check: missing " + "; ".join(missing) + ": run `bash benchmarks/gpu_wheels.sh` here and carry .whl")
import torch

if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device (for a check on CPU: python benchmarks/gpu_check.py --dry-run)")
print(f"  cuda: {torch.cuda.get_device_name()}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
PREFLIGHT

rc=0
log="${OUT:+$OUT/gpu_check.log}"
# The driver keeps to its budget (each variant's timeout is cut to what is left); the outer timeout
# is the last resort should the driver itself hang.
timeout --kill-after=15 "$((BUDGET + 45))" "$PY" benchmarks/gpu_check.py --budget "$BUDGET" "$@" 2>&1 | tee "${log:-/dev/null}" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "gpu_check: exit $rc (124: the outer timeout; 1: no variant measured)"
fi
exit "$rc"
