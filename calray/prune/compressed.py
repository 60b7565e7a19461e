"""The compressed-tensors checkpoint layout (llm-compressor's and vLLM's) for a pruned model.

``save_pruned(..., format="compressed-tensors")`` writes the model as transformers does and
adds the ``quantization_config`` block that compressed-tensors readers look for, with a
``sparsity_config`` built by compressed-tensors' own config classes: the structure ("2:4",
"unstructured" or "n:m"), the sparsity over the whole model, the targeted layer type and the
linears left dense (``ignore``).

The weights are stored dense (sparsity format ``dense``). The compressed sparse storage
formats (``sparse-bitmask``, ``sparse-24-bitmask``) were removed from compressed-tensors in
0.15, the first release that runs with transformers 5, and vLLM dropped its 2:4 (Sparse24)
kernels; no transformers-5 reader of a bitmask checkpoint exists. So the export is the size
of the plain one (``benchmarks/export_size.py``). It loads back to the same logits in
transformers >= 5.23 with compressed-tensors installed; transformers 5.17 to 5.22 refuse a
``quantization_config`` without quantization groups (their loader reads ``config_groups``
of None), so for them, and for llm-compressor 0.14 which pins 5.17, export ``plain``: that
is what llm-compressor 0.14 itself writes for a sparse-only model. The extra ``export``
installs compressed-tensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from calray.errors import CalrayError
from calray.prune.report import PruningReport

FORMATS = ("plain", "compressed-tensors")


def require_compressed_tensors() -> Any:
    """The ``compressed_tensors`` module, or a user error saying how to install it."""
    try:
        import compressed_tensors
    except ImportError:
        raise CalrayError("--format compressed-tensors needs the compressed-tensors library: "
                          "pip install 'calray[export]'") from None
    return compressed_tensors


def check_format(format: str) -> None:
    """Refuse an unknown format, or compressed-tensors without its library, before any work."""
    if format not in FORMATS:
        raise CalrayError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "compressed-tensors":
        require_compressed_tensors()


def sparsity_structure(report: PruningReport) -> str:
    """compressed-tensors' name for the report's target: "2:4", "unstructured", or "n:m"."""
    n_m = report.config.get("n_m")
    return f"{n_m[0]}:{n_m[1]}" if n_m else "unstructured"


def sparsity_config(model: torch.nn.Module, report: PruningReport) -> dict[str, Any]:
    """The ``sparsity_config`` block: compressed-tensors' dense-storage config for ``model``."""
    from compressed_tensors.config import CompressionFormat, SparsityCompressionConfig

    pruned = {r.name for r in report.linears}
    dense_linears = sorted(name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and name not in pruned)
    params = list(model.parameters())
    zeros = sum(int((p == 0).sum()) for p in params)
    config = SparsityCompressionConfig.load_from_registry(
        CompressionFormat.dense.value,
        targets=["Linear"],
        ignore=dense_linears,
        global_sparsity=zeros / sum(p.numel() for p in params),
        sparsity_structure=sparsity_structure(report),
    )
    return config.model_dump(exclude={"registry_requires_subclass"})


def write_compressed_tensors_config(model: torch.nn.Module, report: PruningReport, directory: str | Path) -> None:
    """Add the compressed-tensors ``quantization_config`` (no quantization, the sparsity
    config) to the ``config.json`` that ``save_pretrained`` wrote into ``directory``."""
    ct = require_compressed_tensors()
    from compressed_tensors.base import (
        COMPRESSION_VERSION_NAME,
        QUANTIZATION_CONFIG_NAME,
        QUANTIZATION_METHOD,
        QUANTIZATION_METHOD_NAME,
        SPARSITY_CONFIG_NAME,
    )
    from compressed_tensors.config import CompressionFormat

    path = Path(directory) / "config.json"
    config = json.loads(path.read_text())
    config[QUANTIZATION_CONFIG_NAME] = {
        QUANTIZATION_METHOD_NAME: QUANTIZATION_METHOD,
        COMPRESSION_VERSION_NAME: ct.__version__,
        "format": CompressionFormat.dense.value,
        SPARSITY_CONFIG_NAME: sparsity_config(model, report),
    }
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
