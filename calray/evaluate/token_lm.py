"""Tokenisation, batching and windowing shared by every token-level model implementation.

``TokenLM`` turns the string-level ``EvalModel`` requests into padded token batches, the way
lm-evaluation-harness's ``HFLM`` does (same context/continuation split, same rolling windows),
and leaves one hook to subclasses: ``_logits(input_ids, attention_mask)``. ``HFModel`` fills it
with an in-process transformers model. Two narrower hooks default to it: ``_score`` (log-probs
and greedy flags of continuations) and ``_next_tokens`` (greedy step); a sharded pipeline
overrides them so its last stage ships a few numbers per request instead of (B, T, V) logits.
Requests are sorted by length (longest first, so memory errors come early), identical inputs
are scored once (e.g. MMLU's four one-token answers share a single forward row), and every
batch is one forward pass. A model class that can reuse a KV cache (``share_prefixes``)
runs a context shared by several continuations once (``calray.evaluate.shared_prefix``).
``batch_size="auto"`` sizes each batch from the device's free memory and the model's
per-token cost (``_memory_budget`` and ``_row_bytes``, which a model class fills in);
generation stops rows through ``StopChecker`` (token ids and a short decoded tail, never a
decode of every row at every step).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from calray.errors import CalrayError
from calray.evaluate.interface import GenerationArgs, LoglikelihoodResult, RollingResult, cut_at_stop
from calray.evaluate.shared_prefix import PrefixBatch, group_by_context, max_copies, span_result
from calray.evaluate.stopping import StopChecker

log = logging.getLogger(__name__)

TokenRequest = tuple[list[int], list[int]]  # (context tokens, continuation tokens)
BatchSize = int | Literal["auto"]
RequestKind = Literal["score", "generate", "prefix"]

AUTO_FALLBACK = 16  # rows per batch under "auto" when a model cannot tell its memory cost
AUTO_MAX_ROWS = 512  # beyond this, larger batches gain nothing and padding waste grows
MEMORY_HEADROOM = 0.7  # of the free memory, what batches may plan to use


def rolling_windows(tokens: list[int], *, prefix_token: int, max_length: int, context_len: int = 1) -> Iterator[TokenRequest]:
    """Split ``tokens`` into (context, continuation) windows that predict every token once.

    The first window is conditioned on ``prefix_token`` alone; each later window predicts up
    to ``max_length - context_len + 1`` new tokens and sees ``context_len`` tokens before them
    (lm-eval's ``get_rolling_token_windows`` + ``make_disjoint_window``; context_len=1 gives
    disjoint windows, a larger one a sliding window with overlap as context).
    """
    if not 1 <= context_len <= max_length:
        raise ValueError(f"context_len must be in [1, max_length={max_length}], got {context_len}")
    if not tokens:
        return
    first = min(max_length, len(tokens))
    yield [prefix_token], tokens[:first]
    predicted = first
    step = max_length - context_len + 1
    while predicted < len(tokens):
        n = min(len(tokens) - predicted, step)
        end = predicted + n
        window = tokens[max(end - max_length - 1, 0) : end - 1]  # model input of this window
        yield window[: len(window) - (n - 1)], tokens[end - n : end]
        predicted = end


# One continuation to score in a batch row: (row, end, continuation tokens). The row's
# predictions at positions end - len(continuation) .. end - 1 are those of the continuation.
ContinuationQuery = tuple[int, int, list[int]]


def query_positions(queries: Sequence[ContinuationQuery]) -> list[int]:
    """The positions (sorted) whose predictions some query reads: all a forward must produce logits for."""
    return sorted({p for _, end, cont in queries for p in range(end - len(cont), end)})


def score_continuations(
    logits: torch.Tensor, queries: Sequence[ContinuationQuery], positions: Sequence[int] | None = None
) -> list[LoglikelihoodResult]:
    """Sum of log-probabilities of each query's continuation under ``logits`` (B, T, V), and
    whether greedy decoding would have produced exactly those tokens. With ``positions``,
    ``logits`` (B, len(positions), V) holds only those positions (``query_positions``)."""
    index = {p: j for j, p in enumerate(positions)} if positions is not None else None
    out = []
    for row, end, cont in queries:
        if index is None:
            out.append(span_result(logits[row, end - len(cont) : end], cont))
        else:
            out.append(span_result(logits[row, [index[p] for p in range(end - len(cont), end)]], cont))
    return out


def _batches(order: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield order[start : start + size]


def check_batch_size(batch_size: Any) -> BatchSize:
    """A positive int or "auto" (what the CLI's ``--batch-size`` and the settings accept)."""
    if batch_size == "auto":
        return "auto"
    if isinstance(batch_size, str) and batch_size.isdigit():
        batch_size = int(batch_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise CalrayError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")
    return batch_size


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer puts BOS in front of a text on its own (then contexts get BOS too)."""
    probe = tokenizer("a")["input_ids"]
    return tokenizer.bos_token_id is not None and bool(probe) and probe[0] == tokenizer.bos_token_id


class TokenLM(ABC):
    """String requests -> token batches -> one ``_logits`` call per batch.

    Subclasses pass the tokenizer and the model's ``max_length`` to ``__init__`` (or set the
    attributes below themselves) and implement ``_logits``; ``_greedy`` has a cache-free
    default that a subclass with a KV cache (``HFModel``) replaces.
    """

    tokenizer: Any
    max_length: int
    batch_size: BatchSize
    add_bos: bool
    context_len: int = 1
    progress: bool | None = None
    share_prefixes: bool = False  # whether _score_prefixed is implemented (and wanted)

    def __init__(self, tokenizer: Any, *, max_length: int, batch_size: BatchSize = 16, add_bos: bool | None = None,
                 context_len: int = 1, progress: bool | None = None) -> None:
        """``add_bos`` None: whether the tokenizer adds BOS on its own; ``context_len``: the
        rolling-window overlap (1 = lm-eval's disjoint windows); ``batch_size`` rows per
        forward, or "auto" (from free memory)."""
        batch_size = check_batch_size(batch_size)
        if tokenizer.eos_token_id is None and tokenizer.bos_token_id is None:
            raise CalrayError("the tokenizer has neither an EOS nor a BOS token; evaluation needs one as a prefix")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.add_bos = tokenizer_adds_bos(tokenizer) if add_bos is None else add_bos
        self.context_len = context_len
        self.progress = progress

    # --- hooks -------------------------------------------------------------------------
    @abstractmethod
    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, T) ids -> (B, T, V) next-token logits. ``attention_mask`` (B, T) marks real tokens
        of left-padded rows; None means right padding, which a causal model needs no mask for
        (padding comes after every real token), so the fast causal attention path is kept."""

    def _score(self, input_ids: torch.Tensor, queries: Sequence[ContinuationQuery]) -> list[LoglikelihoodResult]:
        """Right-padded (B, T) ids -> one result per query (see ``score_continuations``). A model
        whose logits live elsewhere (the last stage of a pipeline) overrides this to reduce
        (B, T, V) logits to two numbers per query where they are computed."""
        return score_continuations(self._logits(input_ids, None), queries)

    def _score_prefixed(self, batch: PrefixBatch) -> list[LoglikelihoodResult]:
        """One result per query of ``batch``: its contexts run once, their KV caches serve the
        continuations (see ``calray.evaluate.shared_prefix``). Only for ``share_prefixes``."""
        raise NotImplementedError(f"{type(self).__name__} does not reuse a context's KV cache")

    def _next_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Left-padded (B, T) ids -> the greedy next token of each row (B,); overridable like ``_score``."""
        return self._logits(input_ids, attention_mask)[:, -1, :].argmax(-1)

    def _greedy(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, args: GenerationArgs) -> list[list[int]]:
        """Left-padded (B, T) prompts -> greedy new tokens per row (may run past a stop string;
        the caller cuts). Default: re-run the whole prefix each step (no KV cache)."""
        ids, mask = input_ids, attention_mask
        checker = self.stop_checker(args, rows=ids.shape[0])
        for _ in range(args.max_new_tokens):
            nxt = self._next_tokens(ids, mask)  # (B,)
            if all(checker.step(nxt.tolist())):
                break
            ids = torch.cat([ids, nxt[:, None]], dim=1)[:, -self.max_length :]
            mask = torch.cat([mask, torch.ones_like(nxt[:, None])], dim=1)[:, -self.max_length :]
        return checker.tokens

    def stop_checker(self, args: GenerationArgs, *, rows: int) -> StopChecker:
        """A ``StopChecker`` for one batch, sharing this model's memo of decoded tokens."""
        pieces = self.__dict__.setdefault("_stop_pieces", {})
        return StopChecker(self.tokenizer, args.until, eos_token_id=self.eos_token_id, rows=rows, pieces=pieces)

    def _memory_budget(self) -> int | None:
        """Bytes the batches of ``batch_size="auto"`` may use; None: unknown (then batches of
        ``AUTO_FALLBACK`` rows). A model class that knows its device says."""
        return None

    def _max_rows(self) -> int:
        """The most rows "auto" puts in a batch (a CPU is compute-bound long before memory runs out)."""
        return AUTO_MAX_ROWS

    def _row_bytes(self, width: int, kind: RequestKind, new_tokens: int = 0, copies: int = 1) -> int | None:
        """Memory one batch row of ``width`` tokens costs (plus ``new_tokens`` generated), or
        None; a "prefix" row also holds ``copies`` copies of its KV cache, each fed
        ``new_tokens`` more tokens."""
        return None

    def _plan(self, order: Sequence[int], widths: Sequence[int] | Mapping[int, int], kind: RequestKind,
              new_tokens: int = 0, copies: int = 1) -> Iterator[list[int]]:
        """Batches over ``order`` (sorted widest first): ``batch_size`` rows each, or under
        "auto" as many rows as fit the memory budget at the batch's widest row."""
        if self.batch_size != "auto":
            yield from _batches(list(order), self.batch_size)
            return
        budget = self._memory_budget()
        start = 0
        while start < len(order):
            row = self._row_bytes(widths[order[start]], kind, new_tokens, copies) if budget is not None else None
            size = AUTO_FALLBACK if row is None or budget is None else int(budget // max(row, 1))
            size = max(1, min(size, self._max_rows()))
            yield list(order[start : start + size])
            start += size

    # --- tokenisation --------------------------------------------------------------------
    @property
    def eos_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        """The token that conditions an empty context: BOS, else EOS (as lm-eval)."""
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.eos_token_id

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.eos_token_id

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens (one batched tokenizer call)."""
        if not texts:
            return []
        return self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]

    def _with_bos(self, ids: list[int]) -> list[int]:
        return [self.prefix_token_id, *ids] if (self.add_bos or not ids) else ids

    def encode_pairs(self, requests: Sequence[tuple[str, str]]) -> list[TokenRequest]:
        """lm-eval's split: trailing spaces of the context move to the continuation; the
        continuation's tokens are those of ``encode(context + continuation)`` past the context's."""
        contexts, wholes = [], []
        for context, continuation in requests:
            stripped = context.rstrip()
            contexts.append(stripped)
            wholes.append(stripped + context[len(stripped) :] + continuation)
        ctx_ids, whole_ids = self.encode(contexts), self.encode(wholes)
        out = []
        for ctx, whole in zip(ctx_ids, whole_ids, strict=True):
            cont = whole[len(ctx) :]
            if not cont:
                raise ValueError("a continuation encodes to no tokens; it must be non-empty")
            out.append((self._with_bos(ctx), cont))
        return out

    # --- scoring ---------------------------------------------------------------------------
    def _bar(self, total: int, desc: str) -> tqdm:
        return tqdm(total=total, desc=desc, disable=True if self.progress is False else None, leave=False)

    def score_tokens(self, requests: Sequence[TokenRequest], *, desc: str = "loglikelihood") -> list[LoglikelihoodResult]:
        """Score token-level (context, continuation) pairs; identical model inputs share a row,
        and with ``share_prefixes`` a context shared by several continuations runs once."""
        for _, cont in requests:
            if len(cont) > self.max_length:
                raise ValueError(f"continuation of {len(cont)} tokens exceeds max_length {self.max_length}")
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        bar = self._bar(len(requests), desc)
        rest: Sequence[int] = range(len(requests))
        if self.share_prefixes:
            groups, rest = group_by_context(requests, self.max_length)
            groups.sort(key=lambda g: (-len(g.prefix), g.prefix))
            plan = self._plan(range(len(groups)), [len(g.prefix) for g in groups], "prefix",
                              max((len(requests[i][1]) for g in groups for i in g.members), default=1) - 1,
                              max_copies(groups, requests))
            for batch in plan:
                prefixed = PrefixBatch.of([groups[j] for j in batch], requests)
                with torch.no_grad():
                    scored = self._score_prefixed(prefixed)
                for i, result in zip(prefixed.owners, scored, strict=True):
                    results[i] = result
                bar.update(len(prefixed.owners))
        self._score_plain(requests, rest, results, bar)
        bar.close()
        return results  # type: ignore[return-value]

    def _score_plain(self, requests: Sequence[TokenRequest], indices: Sequence[int],
                     results: list[LoglikelihoodResult | None], bar: tqdm) -> None:
        """Score ``requests[i]`` for i in ``indices`` into ``results``, one row per distinct model input."""
        inputs: dict[tuple[int, ...], list[int]] = defaultdict(list)  # model input -> request indices
        for i in indices:
            ctx, cont = requests[i]
            inputs[tuple((ctx + cont)[-(self.max_length + 1) :][:-1])].append(i)
        unique = sorted(inputs, key=lambda seq: (-len(seq), seq))
        for batch in self._plan(range(len(unique)), [len(seq) for seq in unique], "score"):
            seqs = [unique[j] for j in batch]
            width = len(seqs[0])
            ids = torch.full((len(seqs), width), self.pad_token_id, dtype=torch.long)  # right-padded
            for row, seq in enumerate(seqs):
                ids[row, : len(seq)] = torch.tensor(seq)
            owners = [i for seq in seqs for i in inputs[seq]]
            queries = [(row, len(seq), requests[i][1]) for row, seq in enumerate(seqs) for i in inputs[seq]]
            with torch.no_grad():
                scored = self._score(ids, queries)
            for i, result in zip(owners, scored, strict=True):
                results[i] = result
            bar.update(len(owners))

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        return self.score_tokens(self.encode_pairs(requests))

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingResult]:
        windows: list[TokenRequest] = []
        owner: list[int] = []
        counts: list[int] = []
        for i, ids in enumerate(self.encode(texts)):
            counts.append(len(ids))
            for window in rolling_windows(
                ids, prefix_token=self.prefix_token_id, max_length=self.max_length, context_len=self.context_len
            ):
                windows.append(window)
                owner.append(i)
        sums = [0.0] * len(texts)
        for i, res in zip(owner, self.score_tokens(windows, desc="rolling loglikelihood"), strict=True):
            sums[i] += res.logprob
        return [RollingResult(s, n) for s, n in zip(sums, counts, strict=True)]

    def generate_until(self, requests: Sequence[tuple[str, GenerationArgs]]) -> list[str]:
        contexts = [self._with_bos(ids) for ids in self.encode([c for c, _ in requests])]
        groups: dict[GenerationArgs, list[int]] = defaultdict(list)
        for i, (_, args) in enumerate(requests):
            groups[args].append(i)
        out: list[str] = [""] * len(requests)
        bar = self._bar(len(requests), "generate_until")
        for args, members in groups.items():
            new_tokens = min(args.max_new_tokens, self.max_length - 1)
            if new_tokens < args.max_new_tokens:
                log.warning(
                    "max_new_tokens %d exceeds max_length %d; generating %d", args.max_new_tokens, self.max_length, new_tokens
                )
                args = GenerationArgs(until=args.until, max_new_tokens=new_tokens)
            keep = self.max_length - new_tokens  # left-truncate prompts so prompt + output fits
            members.sort(key=lambda i: -len(contexts[i]))
            widths = {i: min(len(contexts[i]), keep) for i in members}
            for batch in self._plan(members, widths, "generate", new_tokens):
                seqs = [contexts[i][-keep:] for i in batch]
                width = max(len(s) for s in seqs)
                ids = torch.full((len(seqs), width), self.pad_token_id, dtype=torch.long)  # left-padded
                mask = torch.zeros((len(seqs), width), dtype=torch.long)
                for row, seq in enumerate(seqs):
                    ids[row, width - len(seq) :] = torch.tensor(seq)
                    mask[row, width - len(seq) :] = 1
                with torch.no_grad():
                    new = self._greedy(ids, mask, args)
                for i, toks in zip(batch, new, strict=True):
                    text = self.tokenizer.decode(toks, skip_special_tokens=True)
                    out[i] = cut_at_stop(text, args.until)
                    bar.update(1)
        bar.close()
        return out
