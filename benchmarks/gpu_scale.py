"""One LLaMA-3.1-8B trial's costs on one GPU: calray's pruning and evaluation vs plain baselines.

    python benchmarks/gpu_scale.py                  # one GPU: LLaMA-3.1-8B's shape, 4 decoder layers, bf16
    python benchmarks/gpu_scale.py --layers 32      # the whole depth (evaluation only grows)
    python benchmarks/gpu_scale.py --smoke-test     # a small shape on the CPU (CI runs this)

A randomly initialised model of LLaMA-3.1-8B's shape (hidden 4096, MLP 14336, 32 query and
8 key/value heads, vocabulary 128256; ``--layers`` of its 32 decoder layers) with a byte-level
tokenizer of the same vocabulary size: nothing is downloaded. Side by side, in one run:

- pruning one decoder layer, SparseGPT at 60% on 128 x 2048 calibration tokens: calray's
  driver (``prune_blocks``) vs the reference pipeline below (forward hooks, one float32
  Hessian per linear, IST-DASLab's per-column solver), on copies of the same layer and the
  same inputs; mean layer error of both (same metric, each on its own Hessians), peak memory;
- the solver alone on a q_proj-shaped (4096 x 4096) and a down_proj-shaped (4096 x 14336)
  layer: calray's kernel vs the reference solver, on the same factored Hessian;
- each evaluation task type, calray's ``HFModel`` (``batch_size="auto"``) vs plain transformers
  at batch 16: generation (gsm8k-like 5-shot prompts, 256 new tokens, ``generate`` with
  ``stop_strings``), log-likelihood (hellaswag-like: a few-shot context and 4 endings of
  several tokens, one forward row per request; and calray with each context run once and its KV
  cache copied per ending against calray's own path without that) and rolling perplexity (whole documents in
  disjoint windows), with the scores of both compared.

Every ratio is baseline time / calray time, measured in this run. The script prints a table;
on a GPU it should finish in under 5 minutes on one H200.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from calray.evaluate import GenerationArgs, HFModel
from calray.evaluate.shared_prefix import group_by_context
from calray.prune import (
    METHODS,
    Target,
    adapter_for,
    factor_hessian,
    find_linears,
    layer_error,
    prune_blocks,
    sparsegpt_from_factor,
)

LLAMA_31_8B = dict(hidden=4096, intermediate=14336, heads=32, kv_heads=8, vocab=128256)
SMOKE = dict(hidden=128, intermediate=448, heads=4, kv_heads=2, vocab=2048)


# --- the model and its tokenizer ------------------------------------------------------------------
def byte_level_tokenizer(vocab_size: int) -> Any:
    """Bytes, BOS/EOS/PAD, then filler tokens up to ``vocab_size`` (2-4 letter strings, so a
    random model's output decodes to text). Prompts encode byte by byte (no merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from calray.tiny import _byte_to_unicode

    vocab = {ch: b for b, ch in _byte_to_unicode().items()}
    for tok in ("<s>", "</s>", "<pad>"):
        vocab[tok] = len(vocab)
    letters = "abcdefghijklmnopqrstuvwxyzĠ"  # Ġ: the byte-level space
    i = len(letters) ** 2
    while len(vocab) < vocab_size:
        digits, n = [], i
        while n:
            n, r = divmod(n, len(letters))
            digits.append(letters[r])
        vocab.setdefault("".join(digits), len(vocab))
        i += 1
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def random_llama(shape: dict[str, int], layers: int, *, device: torch.device, dtype: torch.dtype) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=shape["hidden"], intermediate_size=shape["intermediate"], num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv_heads"], vocab_size=shape["vocab"], num_hidden_layers=layers,
        max_position_embeddings=131072, rope_theta=500000.0, bos_token_id=256, eos_token_id=257, pad_token_id=258,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model.eval()


# --- the reference pruning pipeline ----------------------------------------------------------------
def reference_prune_layer(
    block: nn.Module, hidden: torch.Tensor, block_args: Callable[[torch.Tensor, int], dict[str, Any]],
    sparsity: float, *, batch_size: int,
) -> tuple[torch.Tensor, list[float]]:
    """The public pipeline's shape: a forward hook per linear accumulating its own float32
    Hessian, every linear factored and solved alone by the per-column solver, then a second
    forward for the pruned layer's outputs. Returns the outputs and each linear's layer error."""
    linears = find_linears(block, prefix="")
    hessians = {name: torch.zeros(m.in_features, m.in_features, device=hidden.device) for name, m in linears.items()}
    counts = dict.fromkeys(linears, 0)

    def hook(name: str) -> Callable[..., None]:
        def add(_m: nn.Module, args: tuple[torch.Tensor, ...], _out: Any) -> None:
            x = args[0].reshape(-1, args[0].shape[-1]).float()  # (tokens, in)
            n, m = counts[name], x.shape[0]
            hessians[name].mul_(n / (n + m))
            x = math.sqrt(2 / (n + m)) * x
            hessians[name].addmm_(x.t(), x)
            counts[name] = n + m
        return add

    handles = [m.register_forward_hook(hook(name)) for name, m in linears.items()]
    with torch.no_grad():
        for s in range(0, hidden.shape[0], batch_size):
            x = hidden[s : s + batch_size]
            block(x, **block_args(x, 0))
    for h in handles:
        h.remove()
    errors = []
    for name, module in linears.items():
        W = module.weight.data
        factor = factor_hessian(hessians[name])
        pruned = reference_solver(W, factor.hinv_chol, factor.dead, sparsity)
        errors.append(layer_error(W, pruned, hessians[name]))
        W.copy_(pruned)
    outputs = torch.empty_like(hidden)
    with torch.no_grad():
        for s in range(0, hidden.shape[0], batch_size):
            x = hidden[s : s + batch_size]
            y = block(x, **block_args(x, 0))
            outputs[s : s + batch_size] = y[0] if isinstance(y, tuple) else y
    return outputs, errors


def reference_solver(weight: torch.Tensor, U: torch.Tensor, dead: torch.Tensor, sparsity: float,
                     block_size: int = 128) -> torch.Tensor:
    """IST-DASLab's SparseGPT loop: W (out, in) in float32, per block a mask of the block's
    lowest W^2 / U_ii^2, then per column its error spread over the block's later columns."""
    W = weight.float().clone()  # (out, in)
    W[:, dead] = 0
    rows, cols = W.shape
    for i1 in range(0, cols, block_size):
        i2 = min(i1 + block_size, cols)
        W1, U1 = W[:, i1:i2].clone(), U[i1:i2, i1:i2]
        Err1 = torch.zeros_like(W1)
        scores = W1.square() / U1.diagonal().square()[None, :]
        k = round(rows * i2 * sparsity) - round(rows * i1 * sparsity)
        mask1 = torch.zeros(scores.numel(), dtype=torch.bool, device=W.device)
        mask1[torch.sort(scores.flatten(), stable=True).indices[:k]] = True
        mask1 = mask1.view_as(W1)
        for i in range(i2 - i1):
            w, d = W1[:, i], U1[i, i]
            q = w.clone()
            q[mask1[:, i]] = 0
            err = (w - q) / d
            W1[:, i:] -= err.unsqueeze(1) @ U1[i, i:].unsqueeze(0)
            W1[:, i] = q
            Err1[:, i] = err
        W[:, i1:i2] = W1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    return W.to(weight.dtype)


# --- synthetic evaluation requests -----------------------------------------------------------------
def words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice("etaoinshrdlu") for _ in range(rng.randint(2, 7))) for _ in range(n))


