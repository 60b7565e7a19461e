"""Loading one shard of a causal LM: its decoder blocks, and the embeddings or head it runs.

A shard owns blocks [start, stop) of the model; the first shard also embeds tokens (and adds
learned positions), the last applies the final norm and the LM head. ``load_shard`` builds
the model's skeleton from its config with every *parameter* on the meta device (buffers such
as rotary ``inv_freq`` are computed by the modules' own constructors, as they would be on a
normal load), then reads from the safetensors checkpoint only the tensors of its slice, with
``safe_open`` reads of exactly those keys. No process ever holds the whole model.

Which modules outside the blocks a stage needs is not written down per architecture: it is
traced, by running the adapter's ``embed`` and ``head`` on meta tensors and recording the
modules they call. A tied LM head (Llama-3.2, Gemma, GPT-2, OPT) is read from the input
embedding's checkpoint key when the checkpoint stores it only once.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel
from transformers.conversion_mapping import get_model_conversion_mapping
from transformers.core_model_loading import WeightConverter, rename_source_key

from calray.errors import CalrayError
from calray.prune import BlockAdapter, BlockArgs, adapter_for, check_supported

log = logging.getLogger(__name__)

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


def checkpoint_files(model_dir: str | Path) -> dict[str, Path]:
    """Tensor name -> the safetensors file holding it, for a single-file or sharded checkpoint."""
    root = Path(model_dir)
    if (root / INDEX_FILE).is_file():
        weight_map = json.loads((root / INDEX_FILE).read_text())["weight_map"]
        return {key: root / name for key, name in weight_map.items()}
    if (root / SINGLE_FILE).is_file():
        with safe_open(root / SINGLE_FILE, framework="pt") as f:
            return {key: root / SINGLE_FILE for key in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    raise CalrayError(
        f"model directory {str(root)!r} has neither {SINGLE_FILE} nor {INDEX_FILE}; shards read safetensors "
        "checkpoints only: re-save the model with save_pretrained(..., safe_serialization=True)"
    )


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Modules built inside get their parameters on the meta device and real buffers.

    ``torch.device("meta")`` would also put non-persistent buffers (rotary ``inv_freq``,
    Gemma's ``embed_scale``) on meta, and no checkpoint holds them; letting constructors
    compute them keeps them right for every architecture. Parameters are allocated lazily
    and never touched, so building the skeleton of a large model costs no memory.
    """
    register = nn.Module.register_parameter

    def on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register(module, name, param)
        if param is not None and param.device.type != "meta":  # a tied parameter is already meta
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    setattr(nn.Module, "register_parameter", on_meta)  # noqa: B010 - a method swapped for the block's duration
    try:
        yield
    finally:
        setattr(nn.Module, "register_parameter", register)  # noqa: B010


def skeleton(config: PretrainedConfig, *, attn_implementation: str | None = None) -> PreTrainedModel:
    """The model of ``config`` with every parameter on meta, in eval mode."""
    options = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with parameters_on_meta():
        model = AutoModelForCausalLM.from_config(config, **options)
    return model.eval()


def _traced_modules(model: nn.Module, run: Callable[[], object], *, skip: str) -> list[str]:
    """Names of the modules outside ``skip`` that ``run`` calls, in call order."""
    called: list[str] = []
    handles = [
        module.register_forward_pre_hook(lambda _m, _a, name=name: called.append(name))
        for name, module in model.named_modules()
        if name and not (name == skip or name.startswith(skip + "."))
    ]
    try:
        with torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    return list(dict.fromkeys(called))


def stage_tensor_names(model: PreTrainedModel, *, start: int, stop: int) -> list[str]:
    """State-dict names of the parameters blocks [start, stop) need, plus the embedding modules
    for the first stage and the final norm and head for the last (traced on meta tensors)."""
    adapter = adapter_for(model)
    prefix = adapter.blocks_path
    num_blocks = len(adapter.blocks)
    if not 0 <= start < stop <= num_blocks:
        raise CalrayError(f"block range [{start}, {stop}) is not inside the model's {num_blocks} blocks")
    names = [n for n, _ in model.named_parameters(remove_duplicate=False)]
    wanted = [n for n in names if any(n.startswith(f"{prefix}.{i}.") for i in range(start, stop))]
    ids = torch.zeros((1, 2), dtype=torch.long, device="meta")
    modules: list[str] = []
    if start == 0:
        modules += _traced_modules(model, lambda: adapter.embed(ids), skip=prefix)
    if stop == num_blocks:
        hidden = torch.zeros((1, 2, model.config.get_text_config().hidden_size), device="meta")
        modules += _traced_modules(model, lambda: adapter.head(hidden), skip=prefix)
    for module in modules:
        wanted += [n for n in names if n.startswith(module + ".") and n not in wanted]
    return wanted


