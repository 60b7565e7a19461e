"""Loading a causal LM to prune, and saving the pruned one with its report.

Loading checks the architecture from the config alone, before any weight is read, so an
unsupported model fails in a second with the list of supported ones. A source that is not a
directory is tried as a Hugging Face hub id; offline that fails, and the message says both.
"""

from __future__ import annotations

import re
from pathlib import Path

from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PretrainedConfig, PreTrainedModel

from calray.errors import CalrayError
from calray.prune.adapters import check_supported
from calray.prune.compressed import check_format, write_compressed_tensors_config
from calray.prune.report import PruningReport

# What the hub accepts as a repo id: "name" or "namespace/name".
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")

DEFAULT_MAX_SEQLEN = 2048


def _not_found(source: str, why: str) -> CalrayError:
    return CalrayError(
        f"model {source!r} is neither a directory nor reachable on the Hugging Face hub ({why}); "
        "give a local model directory (with config.json) or a hub id with network access"
    )


def load_config(source: str) -> PretrainedConfig:
    """The config of a local directory or hub id, checked to be a supported architecture."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CalrayError(f"directory {source!r} has no config.json, so it is not a Hugging Face model directory")
        config = AutoConfig.from_pretrained(path)
    elif not _HUB_ID.match(source) or path.exists():
        raise _not_found(source, "no such directory, and not a hub id of the form 'name' or 'owner/name'")
    else:
        try:
            config = AutoConfig.from_pretrained(source)
        except (OSError, ValueError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _not_found(source, f"no such directory; the hub said: {first_line}") from exc
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
    model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype)
    return model.eval(), tokenizer


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
    model: PreTrainedModel, tokenizer: object, report: PruningReport, directory: str | Path, *, format: str = "plain"
) -> Path:
    """Write the model (safetensors), its tokenizer and ``pruning_report.json`` to ``directory``;
    ``format="compressed-tensors"`` adds the compressed-tensors sparsity metadata (compressed.py)."""
    check_format(format)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    if format == "compressed-tensors":
        write_compressed_tensors_config(model, report, out)
    tokenizer.save_pretrained(out)  # type: ignore[attr-defined]
    report.save(out)
    return out