def generation_requests(n: int, prompt_chars: int, max_new: int) -> list[tuple[str, GenerationArgs]]:
    """gsm8k-like: a 5-shot prompt of about ``prompt_chars`` bytes (= tokens here), its stops."""
    rng = random.Random(1)
    args = GenerationArgs(until=("Question:", "</s>", "<|im_end|>"), max_new_tokens=max_new)
    shots = "".join(f"Question: {words(rng, 20)}?\nAnswer: {words(rng, 12)} #### {rng.randint(1, 99)}\n\n" for _ in range(5))
    out = []
    for _ in range(n):
        prompt = (shots + f"Question: {words(rng, 30)}?\nAnswer:")[-prompt_chars:]
        out.append((prompt, args))
    return out


def choice_requests(n: int, context_chars: int) -> list[tuple[str, str]]:
    """hellaswag-like: per item a few-shot context and 4 endings of 30-80 bytes."""
    rng = random.Random(2)
    shots = "".join(words(rng, 30) + ".\n\n" for _ in range(4))
    out = []
    for _ in range(n):
        context = (shots + words(rng, 25))[-context_chars:]
        out += [(context, " " + words(rng, rng.randint(6, 14)) + ".") for _ in range(4)]
    return out


def documents(n: int, chars: int) -> list[str]:
    rng = random.Random(3)
    return [words(rng, chars // 5)[:chars] for _ in range(n)]


# --- plain transformers baselines ------------------------------------------------------------------
def baseline_generate(model: nn.Module, tok: Any, requests: Sequence[tuple[str, GenerationArgs]], *,
                      batch_size: int, max_length: int) -> list[str]:
    """What calray's HFModel did before: ``generate`` with transformers' ``stop_strings``, batch 16."""
    from transformers import GenerationConfig

    from calray.evaluate.interface import cut_at_stop

    device = next(model.parameters()).device
    args = requests[0][1]
    contexts = [[tok.bos_token_id, *tok(c, add_special_tokens=False)["input_ids"]][-(max_length - args.max_new_tokens):]
                for c, _ in requests]
    order = sorted(range(len(requests)), key=lambda i: -len(contexts[i]))
    out = [""] * len(requests)
    config = GenerationConfig(max_new_tokens=args.max_new_tokens, do_sample=False, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id, stop_strings=list(args.until))
    for s in range(0, len(order), batch_size):
        batch = order[s : s + batch_size]
        width = max(len(contexts[i]) for i in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, i in enumerate(batch):
            ids[r, width - len(contexts[i]) :] = torch.tensor(contexts[i])
            mask[r, width - len(contexts[i]) :] = 1
        with torch.no_grad():
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config,
                                 tokenizer=tok)
        for r, i in enumerate(batch):
            out[i] = cut_at_stop(tok.decode(gen[r, width:].tolist(), skip_special_tokens=True), args.until)
    return out


def baseline_score(model: nn.Module, rows: Sequence[tuple[list[int], list[int]]], *, batch_size: int,
                   max_length: int) -> list[float]:
    """Plain forward passes, one right-padded row per (context, continuation), full logits
    (contexts left-truncated to ``max_length`` as lm-eval does)."""
    device = next(model.parameters()).device
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]) - len(rows[i][1]))
    out = [0.0] * len(rows)
    for s in range(0, len(order), batch_size):
        batch = order[s : s + batch_size]
        seqs = [(rows[i][0] + rows[i][1])[-(max_length + 1) :][:-1] for i in batch]
        width = max(len(q) for q in seqs)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        for r, q in enumerate(seqs):
            ids[r, : len(q)] = torch.tensor(q)
        with torch.no_grad():
            logits = model(input_ids=ids.to(device)).logits
        for r, i in enumerate(batch):
            cont = rows[i][1]
            end = len(seqs[r])
            lp = logits[r, end - len(cont) : end].float().log_softmax(-1)
            out[i] = float(lp.gather(-1, torch.tensor(cont, device=device)[:, None]).sum())
    return out


