"""Pruning solvers, pure torch: SparseGPT (unstructured and n:m), Wanda and magnitude.

Every solver is a function of (weight, statistic, target) that returns a new pruned weight
in the input's dtype and device, never modifying its inputs; the math runs in float32
(float64 for float64 inputs). ``weight`` is (out, in); a GPT-2 Conv1D weight is transposed
by the caller. ``hessian`` (in, in) = (2/n) sum over calibration tokens of x x^T.
Unstructured targets are exact: a layer of ``numel`` weights loses exactly
``Target(sparsity=s).zeros_for(numel)`` of them. Numerical failures raise ``PruningError``
naming the layer; there is no silent fallback.

Functions (the project's public contract)::

    pruned = sparsegpt(W, H, 0.6)                 # or n_m=(2, 4)
    pruned = wanda(W, H.diagonal(), 0.6)
    pruned = magnitude(W, 0.6)
    layer_error(W, pruned, H)                     # ||dW X||^2 / ||W X||^2

The driver's view: one ``PruningMethod`` per name in ``METHODS``. It accumulates the
statistic the method asks for once per *input*, prepares it once, and prunes every linear
that reads that input (q, k and v share one factored Hessian)::

    method = METHODS.get("sparsegpt")             # dataclasses.replace(method, percdamp=0.1)
    target = Target.parse(n_m="2:4")              # or Target.parse(sparsity=0.6)
    stat = {"hessian": H, "diag": H.diagonal(), "none": None}[method.statistic]
    prepared = method.prepare(stat, name="layers.0.attn")
    for proj in ("q_proj", "k_proj", "v_proj"):
        target.check_width(W[proj].shape[1], name=proj)
        W[proj] = method.prune(W[proj], prepared, target, name=proj)
    report = method.info(prepared)                # {"percdamp": 0.01, "dead_inputs": 0.0}

Over a whole model (adapters.py, statistics.py, driver.py): an adapter finds the decoder
blocks and rebuilds each block's arguments; statistics are accumulated once per shared input;
blocks are pruned in order, each on its pruned predecessors' outputs::

    report = prune_model(model, input_ids, METHODS.get("sparsegpt"), Target(sparsity=0.5))
    save_pruned(model, tokenizer, report, "out/")  # safetensors + pruning_report.json

A shard holding blocks [a, b) calls the same loop on its slice::

    outputs, reports = prune_blocks(blocks, hidden, block_args, method, target, first_index=a)

Independent mode (independent.py) prunes every block from per-source statistics of the dense
model (or of an anchor), mixed per job: ``prefix_statistics`` collects them for the windows each
source is allocated, ``prune_mixed`` solves from the mix.
``PruneSettings`` (settings.py) is the one validated form of every setting above.
"""

from calray.prune.adapters import ADAPTERS, BlockAdapter, adapter_for, call_block, check_supported
from calray.prune.block_args import BlockArgs, BlockArgsFn, padded_position_ids
from calray.prune.checks import PruningError
from calray.prune.driver import (
    check_widths,
    embed_samples,
    model_linears,
    prune_block,
    prune_blocks,
    prune_model,
    run_block,
    statistic_needed,
)
from calray.prune.factor import HessianFactor, factor_hessian
from calray.prune.independent import dense_statistics, prefix_statistics, prune_mixed
from calray.prune.linears import block_name, find_linears, select_linears, set_weight, weight_matrix
from calray.prune.methods import METHODS, Magnitude, PruningMethod, SparseGPT, Statistic, Wanda
from calray.prune.metrics import layer_error
from calray.prune.model_io import load_pretrained, resolve_seqlen, save_pruned
from calray.prune.perplexity import token_perplexity
from calray.prune.report import REPORT_NAME, LinearReport, PruningReport
from calray.prune.scored import magnitude, wanda
from calray.prune.settings import MODES, Mode, PruneSettings
from calray.prune.sparsegpt import FORMULATIONS, Formulation, sparsegpt, sparsegpt_from_factor, sparsegpt_stacked
from calray.prune.statistics import BlockStatistics, InputStatistic, collect_statistics
from calray.prune.target import Target

__all__ = [
    "ADAPTERS",
    "FORMULATIONS",
    "METHODS",
    "MODES",
    "REPORT_NAME",
    "BlockAdapter",
    "BlockArgs",
    "BlockArgsFn",
    "BlockStatistics",
    "Formulation",
    "HessianFactor",
    "InputStatistic",
    "LinearReport",
    "Magnitude",
    "Mode",
    "PruningError",
    "PruningMethod",
    "PruneSettings",
    "PruningReport",
    "SparseGPT",
    "Statistic",
    "Target",
    "Wanda",
    "adapter_for",
    "block_name",
    "call_block",
    "check_supported",
    "check_widths",
    "collect_statistics",
    "dense_statistics",
    "embed_samples",
    "factor_hessian",
    "find_linears",
    "layer_error",
    "load_pretrained",
    "magnitude",
    "model_linears",
    "padded_position_ids",
    "token_perplexity",
    "prefix_statistics",
    "prune_block",
    "prune_blocks",
    "prune_mixed",
    "prune_model",
    "resolve_seqlen",
    "run_block",
    "save_pruned",
    "select_linears",
    "set_weight",
    "sparsegpt",
    "sparsegpt_from_factor",
    "sparsegpt_stacked",
    "statistic_needed",
    "wanda",
    "weight_matrix",
]
