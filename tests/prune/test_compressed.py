"""The compressed-tensors export: its sparsity_config, and a round trip through transformers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from packaging.version import Version
from transformers import AutoModelForCausalLM

from calray.cli import main
from calray.cli.format_options import FORMATS as CLI_FORMATS
from calray.errors import CalrayError
from calray.models import resolve_model
from calray.prune import METHODS, Target, load_pretrained, prune_model, save_pruned
from calray.prune.compressed import FORMATS

pytest.importorskip("compressed_tensors")
# transformers 5.17-5.22 cannot load a compressed-tensors config without quantization groups
# (calray/prune/compressed.py); the round trips need 5.23+, which the constraints pin.
loads_back = pytest.mark.skipif(Version(transformers.__version__) < Version("5.23"),
                                reason="transformers < 5.23 cannot load a sparsity-only compressed-tensors config")


def logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


def test_the_cli_offers_the_formats_save_pruned_writes():
    assert CLI_FORMATS == FORMATS


@loads_back
def test_toy_unstructured_export_loads_back_with_identical_logits(tmp_path: Path):
    model, tokenizer = load_pretrained(resolve_model("toy"))
    ids = torch.randint(4, model.config.vocab_size, (8, 64), generator=torch.Generator().manual_seed(0))
    report = prune_model(model, ids, METHODS.get("sparsegpt"), Target(sparsity=0.6), config={"n_m": None})
    expected = logits(model, ids[:2])

    save_pruned(model, tokenizer, report, tmp_path / "plain")
    save_pruned(model, tokenizer, report, tmp_path / "ct", format="compressed-tensors")
    assert "quantization_config" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    block = json.loads((tmp_path / "ct" / "config.json").read_text())["quantization_config"]
    assert block["quant_method"] == "compressed-tensors" and block["format"] == "dense"
    sparsity = block["sparsity_config"]
    assert sparsity["sparsity_structure"] == "unstructured" and sparsity["targets"] == ["Linear"]
    assert sparsity["ignore"] == ["lm_head"]  # the only linear left dense
    pruned_share = report.totals()["parameters"] / sum(p.numel() for p in model.parameters())
    assert sparsity["global_sparsity"] == pytest.approx(0.6 * pruned_share, abs=0.01)

    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ct").eval()
    assert type(loaded.config.quantization_config).__name__ == "CompressedTensorsConfig"
    assert torch.equal(logits(loaded, ids[:2]), expected)


@loads_back
def test_cli_two_four_export_of_a_tiny_model_loads_back_with_identical_logits(tmp_path: Path, capsys):
    calib = tmp_path / "calib.txt"
    calib.write_text(" ".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(40)))
    args = ["prune", "--model", "tiny:llama", "--calib", str(calib), "--nsamples", "4", "--seqlen", "32",
            "--method", "sparsegpt", "--n-m", "2:4"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--out", str(tmp_path / "ct"), "--format", "compressed-tensors"]) == 0
    sparsity = json.loads((tmp_path / "ct" / "config.json").read_text())["quantization_config"]["sparsity_config"]
    assert sparsity["sparsity_structure"] == "2:4"

    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "plain").eval()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ct").eval()
    weight = loaded.model.layers[0].mlp.down_proj.weight
    assert bool((weight.reshape(-1, 4) != 0).sum(dim=1).le(2).all())  # 2:4 survives the round trip
    ids = torch.arange(4, 36).unsqueeze(0)
    assert torch.equal(logits(loaded, ids), logits(plain, ids))


def test_an_unknown_format_is_refused(tmp_path: Path):
    with pytest.raises(CalrayError, match="unknown export format 'bitmask'"):
        save_pruned(None, None, None, tmp_path, format="bitmask")  # type: ignore[arg-type]
