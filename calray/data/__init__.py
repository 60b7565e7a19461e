"""Calibration data: sources, mixtures, deterministic token windows and information metrics.

The calls other layers need::

    from calray.data import build_calibration, register_source, Source

    calib = build_calibration(tokenizer, "c4=0.5,gsm8k=0.5", nsamples=128, seqlen=2048, seed=0)
    calib.input_ids            # (128, 2048) int64, rows grouped by source (calib.sources)

    register_source(Source(name="my:stories", dimension="general", loader=make_records))
    select_sources("toy:*")    # names of a group (here the toy world's 18), for scans

The toy world's sources (``toy:web`` ... ``toy:shuffled_code``, from ``calray.toy``) are
registered beside the hub ones, on the first lookup of a ``toy:`` name (toy_sources.py).

Layering: imports torch, transformers (tokenizers only), datasets and pyarrow; never
ray, mlflow or the evaluate / cluster / sweep layers.
"""

from calray.data import builtin as _builtin  # noqa: F401  (registers the built-in sources)
from calray.data.builtin import BUILTIN_SOURCES, commonsenseqa_text
from calray.data.cache import cache_root
from calray.data.calibration import CalibrationSet, build_calibration
from calray.data.loading import Documents, infer_format, load_documents, load_records
from calray.data.metrics import (
    MetricsLevel,
    gzip_ratio,
    information_metrics,
    ngram_diversity,
    repetition,
    seq_rep_n,
    type_token_ratio,
    unigram_entropy,
    vocab_coverage,
    window_mean_perplexity,
    zipf_coefficient,
)
from calray.data.mixture import Mixture, allocate, parse_mixture
from calray.data.sources import (
    DIMENSIONS,
    SAMPLING_METHODS,
    FileOrigin,
    HubOrigin,
    Source,
    get_source,
    register_source,
    select_sources,
    source_names,
    unregister_source,
)
from calray.data.sources_file import file_source, load_sources_file, path_source, use_sources_file
from calray.data.tokenizer import load_tokenizer, tokenizer_fingerprint
from calray.data.windows import source_windows

__all__ = [
    "MetricsLevel",
    "BUILTIN_SOURCES",
    "DIMENSIONS",
    "SAMPLING_METHODS",
    "CalibrationSet",
    "Documents",
    "FileOrigin",
    "HubOrigin",
    "Mixture",
    "Source",
    "allocate",
    "build_calibration",
    "cache_root",
    "commonsenseqa_text",
    "get_source",
    "gzip_ratio",
    "infer_format",
    "information_metrics",
    "load_documents",
    "load_records",
    "file_source",
    "load_sources_file",
    "load_tokenizer",
    "ngram_diversity",
    "parse_mixture",
    "path_source",
    "window_mean_perplexity",
    "register_source",
    "repetition",
    "select_sources",
    "seq_rep_n",
    "source_names",
    "source_windows",
    "tokenizer_fingerprint",
    "type_token_ratio",
    "unigram_entropy",
    "unregister_source",
    "use_sources_file",
    "vocab_coverage",
    "zipf_coefficient",
]
