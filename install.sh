#!/usr/bin/env bash
# Install TemRobBench + PanoDPO into the active Python environment.
#   ./install.sh          the library, its command-line tools, training, OpenAI, plots and every model family's processor packages
#   ./install.sh dev      the same plus training, OpenAI, plotting and test dependencies (and Debian's chromium for the browser test)
# FFmpeg's shared libraries are installed with apt-get when missing: torchcodec (the decoder of
# datasets' Video feature) loads them at run time.
set -euo pipefail
cd "$(dirname "$0")"
extras="${1:-}"

if ! ldconfig -p 2>/dev/null | grep -q 'libavutil\.so'; then
  echo "install.sh: FFmpeg shared libraries not found; installing Debian's ffmpeg" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >/dev/null
fi

# dev: Debian's Chromium for the browser test of report.html (tests/temrobbench/evaluation/report/test_explorer.py drives it with
# Playwright; `playwright install` downloads browsers from a CDN, so the system binary is used instead).
if [ "$extras" = "dev" ] && [ ! -x /usr/bin/chromium ]; then
  echo "install.sh: chromium not found; installing Debian's chromium (browser test of report.html)" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

python -m pip install -q --upgrade pip
# torch and torchvision first, pinned together (transformers' video processors need torchvision).
python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
if [ "$extras" = "dev" ]; then
  python -m pip install -q -e ".[dev]"
else
  python -m pip install -q -e ".[train,openai,plots,families]"
fi
echo "install.sh: done ($(python -c 'import temrobbench; print("temrobbench", temrobbench.__version__)'))"
