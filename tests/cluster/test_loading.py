"""Partial loading: a shard materialises exactly its slice, read key by key from the checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from calray.cluster import checkpoint_files, load_shard, loading, partition
from calray.errors import CalrayError
from calray.prune import adapter_for
from calray.tiny import TINY_CONFIGS, save_tiny_model, tiny_model


class Spy:
    """Wraps ``safe_open`` to record which files are opened and which tensors are read."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.read: list[str] = []

    def __call__(self, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        spy, handle = self, safe_open(path, *args, **kwargs)
        self.opened.append(Path(path).name)

        class Handle:
            def __enter__(self):  # type: ignore[no-untyped-def]
                handle.__enter__()
                return self

            def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                return handle.__exit__(*exc)

            def get_tensor(self, key):  # type: ignore[no-untyped-def]
                spy.read.append(key)
                return handle.get_tensor(key)

            def keys(self):  # type: ignore[no-untyped-def]
                return handle.keys()

        return Handle()


def expected_keys(model: torch.nn.Module, start: int, stop: int, ends: dict[str, list[str]]) -> set[str]:
    prefix = adapter_for(model).blocks_path
    keys = {n for n, _ in model.named_parameters() if any(n.startswith(f"{prefix}.{i}.") for i in range(start, stop))}
    if start == 0:
        keys |= set(ends["first"])
    if stop == len(adapter_for(model).blocks):
        keys |= set(ends["last"])
    return keys


# What each family's first stage (embeddings) and last stage (final norm + head) read from
# its checkpoint: tied heads read the input embedding; GPT-NeoX stores its head as embed_out.
ENDS = {
    "llama": {"first": ["model.embed_tokens.weight"], "last": ["model.norm.weight", "lm_head.weight"]},
    "gemma": {"first": ["model.embed_tokens.weight"], "last": ["model.norm.weight", "model.embed_tokens.weight"]},
    "gpt_neox": {"first": ["gpt_neox.embed_in.weight"],
                 "last": ["gpt_neox.final_layer_norm.weight", "gpt_neox.final_layer_norm.bias", "embed_out.weight"]},
    "opt": {"first": ["model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight"],
            "last": ["model.decoder.final_layer_norm.weight", "model.decoder.final_layer_norm.bias",
                     "model.decoder.embed_tokens.weight"]},
    "gpt2": {"first": ["transformer.wte.weight", "transformer.wpe.weight"],
             "last": ["transformer.ln_f.weight", "transformer.ln_f.bias", "transformer.wte.weight"]},
}


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_each_stage_holds_exactly_its_slice(arch, tmp_path, monkeypatch):
    save_tiny_model(arch, tmp_path, num_blocks=3)
    full = tiny_model(arch, **({"n_layer": 3} if arch == "gpt2" else {"num_hidden_layers": 3}))
    params = dict(full.named_parameters(remove_duplicate=False))
    buffers = dict(full.named_buffers())
    ends = ENDS.get(arch, ENDS["gemma"] if arch.startswith("gemma") else ENDS["llama"])
    for start, stop in partition(3, 3):
        spy = Spy()
        monkeypatch.setattr(loading, "safe_open", spy)
        shard = load_shard(tmp_path, start, stop)
        assert set(spy.read) == expected_keys(full, start, stop, ends), (start, stop)
        assert len(spy.read) == len(set(spy.read))  # a tied tensor is read once
        for name, p in shard.model.named_parameters(remove_duplicate=False):
            if p.device.type != "meta":
                assert torch.equal(p, params[name]), name
        for block in shard.blocks:
            assert all(p.device.type == "cpu" for p in block.parameters())
        others = [b for i, b in enumerate(adapter_for(shard.model).blocks) if not start <= i < stop]
        assert all(p.device.type == "meta" for b in others for p in b.parameters())
        for name, b in shard.model.named_buffers():  # rotary inv_freq etc.: computed, not left on meta
            assert b.device.type == "cpu" and torch.equal(b, buffers[name]), name


def test_a_sharded_checkpoint_opens_only_the_files_it_needs(sharded_dir, monkeypatch):
    files = checkpoint_files(sharded_dir)
    assert len(set(files.values())) > 3
    spy = Spy()
    monkeypatch.setattr(loading, "safe_open", spy)
    shard = load_shard(sharded_dir, 1, 2)
    wanted = {k for k in files if k.startswith("model.layers.1.")}
    assert set(spy.read) == wanted == set(shard.tensors_read)
    assert set(spy.opened) == {files[k].name for k in wanted}
    reference = tiny_model("llama", num_hidden_layers=3)
    for name, p in shard.blocks[0].named_parameters():
        assert torch.equal(p, reference.get_parameter(f"model.layers.1.{name}"))


def test_a_directory_without_safetensors_is_refused(tmp_path):
    model = tiny_model("llama")
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # a legacy pickle checkpoint
    with pytest.raises(CalrayError, match="safetensors"):
        load_shard(tmp_path, 0, 1)


def test_block_ranges_outside_the_model_are_refused(tiny_dir):
    with pytest.raises(CalrayError, match=r"block range \[2, 5\)"):
        load_shard(tiny_dir, 2, 5)
    with pytest.raises(CalrayError, match="cannot split 3 decoder blocks into 4 stages"):
        partition(3, 4)
