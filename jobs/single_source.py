"""The single-source scan: every calibration source alone, for several seeds (the paper's
15-source table), through a pool of shard actors, each trial tracked in MLflow.

    ray job submit --working-dir . -- python jobs/single_source.py --config jobs/configs/paper_scan.yaml
    python jobs/single_source.py --config jobs/configs/tiny_sweep.yaml --smoke-test   # what CI runs

The same as ``calray sweep --single-source`` (--seeds 0 1 2 overrides the config's
calibration.seeds); prints
the source x dimension retention table, means over seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    from calray.cli import main

    sys.exit(main(["sweep", "--single-source", *sys.argv[1:]]))
