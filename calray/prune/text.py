"""One token stream from a text file, for ``calray ppl`` and held-out perplexity.

Calibration windows come from ``calray.data`` (sources, mixtures, cached windows); this
module only reads plain text, or JSON Lines with a ``text`` field, as one stream.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from calray.errors import CalrayError


def read_texts(path: str | Path) -> list[str]:
    """Documents of a ``.jsonl`` file (its ``text`` fields) or the whole of a plain-text file."""
    path = Path(path)
    if not path.is_file():
        raise CalrayError(f"text file {str(path)!r} does not exist; give a .txt or .jsonl file")
    if path.suffix != ".jsonl":
        return [path.read_text(encoding="utf-8", errors="replace")]
    texts = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CalrayError(f"{path}:{number} is not valid JSON ({exc.msg}); one JSON object per line") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                keys = sorted(record) if isinstance(record, dict) else type(record).__name__
                raise CalrayError(f"{path}:{number} has no string 'text' field (found {keys})")
            texts.append(record["text"])
    return texts


def encode(tokenizer: object, texts: list[str]) -> torch.Tensor:
    """One 1-D token stream for the documents joined by blank lines (one BOS, if any, at the start)."""
    ids = tokenizer("\n\n".join(texts), verbose=False)["input_ids"]  # type: ignore[operator]
    return torch.tensor(ids, dtype=torch.long)
