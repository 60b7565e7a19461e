"""The paper-style report of recorded runs: ``calray report`` as a script (same options).

    python analysis/report.py --tracking-uri sqlite:///mlflow.db --experiment calray \
        --default toy:web --out report.md

See analysis/README.md for what each table means.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # calray from this checkout, wherever it runs

from calray.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
