"""Search calibration mixtures with Ray Tune on a cluster; every trial tracked in MLflow.

    ray job submit --working-dir . -- python jobs/sweep.py --config jobs/configs/paper_sweep.yaml
    python jobs/sweep.py --config jobs/configs/tiny_sweep.yaml --smoke-test    # what CI runs

The same as ``calray sweep`` (all its options: --set KEY=VALUE, --resume, --export-top,
--tracking-uri); inside ``ray job submit`` it joins the cluster through $RAY_ADDRESS.
Exit status: 0 when some trial finished, 1 when none did, 2 on a bad config.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Under `ray job submit --working-dir .` calray is the uploaded copy, not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    from calray.cli import main

    sys.exit(main(["sweep", *sys.argv[1:]]))
