from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_prune_imports_without_ray_mlflow_or_datasets():
    code = (
        "import sys\n"
        "for m in ('ray', 'mlflow', 'datasets'): sys.modules[m] = None  # import fails\n"
        "import calray.prune\n"
        "assert calray.prune.METHODS.names() == ['magnitude', 'sparsegpt', 'wanda']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)
