"""Checks of the options many commands share, run before any command starts, so that a bad
value fails in a second as one line instead of as a traceback after the work: devices, dtypes,
batch sizes, and the model directories of the commands that load weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from calray.errors import CalrayError
from calray.models import is_model_name

# The options naming a model whose weights the command loads (``calib`` reads only a tokenizer).
WEIGHT_OPTIONS = {"prune": ("model",), "ppl": ("model",), "eval": ("model", "dense"), "metrics": ("model",),
                  "selfcal": ("model",)}
# Commands that load through the pruning adapters: an unsupported architecture is said first.
ADAPTED = {"prune", "ppl"}


def check_device(device: str, option: str = "--device") -> None:
    """``device`` names a device torch can use here (a CUDA index below the GPU count)."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise CalrayError(f"{option}: unknown device {device!r}; use cpu or cuda (cuda:0, ...)") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise CalrayError(f"{option} {device}: torch sees no CUDA device here; use {option} cpu")
        if parsed.index is not None and parsed.index >= count:
            raise CalrayError(f"{option} {device}: torch sees {count} CUDA device(s), cuda:0 to cuda:{count - 1}")


def check_options(args: argparse.Namespace) -> None:
    for name in ("device", "storage_device"):
        value = getattr(args, name, None)
        if isinstance(value, str):
            check_device(value, "--" + name.replace("_", "-"))
    dtype = getattr(args, "dtype", None)
    if isinstance(dtype, str):
        from calray.prune.model_io import torch_dtype

        torch_dtype(dtype)
    batch_size = getattr(args, "batch_size", None)
    if isinstance(batch_size, int) and batch_size < 1:
        raise CalrayError(f"--batch-size must be at least 1, got {batch_size}")
    command = getattr(args, "command", "")
    for option in WEIGHT_OPTIONS.get(command, ()):
        value = getattr(args, option, None)
        if value and not is_model_name(value):  # calray's own models (toy, tiny:) are built whole
            from calray.models import resolve_model
            from calray.prune.model_io import check_model_dir, load_config

            directory = Path(resolve_model(value)).expanduser()
            if directory.is_dir():
                if command in ADAPTED:
                    load_config(str(directory))
                check_model_dir(directory, value)
