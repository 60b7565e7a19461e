"""Model names that every command and config accepts besides a directory or hub id.

- ``toy``: the shipped toy model (``calray.toy.MODEL_DIR``), trained on the generated toy
  world; what ``calray demo`` and the smoke jobs use, offline. (A local folder that happens
  to be called ``toy`` is reached as ``./toy``.)
- ``toy:small``, ``toy:base`` (= ``toy``), ``toy:large``: the toy model family
  (``calray.toy.FAMILY``: 0.53M, 2.2M and 7.9M parameters, the same world, tokenizer and
  training tokens), for scaling studies offline. Members stored in float16 are read back as
  a float32 copy in the calray cache (made once, keyed by the checkpoint's hash), so pruning
  and evaluation run in float32 whatever the storage.
- ``tiny:ARCH`` (``tiny:llama``, ``tiny:gpt2``, ...): a random tiny model of 3 decoder blocks
  with calray's byte-level tokenizer, saved once in the calray cache, for smoke tests.

>>> resolve_model("toy").endswith("calray/toy/model")
True
>>> resolve_model("path/to/model")
'path/to/model'
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

TOY = "toy"
TOY_PREFIX = "toy:"
TINY_PREFIX = "tiny:"
# Files a model directory needs to load (the card, scores and training record stay in the package).
_MODEL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")


def is_model_name(model: str | os.PathLike[str]) -> bool:
    """Whether ``model`` is one of the names above rather than a path (configs leave names
    alone when they make relative paths absolute)."""
    text = str(model)
    return text == TOY or text.startswith((TOY_PREFIX, TINY_PREFIX))


def resolve_model(model: str | os.PathLike[str]) -> str:
    """The model directory (or hub id) that ``model`` names: see the module docstring."""
    text = str(model)
    if text == TOY or text.startswith(TOY_PREFIX):
        return str(toy_model_dir(text[len(TOY_PREFIX):] if text != TOY else "base"))
    if text.startswith(TINY_PREFIX):
        from calray.data import cache_root
        from calray.tiny import save_tiny_model

        arch = text[len(TINY_PREFIX):]
        directory = cache_root() / "tiny-models" / arch
        if not (directory / "config.json").is_file():
            save_tiny_model(arch, directory)
        return str(directory)
    return text


def toy_model_dir(size: str = "base") -> Path:
    """A float32 directory of the toy family's ``size``: the shipped one when it is float32,
    else its float32 copy in ``<calray cache>/toy-models/`` (made here once, atomically)."""
    from calray.toy import FAMILY

    if size not in FAMILY:
        from calray.errors import CalrayError

        names = ", ".join(["toy", *(f"toy:{s}" for s in FAMILY)])
        raise CalrayError(f"no toy model of size {size!r}: the toy family is {names}")
    shipped = FAMILY[size]
    if json.loads((shipped / "config.json").read_text()).get("dtype", "float32") == "float32":
        return shipped
    from calray.data import cache_root

    digest = hashlib.sha256((shipped / "model.safetensors").read_bytes()).hexdigest()[:16]
    target = cache_root() / "toy-models" / f"{size}-{digest}"
    if (target / "model.safetensors").is_file():
        return target
    staging = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        upcast_checkpoint(shipped, staging)
        try:
            staging.rename(target)
        except OSError:  # another process made it first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def upcast_checkpoint(source: Path, target: Path) -> None:
    """``source``'s single-file safetensors checkpoint as float32 in ``target``, with its
    tokenizer and configs (``dtype`` set to float32). Needs no torch."""
    from safetensors.numpy import load_file, save_file

    target.mkdir(parents=True)
    tensors = {k: (v.astype("float32") if v.dtype.kind == "f" else v) for k, v in load_file(source / "model.safetensors").items()}
    save_file(tensors, target / "model.safetensors", metadata={"format": "pt"})
    for name in _MODEL_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
    config = json.loads((target / "config.json").read_text())
    config["dtype"] = "float32"
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def parameter_count(model: str | os.PathLike[str]) -> int | None:
    """Parameters of a local safetensors checkpoint, read from the files' headers (no torch, no
    weights read); a model name counts its shipped or cached checkpoint. None when there is no
    local checkpoint (a hub id not downloaded). Tied weights count once, as saved."""
    text = str(model)
    if text == TOY or text.startswith(TOY_PREFIX):
        from calray.toy import FAMILY

        directory = FAMILY.get(text[len(TOY_PREFIX):] if text != TOY else "base")
    elif text.startswith(TINY_PREFIX):
        from calray.data import cache_root

        directory = cache_root() / "tiny-models" / text[len(TINY_PREFIX):]
    else:
        directory = Path(text)
    if directory is None or not directory.is_dir():
        return None
    index = directory / "model.safetensors.index.json"
    files = sorted({directory / f for f in json.loads(index.read_text())["weight_map"].values()}) if index.is_file() else (
        [directory / "model.safetensors"] if (directory / "model.safetensors").is_file() else [])
    if not files:
        return None
    total = 0
    for path in files:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        for name, entry in header.items():
            if name != "__metadata__":
                count = 1
                for dim in entry["shape"]:
                    count *= int(dim)
                total += count
    return total