# --- timing ------------------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def peak_gib(device: torch.device) -> str:
    if device.type != "cuda":
        return "-"
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"


@dataclass
class Row:
    what: str
    calray: float
    baseline: float
    note: str

    def line(self) -> str:
        return f"| {self.what} | {self.calray:.3f} s | {self.baseline:.3f} s | {self.baseline / self.calray:.2f}x | {self.note} |"


# --- the measurements --------------------------------------------------------------------------------
def bench_pruning(model: nn.Module, args: argparse.Namespace, device: torch.device) -> list[Row]:
    adapter = adapter_for(model)
    block_args = adapter.block_args()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(300, model.config.vocab_size, (args.nsamples, args.seqlen), generator=g)
    with torch.no_grad():
        hidden = torch.cat([adapter.embed(ids[s : s + 8].to(device)) for s in range(0, args.nsamples, 8)])
    method, target = METHODS.get("sparsegpt"), Target(sparsity=args.sparsity)
    layers = min(args.prune_layers, len(adapter.blocks))

    # warm-up on a slice: kernels, cuBLAS handles, the allocator
    warm = [copy.deepcopy(adapter.blocks[0])]
    prune_blocks(warm, hidden[:2], block_args, method, target, device=device, batch_size=args.prune_batch, progress=False)
    reference_prune_layer(copy.deepcopy(adapter.blocks[0]), hidden[:2], block_args, args.sparsity, batch_size=args.prune_batch)
    del warm

    rows = []
    blocks = [copy.deepcopy(b) for b in adapter.blocks[:layers]]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t_ours, (_, reports) = timed(lambda: prune_blocks(blocks, hidden, block_args, method, target, device=device,
                                                      batch_size=args.prune_batch, progress=False), device)
    ours_peak = peak_gib(device)
    ours_err = statistics.fmean(r.layer_error for r in reports if r.block == 0 and r.layer_error is not None)
    ref_block = copy.deepcopy(adapter.blocks[0])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t_ref, (_, ref_errors) = timed(lambda: reference_prune_layer(ref_block, hidden, block_args, args.sparsity,
                                                                 batch_size=args.prune_batch), device)
    ref_err = statistics.fmean(ref_errors)
    per_layer = t_ours / layers
    rows.append(Row(
        f"SparseGPT {args.sparsity:.0%}, {args.nsamples} x {args.seqlen} tokens, per decoder layer", per_layer, t_ref,
        f"layer 0 mean layer error {ours_err:.5f} vs {ref_err:.5f} (ratio {ours_err / ref_err:.4f}); peak {ours_peak} "
        f"vs {peak_gib(device)}; {layers} layer(s) timed, whole model ~{per_layer * args.model_layers:.0f} s",
    ))

    for rows_, cols in ((args.hidden, args.hidden), (args.hidden, args.intermediate)):
        X = torch.randn(4 * cols, cols, device=device, dtype=torch.float32)
        factor = factor_hessian(2 * X.T @ X / X.shape[0])
        del X
        W = (torch.randn(rows_, cols, device=device) * 0.02).to(args.torch_dtype)
        sparsegpt_from_factor(W[:64], factor, target)  # warm-up
        t_k, ours = timed(lambda W=W, f=factor: sparsegpt_from_factor(W, f, target), device)
        t_r, ref = timed(lambda W=W, f=factor: reference_solver(W, f.hinv_chol, f.dead, args.sparsity), device)
        same = float(((ours == 0) == (ref == 0)).float().mean())
        rows.append(Row(f"solver alone, {rows_} x {cols}", t_k, t_r, f"masks agree on {same:.2%} of weights"))
    return rows


