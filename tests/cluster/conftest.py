"""Tiny checkpoints on disk (one file and sharded), the tiny world, and one torch thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calray.tiny import save_tiny_model, tiny_model

from .helpers import register_tiny_world, unregister_tiny_world


@pytest.fixture(scope="package", autouse=True)
def tiny_world() -> Iterator[None]:
    """The tiny sources, tasks and map, registered while this package's tests run."""
    register_tiny_world()
    yield
    unregister_tiny_world()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 3-block Llama and its byte tokenizer, as one safetensors file."""
    return save_tiny_model("llama", tmp_path_factory.mktemp("tiny-llama"), num_blocks=3)


@pytest.fixture(scope="session")
def sharded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model saved as a sharded checkpoint (model.safetensors.index.json + files)."""
    from calray.tiny import tiny_tokenizer

    directory = tmp_path_factory.mktemp("tiny-llama-sharded")
    tiny_model("llama", num_hidden_layers=3).save_pretrained(directory, max_shard_size="20KB")
    tiny_tokenizer().save_pretrained(directory)
    assert (directory / "model.safetensors.index.json").is_file()
    return directory

