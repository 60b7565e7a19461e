"""calray: how calibration data shapes what a pruned language model keeps.

Layers, lower never importing higher: ``calray.prune`` (pure torch) <- ``calray.data``
<- ``calray.evaluate`` <- ``calray.cluster`` (Ray) <- ``calray.sweep`` (Tune, MLflow)
<- ``calray.cli``. Importing ``calray`` itself imports none of them.
"""

__version__ = "0.1.0"
