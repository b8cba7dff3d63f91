#!/usr/bin/env bash
# Wheels benchmarks/gpu_check.sh needs on the GPU machine and its image lacks (trl, datasets and
# theirs) or holds in another version (transformers, peft, tokenizers): the versions installed here,
# for CPython 3.12 on x86-64 Linux, downloaded from PyPI into .whl/ (git-ignored) or the folder given.
# Then carry `.whl` in the device call (about 20 MB; the limit is 64 MiB in all).
#
#   bash benchmarks/gpu_wheels.sh [FOLDER]
#
# datasets 5 asks for pyarrow >= 24: should the image's pyarrow be older (gpu_check.sh's preflight
# prints it), GPU_WHEELS_PYARROW=1 adds pyarrow's wheel (about 45 MB).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dest="${1:-.whl}"
PY="${PYTHON:-python3}"
names=(transformers trl datasets peft tokenizers dill multiprocess)
if [ "${GPU_WHEELS_PYARROW:-0}" = 1 ]; then names+=(pyarrow); fi
pins=()
for name in "${names[@]}"; do
  pins+=("$name==$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")")
done
echo "downloading ${pins[*]} into $dest"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dest" "${pins[@]}"
du -sh "$dest"
