#!/usr/bin/env bash
# Create or refresh the virtual environment at .venv and install calray into it.
#   scripts/setup.sh           runtime only
#   scripts/setup.sh test      with the test extras
# A torch already present in .venv (e.g. a CUDA build) is kept; otherwise the CPU build
# pinned below is installed, so a laptop never pulls a multi-GB CUDA wheel by accident.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    echo "setup: installing torch 2.13.0 (CPU build where available)" >&2
    "${pip[@]}" "torch==2.13.0"
fi
echo "setup: installing calray${extras:+[$extras]} into .venv" >&2
"${pip[@]}" -c constraints.txt -e ".${extras:+[$extras]}"
if [ "$extras" = "test" ] && ! cmp -s scripts/floor.txt .venv/floor/floor.txt; then
    # The oldest declared transformers, beside the current one: tests/test_floor.py runs on it.
    echo "setup: installing the compatibility floor (scripts/floor.txt) into .venv/floor" >&2
    rm -rf .venv/floor
    "${pip[@]}" --no-deps --target .venv/floor -r scripts/floor.txt
    cp scripts/floor.txt .venv/floor/floor.txt
fi
