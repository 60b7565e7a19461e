"""Train the toy model: a byte-level BPE tokenizer and a small Llama on the four train splits.

The data is generated fresh for one pass, balanced to equal token counts per domain,
shuffled at document level and packed into fixed windows (each document ``<s> text </s>``).
Training is deterministic for a given ``ToyTrainConfig`` and thread count; ``max_minutes`` is
only a safety stop (it is logged when it fires).

>>> cfg = ToyTrainConfig(tokens=20_000, hidden_size=32, intermediate_size=64, num_layers=1)
>>> cfg.batch_tokens
2048
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from calray.atomic import atomic_dir, check_writable
from calray.config import StrictModel
from calray.toy.corpus import DEFAULT_SEED, DOMAINS, documents

log = logging.getLogger(__name__)

BOS, EOS, PAD = "<s>", "</s>", "<pad>"


class ToyTrainConfig(StrictModel):
    """Everything that decides the toy model; the defaults are the shipped model's."""

    seed: int = DEFAULT_SEED  # world seed, also the init and data-order seed
    vocab_size: int = Field(2048, ge=300, le=8192)
    tokenizer_documents: int = Field(4000, ge=10)  # per domain
    hidden_size: int = Field(192, ge=8)
    intermediate_size: int = Field(512, ge=8)
    num_layers: int = Field(4, ge=1)
    num_heads: int = Field(4, ge=1)
    seq_len: int = Field(256, ge=16)
    tokens: int = Field(9_000_000, ge=1000)  # training tokens, all domains together
    batch_size: int = Field(8, ge=1)
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.05, ge=0, le=1)
    warmup_steps: int = Field(200, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    max_minutes: float | None = Field(None, gt=0)

    @property
    def batch_tokens(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def steps(self) -> int:
        return max(1, self.tokens // self.batch_tokens)


# The toy model family: one generated world, one tokenizer, the same 9M training tokens, three
# sizes. ``base`` is the shipped model (the defaults above); the others change only the
# architecture and the peak learning rate, each the best of a small sweep (the cards in calray/toy/model-*/).
SIZES: dict[str, dict[str, Any]] = {
    "small": dict(hidden_size=96, intermediate_size=256, num_layers=3, num_heads=4, lr=5e-3),
    "base": {},
    "large": dict(hidden_size=384, intermediate_size=1024, num_layers=4, num_heads=8, lr=1e-3),
}


SHIPPED_DTYPE = {"small": "float16", "base": "float32", "large": "float16"}  # how each is stored in calray/toy


def size_config(size: str, **overrides: Any) -> ToyTrainConfig:
    """The training config of one member of the toy family (``SIZES``), with ``overrides``."""
    if size not in SIZES:
        from calray.errors import CalrayError

        raise CalrayError(f"toy model size {size!r} is not one of {', '.join(SIZES)}; pick one of those")
    return ToyTrainConfig(**{**SIZES[size], **overrides})


def build_tokenizer(texts: list[str], vocab_size: int, *, max_length: int | None = None) -> PreTrainedTokenizerFast:
    """Byte-level BPE with one token per digit (so arithmetic sees digits) and BOS prepended.

    A newline is always a token of its own: merged with the next line's indentation it would
    make a prompt ending in "\n" (every code task's) a token boundary never seen in training.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, tok.token_to_id(BOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, model_max_length=max_length)


def training_windows(tokenizer: PreTrainedTokenizerFast, cfg: ToyTrainConfig) -> torch.Tensor:
    """(steps * batch_size, seq_len) token ids: equal tokens per domain, documents shuffled, packed.

    Each document is ``<s> text </s>``; windows are cut from the concatenation, so a window
    may span documents, as in pretraining.
    """
    per_domain = cfg.steps * cfg.batch_tokens // len(DOMAINS) + cfg.seq_len
    docs: list[list[int]] = []
    for domain in DOMAINS:
        have, stream = 0, 0
        while have < per_domain:
            # generate in chunks; ~100 tokens a document, over-asked a little
            chunk = documents(domain, "train", max(1000, (per_domain - have) // 80), seed=cfg.seed, stream=stream)
            stream += 1
            for ids in tokenizer(chunk, add_special_tokens=True)["input_ids"]:
                if have >= per_domain:
                    break
                docs.append([*ids, tokenizer.eos_token_id])
                have += len(ids) + 1
        log.info("%s: %d tokens", domain, have)
    order = np.random.default_rng(cfg.seed).permutation(len(docs))
    flat = np.fromiter((t for i in order for t in docs[i]), dtype=np.int64)
    n = cfg.steps * cfg.batch_size
    if len(flat) < n * cfg.seq_len:
        raise RuntimeError(f"generated {len(flat)} tokens, need {n * cfg.seq_len}")
    return torch.from_numpy(flat[: n * cfg.seq_len].reshape(n, cfg.seq_len).copy())


def model_config(cfg: ToyTrainConfig, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.seq_len, rope_theta=10_000.0, tie_word_embeddings=True,  # type: ignore[call-arg]
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


def _lr_at(step: int, cfg: ToyTrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train(cfg: ToyTrainConfig, out_dir: str | Path, *, threads: int = 1, progress: bool = True, device: str = "cpu",
          save_dtype: str = "float32") -> dict[str, Any]:
    """Generate the data, train tokenizer and model, save both to ``out_dir`` (HF format).

    Returns (and writes to ``training.json``) what was done: config, tokens, time, final loss.
    Thread count and grad mode are set for the run only: callers (the CLI in tests, notebooks)
    keep their own. ``device`` runs the steps on an accelerator (``cuda``): the same data,
    initialisation and schedule, float32 arithmetic (TF32 off), so the model is the CPU one up
    to rounding. ``save_dtype`` ``float16`` halves the checkpoint (the family's new members
    ship so; ``calray.toy.model_dir`` reads them back as float32).
    """
    if save_dtype not in ("float32", "float16"):
        from calray.errors import CalrayError

        raise CalrayError(f"save dtype {save_dtype!r} is not float32 or float16")
    check_writable(out_dir, what="the toy model's directory")
    previous_threads, previous_deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    if device != "cpu":  # deterministic CUDA kernels (cuBLAS needs its workspace set before CUDA starts)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    try:
        with torch.enable_grad():
            return _train(cfg, Path(out_dir), threads=threads, progress=progress, device=device, save_dtype=save_dtype)
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic)


def _train(cfg: ToyTrainConfig, out: Path, *, threads: int, progress: bool, device: str, save_dtype: str) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    started = time.monotonic()

    sample = [d for domain in DOMAINS for d in documents(domain, "train", cfg.tokenizer_documents, seed=cfg.seed, stream=10_000)]
    tokenizer = build_tokenizer(sample, cfg.vocab_size, max_length=cfg.seq_len)
    windows = training_windows(tokenizer, cfg)
    log.info("data ready: %d windows of %d tokens in %.0fs", len(windows), cfg.seq_len, time.monotonic() - started)

    model = LlamaForCausalLM(model_config(cfg, tokenizer))  # initialised on the CPU: the same weights on any device
    if device != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.nn.Module.to(model, device)  # (transformers' typed ``to`` wrapper rejects a device string)
        windows = windows.to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.95))
    model.train()
    train_started = time.monotonic()
    losses: list[float] = []
    stopped_early = False
    bar = tqdm(range(cfg.steps), desc="toy model", disable=not (progress and sys.stderr.isatty()), unit="step")
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg)
        batch = windows[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 20 == 0 or step == cfg.steps - 1:
            rate = (step + 1) * cfg.batch_tokens / max(time.monotonic() - train_started, 1e-9)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", tok_s=f"{rate:.0f}")
            if step % max(20, cfg.steps // 20 // 20 * 20) == 0:
                log.info("step %d/%d loss %.3f, %.0f tokens/s", step + 1, cfg.steps, np.mean(losses[-20:]), rate)
        if cfg.max_minutes is not None and time.monotonic() - started > 60 * cfg.max_minutes:
            log.warning("stopping at step %d of %d: max_minutes=%s reached", step + 1, cfg.steps, cfg.max_minutes)
            stopped_early = True
            break
    bar.close()

    model.eval()
    torch.nn.Module.to(model, "cpu")
    if save_dtype == "float16":
        torch.nn.Module.to(model, torch.float16)
    report = {
        "config": cfg.model_dump(),
        "threads": threads,
        "device": device if device == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})",
        "saved_dtype": save_dtype,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps_done": len(losses),
        "tokens_seen": len(losses) * cfg.batch_tokens,
        "stopped_early": stopped_early,
        "final_loss": float(np.mean(losses[-50:])),
        "train_seconds": round(time.monotonic() - train_started, 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "torch": torch.__version__,
    }
    with atomic_dir(out, overwrite=True) as tmp:  # a rebuild replaces the old model whole, or not at all
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "training.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("saved to %s: %s", out, report)
    return report
