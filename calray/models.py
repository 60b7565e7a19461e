"""Model names that every command and config accepts besides a directory or hub id.

- ``toy``: the shipped toy model (``calray.toy.MODEL_DIR``), trained on the generated toy
  world; what ``calray demo`` and the smoke jobs use, offline. (A local folder that happens
  to be called ``toy`` is reached as ``./toy``.)
- ``tiny:ARCH`` (``tiny:llama``, ``tiny:gpt2``, ...): a random tiny model of 3 decoder blocks
  with calray's byte-level tokenizer, saved once in the calray cache, for smoke tests.

>>> resolve_model("toy").endswith("calray/toy/model")
True
>>> resolve_model("path/to/model")
'path/to/model'
"""

from __future__ import annotations

import os

TOY = "toy"
TINY_PREFIX = "tiny:"


def is_model_name(model: str | os.PathLike[str]) -> bool:
    """Whether ``model`` is one of the names above rather than a path (configs leave names
    alone when they make relative paths absolute)."""
    text = str(model)
    return text == TOY or text.startswith(TINY_PREFIX)


def resolve_model(model: str | os.PathLike[str]) -> str:
    """The model directory (or hub id) that ``model`` names: see the module docstring."""
    text = str(model)
    if text == TOY:
        from calray.toy import MODEL_DIR

        return str(MODEL_DIR)
    if text.startswith(TINY_PREFIX):
        from calray.data import cache_root
        from calray.tiny import save_tiny_model

        arch = text[len(TINY_PREFIX):]
        directory = cache_root() / "tiny-models" / arch
        if not (directory / "config.json").is_file():
            save_tiny_model(arch, directory)
        return str(directory)
    return text
