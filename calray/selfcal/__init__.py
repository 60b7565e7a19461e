"""Self-calibration: calibration sets written by the model being pruned (Self-Cal, SGS, IGSP).

Each generator samples from the dense model (batched ``generate``, stops at EOS), and
``generate_set`` caches the result by (model fingerprint, generator config, nsamples, seqlen,
seed) and writes it to a directory that *is* a calibration source (its ``sources.yaml``):

>>> from calray.selfcal import IGSPConfig, generate_set
>>> s = generate_set("toy", IGSPConfig(), nsamples=32, seqlen=256, seed=0, out="igsp-toy")  # doctest: +SKIP
>>> s.name  # doctest: +SKIP
'selfcal:igsp-toy-s0'

then ``calray prune --calib igsp-toy`` or ``--mix igsp-toy=0.5,toy:web=0.5``. The methods:
``selfcal.py`` (Williams et al. 2025), ``sgs.py`` (Ji et al. 2024), ``igsp.py`` (the seed
paper's IGSP, as designed here: read its docstring); shared sampling in ``generation.py``.

Layering: builds on calray.prune (model loading), calray.data (sources, windows, metrics) and
calray.evaluate (model fingerprints); imports no Ray, MLflow, cluster or sweep code.
"""

from calray.selfcal.budget import Generated
from calray.selfcal.config import METHODS, STOP_WORDS, Budget, IGSPConfig, SelfCalConfig, SGSConfig, generator_config
from calray.selfcal.generation import Decoding, generate_documents, scheduled_temperature, score_documents
from calray.selfcal.igsp import assign_dimensions, generate_igsp, perplexity_spread, select_balanced, seq_rep
from calray.selfcal.selfcal import generate_selfcal, stopword_ids
from calray.selfcal.sgs import drop_highest, generate_sgs
from calray.selfcal.store import GeneratedSet, default_name, generate_set

__all__ = [
    "METHODS",
    "STOP_WORDS",
    "Budget",
    "Decoding",
    "Generated",
    "GeneratedSet",
    "IGSPConfig",
    "SGSConfig",
    "SelfCalConfig",
    "assign_dimensions",
    "default_name",
    "drop_highest",
    "generate_documents",
    "generate_igsp",
    "generate_selfcal",
    "generate_set",
    "generate_sgs",
    "generator_config",
    "perplexity_spread",
    "scheduled_temperature",
    "score_documents",
    "select_balanced",
    "seq_rep",
    "stopword_ids",
]
