"""Loading a causal LM to prune, and saving the pruned one with its report.

Loading checks the architecture from the config alone, before any weight is read, so an
unsupported model fails in a second with the list of supported ones; a directory with an
invalid config.json, no weights or a truncated or corrupt safetensors file fails as fast,
with one line naming the file (``check_model_dir``). A source that is not a
directory is tried as a Hugging Face hub id; offline that fails, and the message says both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PretrainedConfig, PreTrainedModel

from calray.atomic import atomic_dir
from calray.errors import CalrayError
from calray.prune.adapters import check_supported
from calray.prune.compressed import check_format, write_compressed_tensors_config
from calray.prune.report import PruningReport

# What the hub accepts as a repo id: "name" or "namespace/name".
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")

DEFAULT_MAX_SEQLEN = 2048


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _not_found(source: str, why: str) -> CalrayError:
    return CalrayError(
        f"model {source!r} is neither a directory nor reachable on the Hugging Face hub ({why}); "
        "give a local model directory (with config.json) or a hub id with network access"
    )


def check_model_dir(path: Path, source: str, *, weights: bool = True) -> None:
    """A CalrayError for what transformers would fail on with a traceback: a missing or invalid
    config.json and, with ``weights``, no weight file or a safetensors file whose header is
    corrupt or promises more bytes than the file holds (truncated, empty)."""
    config = path / "config.json"
    if not config.is_file():
        raise CalrayError(f"directory {source!r} has no config.json, so it is not a Hugging Face model directory")
    try:
        data = json.loads(config.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalrayError(f"model {source!r}: config.json is not valid JSON ({exc}); re-save or re-download the model") from None
    if not isinstance(data, dict):
        raise CalrayError(f"model {source!r}: config.json holds a {type(data).__name__}, not a mapping of settings")
    if not weights:
        return
    files = sorted(path.glob("*.safetensors"))
    if not files and not any(path.glob("pytorch_model*.bin")):
        raise CalrayError(f"model {source!r} has no weights: no *.safetensors (or pytorch_model*.bin) file in {str(path)!r}")
    for file in files:
        try:
            with safe_open(file, framework="pt"):
                pass
        except (SafetensorError, OSError) as exc:
            raise CalrayError(
                f"model {source!r}: {file.name} ({file.stat().st_size} bytes) is truncated or corrupt "
                f"({_first_line(exc)}); re-save or re-download it"
            ) from None


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype called ``name`` (float32, bfloat16, ...)."""
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise CalrayError(f"unknown dtype {name!r}; use a torch dtype name such as float32, bfloat16 or float16")
    return value


def load_causal_lm(source: str, *, dtype: str | torch.dtype = "auto") -> PreTrainedModel:
    """The model of a directory (its files checked first) or hub id; what transformers still
    refuses (weights that do not fit the config, ...) becomes one line too."""
    path = Path(source).expanduser()
    if path.is_dir():
        check_model_dir(path, source)
    try:
        return AutoModelForCausalLM.from_pretrained(str(path) if path.is_dir() else source, dtype=dtype)
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise CalrayError(f"cannot load model {source!r}: {_first_line(exc)}") from None


def load_config(source: str) -> PretrainedConfig:
    """The config of a local directory or hub id, checked to be a supported architecture."""
    path = Path(source).expanduser()
    if path.is_dir():
        check_model_dir(path, source, weights=False)
        try:
            config = AutoConfig.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise CalrayError(f"model {source!r}: config.json is not a transformers config ({_first_line(exc)})") from None
    elif not _HUB_ID.match(source) or path.exists():
        raise _not_found(source, "no such directory, and not a hub id of the form 'name' or 'owner/name'")
    else:
        try:
            config = AutoConfig.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise _not_found(source, f"no such directory; the hub said: {_first_line(exc)}") from exc
    check_supported(config, source=source)
    return config


def load_pretrained(source: str, *, dtype: str = "auto") -> tuple[PreTrainedModel, object]:
    """``(model, tokenizer)`` from a directory or hub id, the model in eval mode on the CPU."""
    load_config(source)
    where = str(Path(source).expanduser()) if Path(source).expanduser().is_dir() else source
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
    except (OSError, ValueError) as exc:
        raise CalrayError(f"model {source!r} has no usable tokenizer ({exc}); save one beside the model") from exc
    return load_causal_lm(source, dtype=dtype).eval(), tokenizer


def resolve_seqlen(seqlen: int | None, config: PretrainedConfig, *, cap: int = DEFAULT_MAX_SEQLEN) -> int:
    """``seqlen`` if given (and within the model's context), else the context capped at ``cap``.

    Taking a 128k ``max_position_embeddings`` as the calibration length is a classic
    out-of-memory; the cap keeps the SparseGPT default of 2048 tokens.
    """
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if seqlen is None:
        return min(cap, context) if context else cap
    if seqlen < 2:
        raise CalrayError(f"seqlen must be at least 2 tokens, got {seqlen}")
    if context and seqlen > context:
        raise CalrayError(f"seqlen {seqlen} exceeds the model's context of {context} tokens; use --seqlen <= {context}")
    return seqlen


def save_pruned(
    model: PreTrainedModel, tokenizer: object, report: PruningReport, directory: str | Path, *, overwrite: bool = False,
    format: str = "plain",
) -> Path:
    """Write the model (safetensors), its tokenizer and ``pruning_report.json`` to ``directory``;
    ``format="compressed-tensors"`` adds the compressed-tensors sparsity metadata (compressed.py).

    The files are written to a hidden sibling renamed into place when all are complete, so a
    kill or a full disk leaves the previous directory (or none), never a partial one. A
    non-empty ``directory`` is refused unless ``overwrite`` (then it is replaced whole).
    """
    check_format(format)
    with atomic_dir(directory, overwrite=overwrite) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        if format == "compressed-tensors":
            write_compressed_tensors_config(model, report, tmp)
        tokenizer.save_pretrained(tmp)  # type: ignore[attr-defined]
        report.save(tmp)
    return Path(directory)