def bench_evaluation(model: nn.Module, tok: Any, args: argparse.Namespace, device: torch.device) -> list[Row]:
    rows = []
    calray_lm = HFModel(model, tok, batch_size="auto", max_length=args.max_length, progress=False, add_bos=True)

    gen = generation_requests(args.items, args.prompt_chars, args.max_new_tokens)
    calray_lm.generate_until(gen[:2])  # warm-up
    baseline_generate(model, tok, gen[:2], batch_size=args.baseline_batch, max_length=args.max_length)
    t_c, ours = timed(lambda: calray_lm.generate_until(gen), device)
    t_b, base = timed(lambda: baseline_generate(model, tok, gen, batch_size=args.baseline_batch,
                                                max_length=args.max_length), device)
    same = sum(a == b for a, b in zip(ours, base, strict=True))
    rows.append(Row(f"generation: {len(gen)} items, {args.max_new_tokens} new tokens", t_c, t_b,
                    f"identical outputs {same}/{len(gen)} (batch auto vs {args.baseline_batch})"))

    mc = choice_requests(args.items * 2, args.prompt_chars)
    token_rows = calray_lm.encode_pairs(mc)
    unshared = HFModel(model, tok, batch_size="auto", max_length=args.max_length, progress=False, add_bos=True,
                       share_prefixes=False)
    calray_lm.loglikelihood(mc[:8])  # warm-up of both paths
    unshared.loglikelihood(mc[:8])
    t_c, ours_ll = timed(lambda: calray_lm.loglikelihood(mc), device)
    t_b, base_ll = timed(lambda: baseline_score(model, token_rows, batch_size=args.baseline_batch,
                                                           max_length=args.max_length), device)
    t_u, unshared_ll = timed(lambda: unshared.loglikelihood(mc), device)
    shared, _ = group_by_context(token_rows, calray_lm.max_length)
    diff = max(abs(a.logprob - b) / max(1.0, abs(b)) for a, b in zip(ours_ll, base_ll, strict=True))
    rows.append(Row(f"log-likelihood: {len(mc) // 4} items x 4 endings", t_c, t_b, f"max relative logprob difference {diff:.1e}"))
    diff = max(abs(a.logprob - b.logprob) / max(1.0, abs(b.logprob)) for a, b in zip(ours_ll, unshared_ll, strict=True))
    rows.append(Row("log-likelihood, shared context vs calray's plain path (share_prefixes=False)", t_c, t_u,
                    f"{len(shared)} of {len(mc) // 4} contexts run once, their KV cache copied per ending; "
                    f"max relative logprob difference {diff:.1e}"))

    docs = documents(args.docs, args.doc_chars)
    windows = [w for d in docs for w in calray_windows(calray_lm, d)]
    t_c, ours_r = timed(lambda: calray_lm.loglikelihood_rolling(docs), device)
    t_b, base_r = timed(lambda: baseline_score(model, windows, batch_size=args.baseline_batch, max_length=args.max_length),
                        device)
    total_c, total_b = sum(r.logprob for r in ours_r), sum(base_r)
    rows.append(Row(f"rolling perplexity: {len(docs)} documents of {args.doc_chars} tokens", t_c, t_b,
                    f"relative difference of the summed log-likelihood {abs(total_c - total_b) / abs(total_b):.1e}"))
    return rows


