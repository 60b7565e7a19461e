"""calray: how calibration data shapes what a pruned language model keeps.

Layers, lower never importing higher: ``calray.prune`` (pure torch) <- ``calray.data``
<- ``calray.evaluate`` <- ``calray.cluster`` (Ray) <- ``calray.sweep`` (Tune, MLflow)
<- ``calray.cli``. Importing ``calray`` itself imports none of them.

The one-call API, imported on first use: ``calray.oneshot(model=..., calibration=...,
sparsity=0.6)`` prunes (``calray.api``); ``calray.evaluate(model, capabilities=...,
limit=...)`` scores (the ``calray.evaluate`` package is callable).
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "oneshot":
        from calray.api import oneshot

        return oneshot
    if name == "evaluate":
        import calray.evaluate

        return calray.evaluate
    raise AttributeError(f"module 'calray' has no attribute {name!r}")