def checkpoint_names(model: PreTrainedModel, files: dict[str, Path]) -> dict[str, str]:
    """Model parameter name -> checkpoint key, through transformers' own renamings.

    transformers 5 renames some keys on load (GPT-NeoX stores its head as ``embed_out``;
    base-model checkpoints lack the ``model.`` prefix); this applies the same rules. Keys that
    need a real conversion (fused or split tensors) cannot be read one by one and are left out,
    so asking for them fails with a clear message.
    """
    transforms = get_model_conversion_mapping(model)
    renamings: list[Any] = [t for t in transforms if not isinstance(t, WeightConverter)]
    converters = [t for t in transforms if isinstance(t, WeightConverter)]
    meta_state = model.state_dict()
    prefix = getattr(model, "base_model_prefix", None)
    out: dict[str, str] = {}
    for key in files:
        name, converted = rename_source_key(key, renamings, converters, prefix, meta_state)
        if converted is None:
            out.setdefault(name, key)
    return out


@dataclass
class ShardModel:
    """Blocks [start, stop) of a causal LM, with the embedding (first stage) or head (last).

    ``model`` is the whole model's skeleton: parameters outside the slice stay on the meta
    device, so the adapter's ``embed``/``head`` and ``block_args`` work unchanged.
    ``tensors_read`` lists the checkpoint keys this shard read.
    """

    model: PreTrainedModel
    start: int
    stop: int
    tensors_read: tuple[str, ...]

    @property
    def adapter(self) -> BlockAdapter:
        return adapter_for(self.model)

    @property
    def num_blocks(self) -> int:
        return len(self.adapter.blocks)

    @property
    def first(self) -> bool:
        return self.start == 0

    @property
    def last(self) -> bool:
        return self.stop == self.num_blocks

    @property
    def blocks(self) -> list[nn.Module]:
        return list(self.adapter.blocks[self.start : self.stop])

    @property
    def prefix(self) -> str:
        return self.adapter.blocks_path

    def block_args(self) -> BlockArgs:
        return self.adapter.block_args()

    def parameter_bytes(self) -> int:
        """Bytes of this shard's blocks (what one pruned copy costs)."""
        return sum(p.numel() * p.element_size() for b in self.blocks for p in b.parameters())


def load_shard(
    model_dir: str | Path,
    start: int,
    stop: int,
    *,
    dtype: torch.dtype | str | None = None,
    device: torch.device | str = "cpu",
    attn_implementation: str | None = None,
) -> ShardModel:
    """Read blocks [start, stop) of the model in ``model_dir`` (and its ends, if the range
    touches them) onto ``device``. ``dtype`` defaults to the checkpoint's own."""
    model_dir = Path(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    check_supported(config, source=str(model_dir))
    model = skeleton(config, attn_implementation=attn_implementation)
    names = stage_tensor_names(model, start=start, stop=stop)
    files = checkpoint_files(model_dir)
    stored = checkpoint_names(model, files)  # model name -> checkpoint key
    tied: dict[str, str] = dict(getattr(model, "all_tied_weights_keys", None) or {})
    sources = {}
    for name in names:
        key = stored.get(name) or stored.get(tied.get(name, ""))
        if key is None:
            raise CalrayError(
                f"tensor {name!r} of blocks [{start}, {stop}) is not in the checkpoint in {str(model_dir)!r}"
            )
        sources[name] = key
    cast = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    state: dict[str, torch.Tensor] = {}
    read: dict[str, torch.Tensor] = {}
    for path in sorted({files[key] for key in sources.values()}):
        with safe_open(path, framework="pt", device=str(device)) as f:
            for key in sources.values():
                if files[key] == path and key not in read:
                    read[key] = f.get_tensor(key) if cast is None else f.get_tensor(key).to(cast)
    for name, key in sources.items():
        state[name] = read[key]  # a tied head shares the embedding's tensor
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    assert not unexpected, unexpected
    for module in model.modules():  # buffers (rotary tables) follow; meta parameters cannot move
        for key, buffer in module._buffers.items():
            if buffer is not None:
                module._buffers[key] = buffer.to(device)
    log.info("loaded blocks [%d, %d) of %s: %d tensors", start, stop, model_dir, len(read))
    return ShardModel(model=model, start=start, stop=stop, tensors_read=tuple(sorted(read)))
