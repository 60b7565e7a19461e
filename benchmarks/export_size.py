"""Size on disk of a pruned model in each export format, side by side.

    python benchmarks/export_size.py                       # toy and toy:large, 60% unstructured
    python benchmarks/export_size.py --models toy --n-m 2:4

Prunes each model once (magnitude: the size depends only on how many weights are zero),
saves it with ``--format plain`` and ``--format compressed-tensors`` and measures both
folders. The last column is what compressed-tensors' bitmask layout (sparse-bitmask /
sparse-24-bitmask: the nonzero values, a packed bitmask and row offsets per pruned linear,
the rest as is) would hold, computed with compressed-tensors' own ``pack_bitmasks`` on the
pruned weights; calray does not write that layout, because no transformers-5 release of
compressed-tensors (>= 0.15) reads it back.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import calray
from calray.format import format_table
from calray.prune import save_pruned


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bitmask_bytes(model: torch.nn.Module, pruned: set[str]) -> int:
    """Parameter bytes with every pruned linear's weight in the bitmask layout."""
    from compressed_tensors.utils import pack_bitmasks

    total = 0
    for name, param in model.named_parameters():
        module = name.rsplit(".", 1)[0]
        if name.endswith(".weight") and module in pruned:
            nonzero = param != 0
            total += int(nonzero.sum()) * param.element_size() + pack_bitmasks(nonzero).numel() + 4 * param.shape[0]
        else:
            total += param.numel() * param.element_size()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["toy", "toy:large"])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--sparsity", type=float, default=None)
    target.add_argument("--n-m", default=None)
    args = parser.parse_args()
    sparsity = 0.6 if args.sparsity is None and args.n_m is None else args.sparsity
    rows = []
    for name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            pruned = calray.oneshot(model=name, calibration="toy:web=1", method="magnitude", sparsity=sparsity,
                                    n_m=args.n_m, seqlen=16, layer_errors=False)
            sizes = {}
            for fmt in ("plain", "compressed-tensors"):
                folder = save_pruned(pruned.model, pruned.tokenizer, pruned.report, Path(tmp) / fmt, format=fmt)
                sizes[fmt] = folder_bytes(folder)
            weights = sum(p.numel() * p.element_size() for p in pruned.model.parameters())
            packed = bitmask_bytes(pruned.model, {r.name for r in pruned.report.linears})
            rows.append([name, str(pruned.report.config["target"]), f"{sizes['plain'] / 1e6:.2f} MB",
                         f"{sizes['compressed-tensors'] / 1e6:.2f} MB ({sizes['compressed-tensors'] / sizes['plain']:.3f}x)",
                         f"{weights / 1e6:.2f} MB", f"{packed / 1e6:.2f} MB ({packed / weights:.3f}x)"])
    print(format_table(["model", "target", "plain folder", "compressed-tensors folder", "weights (dense)",
                        "weights as bitmask (not written)"], rows))


if __name__ == "__main__":
    main()
