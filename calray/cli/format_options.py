"""``--format``: the checkpoint layout of ``calray prune`` and ``calray export``."""

from __future__ import annotations

import argparse

# calray.prune.compressed.FORMATS, spelled out so that building the parser imports no torch
# (tests/prune/test_compressed.py checks that they agree).
FORMATS = ("plain", "compressed-tensors")


def add_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=FORMATS, default="plain",
        help="plain: transformers safetensors (default); compressed-tensors: the same weights with "
        "compressed-tensors' quantization_config/sparsity_config block (needs calray[export]; loads in "
        "transformers >= 5.23 only)",
    )
