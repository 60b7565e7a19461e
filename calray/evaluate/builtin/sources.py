"""Where built-in tasks read their items: local files (configured) or the Hugging Face hub.

``LocalData`` maps tasks to local files. ``root`` is a folder laid out like the offline kit
(``shared/data``: ``arc/ARC-Easy-Test.jsonl``, ``mmlu/test/*.csv`` ...); ``files`` names a file
or folder per task and wins over ``root``. A task with neither reads its Hugging Face dataset
(lm-eval's ids), which needs the network.

```yaml
root: /data/eval-kit
files: {gsm8k: /data/gsm8k/test.jsonl}
```
"""

from __future__ import annotations

import bz2
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from calray.config import StrictModel, load_config
from calray.errors import CalrayError


class LocalData(StrictModel):
    """Task -> local file mapping (see module docstring)."""

    root: Path | None = None
    files: dict[str, Path] = {}

    def path(self, task: str, default: str) -> Path | None:
        """The configured path of ``task`` (``default`` is its place under ``root``), or None."""
        if task in self.files:
            path = self.files[task]
        elif self.root is not None:
            path = self.root / default
        else:
            return None
        if not path.exists():
            raise CalrayError(
                f"local data for task {task!r} not found at {str(path)!r}; fix LocalData root/files or remove it to use the hub"
            )
        return path


def load_local_data(path: str | Path) -> LocalData:
    return load_config(LocalData, path)


def open_text(path: Path) -> Any:
    """Open a text file in text mode (CRLF -> LF), transparently through gzip or bzip2."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    if path.suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open_text(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def hub_rows(task: str, path: str, name: str | None, split: str) -> list[dict[str, Any]]:
    """Rows of a Hugging Face dataset split; a clear error when offline and nothing is local."""
    try:
        import datasets

        return list(datasets.load_dataset(path, name, split=split))
    except Exception as exc:  # noqa: BLE001 - any hub failure has the same fix
        raise CalrayError(
            f"task {task!r}: no local file configured and the Hugging Face dataset {path!r} ({name}, {split}) "
            f"could not be loaded ({type(exc).__name__}: {str(exc)[:200]}); configure LocalData (--data DIR)"
        ) from None


def rows(task: str, data: LocalData | None, default: str, hub: tuple[str, str | None, str]) -> tuple[list[dict[str, Any]], bool]:
    """(rows, is_local): JSON Lines from the local file when configured, else the hub split."""
    path = data.path(task, default) if data is not None else None
    if path is not None:
        return read_jsonl(path), True
    return hub_rows(task, *hub), False


def chunks(lines: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(lines), size):
        yield lines[i : i + size]
