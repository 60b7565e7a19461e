"""Calibration windows from one text file: the stand-in until calray.data's sources and mixtures.

``calibration_windows`` reads plain text, or JSON Lines with a ``text`` field, tokenises it
once and draws ``nsamples`` distinct windows of ``seqlen`` tokens at random (seeded), the
way SparseGPT samples its calibration set. It is the only function the CLI calls for
calibration data, so replacing it is one line.
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


def sample_windows(
    tokens: torch.Tensor, *, nsamples: int, seqlen: int, seed: int, source: str = "the text"
) -> torch.Tensor:
    """``nsamples`` distinct, non-overlapping windows (nsamples, seqlen) drawn at random with ``seed``."""
    if nsamples < 1 or seqlen < 1:
        raise CalrayError(f"nsamples and seqlen must be positive, got nsamples={nsamples}, seqlen={seqlen}")
    available = tokens.numel() // seqlen
    if available < nsamples:
        raise CalrayError(
            f"{source} has {tokens.numel()} tokens, enough for {available} windows of {seqlen} tokens, "
            f"but {nsamples} were asked for; give more text, or lower --nsamples or --seqlen"
        )
    generator = torch.Generator().manual_seed(seed)
    offset = int(torch.randint(0, tokens.numel() - available * seqlen + 1, (1,), generator=generator))
    chosen = torch.randperm(available, generator=generator)[:nsamples]
    return tokens[offset : offset + available * seqlen].view(available, seqlen)[chosen].clone()


def calibration_windows(
    path: str | Path, tokenizer: object, *, nsamples: int, seqlen: int, seed: int = 0
) -> torch.Tensor:
    """Token windows (nsamples, seqlen) from a .txt or .jsonl file."""
    tokens = encode(tokenizer, read_texts(path))
    return sample_windows(tokens, nsamples=nsamples, seqlen=seqlen, seed=seed, source=str(path))