def calray_windows(lm: HFModel, text: str) -> list[tuple[list[int], list[int]]]:
    from calray.evaluate.token_lm import rolling_windows

    ids = lm.encode([text])[0]
    return list(rolling_windows(ids, prefix_token=lm.prefix_token_id, max_length=lm.max_length))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=4, help="decoder layers of the random model (LLaMA-3.1-8B has 32)")
    ap.add_argument("--prune-layers", type=int, default=2, help="layers calray prunes (the reference prunes one)")
    ap.add_argument("--nsamples", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument("--sparsity", type=float, default=0.6)
    ap.add_argument("--prune-batch", type=int, default=16, help="calibration samples per forward while pruning")
    ap.add_argument("--items", type=int, default=40, help="generation items (log-likelihood: twice as many)")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--prompt-chars", type=int, default=800, help="prompt length in tokens (the tokenizer is byte-level)")
    ap.add_argument("--docs", type=int, default=16)
    ap.add_argument("--doc-chars", type=int, default=6000)
    ap.add_argument("--max-length", type=int, default=4096)
    ap.add_argument("--baseline-batch", type=int, default=16)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--skip", choices=["prune", "eval"], action="append", default=[])
    ap.add_argument("--smoke-test", action="store_true", help="a small shape on the CPU in seconds (what CI runs)")
    args = ap.parse_args()
    shape = dict(LLAMA_31_8B)
    if args.smoke_test:
        shape = dict(SMOKE)
        args.device, args.dtype = "cpu", "float32"
        args.layers, args.prune_layers, args.nsamples, args.seqlen, args.prune_batch = 2, 1, 8, 64, 4
        args.items, args.max_new_tokens, args.prompt_chars, args.docs, args.doc_chars = 8, 8, 96, 3, 300
        args.max_length = 192  # the log-likelihood contexts and endings fit untruncated
        torch.set_num_threads(1)
    args.hidden, args.intermediate, args.model_layers = shape["hidden"], shape["intermediate"], 32
    args.torch_dtype = getattr(torch, args.dtype)
    device = torch.device(args.device)

    start = time.perf_counter()
    tok = byte_level_tokenizer(shape["vocab"])
    model = random_llama(shape, args.layers, device=device, dtype=args.torch_dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"random LLaMA-3.1-8B-shaped model: {args.layers} layers, hidden {shape['hidden']}, MLP {shape['intermediate']}, "
          f"vocab {shape['vocab']}, {args.dtype} on {name}; torch {torch.__version__}, "
          f"transformers {__import__('transformers').__version__}; built in {time.perf_counter() - start:.1f} s")
    rows: list[Row] = []
    if "prune" not in args.skip:
        rows += bench_pruning(model, args, device)
    if "eval" not in args.skip:
        rows += bench_evaluation(model, tok, args, device)
    print("| what | calray | baseline | ratio | note |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row.line())
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
