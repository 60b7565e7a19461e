"""Block adapters: where a causal LM keeps its decoder blocks, embeddings, final norm and head.

An adapter lets the driver run a model as ``embed -> block_0 ... block_{L-1} -> head`` with
each block called alone (``BlockArgs`` builds its arguments), which is what layer-by-layer
pruning and a pipeline of shards need. Families are grouped by capability, not by class name:
every rotary decoder of the Llama family (Llama, Mistral, Qwen2/3, Gemma/Gemma2) and GPT-NeoX
use transformers' own ``rotary_emb`` and masks; OPT and GPT-2 add learned positions at the
embedding. ``ADAPTERS`` maps a config's ``model_type`` to its family.

>>> from calray.tiny import tiny_model
>>> adapter = adapter_for(tiny_model("gpt2"))
>>> len(adapter.blocks), adapter.blocks_path
(2, 'transformer.h')
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from calray.errors import CalrayError
from calray.prune.block_args import BlockArgs, BlockArgsFn, padded_position_ids
from calray.registry import Registry


class BlockAdapter:
    """The stages of one decoder-only model around its blocks. Subclasses name the modules."""

    model_types: ClassVar[tuple[str, ...]] = ()
    blocks_path: ClassVar[str]  # from the *ForCausalLM module to its nn.ModuleList of blocks

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model

    @property
    def config(self) -> PretrainedConfig:
        return self.model.config

    @property
    def blocks(self) -> nn.ModuleList:
        blocks = self.model.get_submodule(self.blocks_path)
        assert isinstance(blocks, nn.ModuleList), type(blocks)
        return blocks

    def block_args(self) -> BlockArgs:
        """The picklable builder of every block's keyword arguments."""
        return BlockArgs.for_block(self.config, self.blocks[0])

    def embed(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Token ids (batch, seq) -> the first block's hidden states (batch, seq, hidden).

        ``position_ids`` (batch, seq) number the tokens of left-padded rows (``padded_position_ids``);
        only models with learned positions read them here (rotary ones get them per block).
        """
        raise NotImplementedError

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The last block's output (batch, seq, hidden) -> logits (batch, seq, vocab)."""
        raise NotImplementedError

    def _lm_head(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.model.get_output_embeddings()(hidden)
        softcap = getattr(self.config, "final_logit_softcapping", None)  # Gemma2
        if softcap is not None:
            logits = torch.tanh(logits / softcap) * softcap
        return logits

    @torch.no_grad()
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits computed stage by stage, each block called alone: the driver's view of the model.

        ``attention_mask`` (batch, seq) marks the real tokens of left-padded rows; the result
        then equals the model's own forward given that mask and ``generate``'s position ids.
        """
        args: BlockArgsFn
        if attention_mask is None:
            hidden, args = self.embed(input_ids), self.block_args()
        else:
            hidden = self.embed(input_ids, padded_position_ids(attention_mask))
            args = self.block_args().padded(attention_mask)
        for index, block in enumerate(self.blocks):
            hidden = call_block(block, hidden, args(hidden, index))
        return self.head(hidden)


def call_block(block: nn.Module, hidden: torch.Tensor, kwargs: dict[str, object]) -> torch.Tensor:
    """Run one decoder block; older blocks return a tuple whose first item is the hidden states."""
    out = block(hidden, **kwargs)
    return out[0] if isinstance(out, tuple) else out


ADAPTERS: Registry[type[BlockAdapter]] = Registry("architecture")


def _register(cls: type[BlockAdapter]) -> type[BlockAdapter]:
    for model_type in cls.model_types:
        ADAPTERS.register(model_type, cls)
    return cls


@_register
class RotaryDecoderAdapter(BlockAdapter):
    """Llama-family decoders: token embeddings, rotary blocks, a final norm, the LM head."""

    model_types: ClassVar[tuple[str, ...]] = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2")
    blocks_path = "model.layers"
    base_path: ClassVar[str] = "model"
    embed_name: ClassVar[str] = "embed_tokens"  # Gemma's scales by sqrt(hidden) itself
    norm_name: ClassVar[str] = "norm"

    @property
    def base(self) -> nn.Module:
        return self.model.get_submodule(self.base_path)

    def block_args(self) -> BlockArgs:
        return BlockArgs.for_block(self.config, self.blocks[0], rotary_emb=self.base.rotary_emb)

    def embed(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        return getattr(self.base, self.embed_name)(input_ids)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return self._lm_head(getattr(self.base, self.norm_name)(hidden))


@_register
class GPTNeoXAdapter(RotaryDecoderAdapter):
    """Pythia: the same shape as the Llama family under other names (and a fused qkv linear)."""

    model_types = ("gpt_neox",)
    blocks_path = "gpt_neox.layers"
    base_path = "gpt_neox"
    embed_name = "embed_in"
    norm_name = "final_layer_norm"


@_register
class OPTAdapter(BlockAdapter):
    """OPT: learned positions (offset by 2) added after an optional input projection."""

    model_types = ("opt",)
    blocks_path = "model.decoder.layers"

    def block_args(self) -> BlockArgs:
        return BlockArgs.for_block(self.config, self.blocks[0], batch_position_ids=True)

    def embed(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        decoder = self.model.model.decoder
        hidden = decoder.embed_tokens(input_ids)
        if decoder.project_in is not None:
            hidden = decoder.project_in(hidden)
        ones = torch.ones(input_ids.shape, dtype=torch.long, device=input_ids.device)
        if position_ids is None:
            position_ids = ones.cumsum(dim=1) - 1  # (batch, seq), as OPT derives them from its mask
        return hidden + decoder.embed_positions(ones, 0, position_ids=position_ids)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        decoder = self.model.model.decoder
        if decoder.final_layer_norm is not None:
            hidden = decoder.final_layer_norm(hidden)
        if decoder.project_out is not None:
            hidden = decoder.project_out(hidden)
        return self._lm_head(hidden)


@_register
class GPT2Adapter(BlockAdapter):
    """GPT-2: learned positions; its linears are Conv1D with weights stored (in, out)."""

    model_types = ("gpt2",)
    blocks_path = "transformer.h"

    def embed(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        if position_ids is None:
            position_ids = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        wte, wpe = self.model.get_submodule("transformer.wte"), self.model.get_submodule("transformer.wpe")
        return wte(input_ids) + wpe(position_ids)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return self._lm_head(self.model.get_submodule("transformer.ln_f")(hidden))


def check_supported(config: PretrainedConfig, *, source: str = "the model") -> None:
    """Raise a ``CalrayError`` naming the supported architectures when ``config`` is not one."""
    model_type = getattr(config, "model_type", None)
    if model_type not in ADAPTERS:
        archs = ", ".join(getattr(config, "architectures", None) or []) or "unknown class"
        raise CalrayError(
            f"unsupported architecture {model_type!r} ({archs}) in {source}; "
            f"supported model types: {', '.join(ADAPTERS.names())}"
        )


def adapter_for(model: PreTrainedModel) -> BlockAdapter:
    """The adapter of ``model``'s family, chosen from its config's ``model_type``."""
    check_supported(model.config)
    return ADAPTERS.get(model.config.model_type)(model)
