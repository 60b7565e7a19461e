#!/usr/bin/env bash
# Create or refresh the virtual environment at .venv and install calray into it.
#   scripts/setup.sh           runtime only
#   scripts/setup.sh test      with the test extras
# A torch already present in .venv (e.g. a CUDA build) is kept; otherwise torch 2.13.0 comes
# from PyTorch's CPU wheel index ($TORCH_INDEX_URL, default https://download.pytorch.org/whl/cpu),
# so a laptop never pulls a multi-GB CUDA wheel by accident. Where that index is unreachable
# (a machine behind a package mirror) or TORCH_INDEX_URL is empty, plain pip installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
torch_index="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    echo "setup: installing torch 2.13.0${torch_index:+ from $torch_index}" >&2
    if [ -z "$torch_index" ] || ! "${pip[@]}" --retries 1 --timeout 30 --index-url "$torch_index" "torch==2.13.0"; then
        [ -z "$torch_index" ] || echo "setup: $torch_index did not answer; installing torch 2.13.0 with plain pip" >&2
        "${pip[@]}" "torch==2.13.0"
    fi
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
