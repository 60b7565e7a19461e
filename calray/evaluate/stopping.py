"""When greedy generation may stop: EOS on token ids, stop strings on a short decoded tail.

Decoding every row's whole continuation after every step (what a naive ``generate_until``
does, and roughly what transformers' ``stop_strings`` criteria costs to set up for a 128k
vocabulary) makes generation the most expensive part of an evaluation. ``StopChecker`` does
three cheap things per new token instead:

1. EOS is a token id comparison;
2. a token whose own text cannot end a stop string (it holds none of the stop strings' last
   characters, is not empty and is not a partial UTF-8 piece) cannot complete one: most
   tokens stop here, after one dict lookup (each token's text is decoded once and memoised);
3. otherwise the row's last few tokens are decoded (``tail_tokens``, enough to span the
   longest stop string) and searched; a hit is confirmed on the whole decoded continuation,
   exactly the text the answer is cut from.

A row therefore stops at the first step at which its decoded continuation contains a stop
string, never earlier, so the returned text (cut before the first stop string) is the same as
with full decoding at every step. In a rare tokenisation where a stop string spans more
tokens than the tail, a row runs on to ``max_new_tokens``: slower, never different.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import StoppingCriteria

REPLACEMENT = "\ufffd"  # what a partial UTF-8 piece decodes to on its own


class StopChecker:
    """Tracks the rows of one batch: ``step(tokens)`` takes each row's newest token and says
    which rows are done (and stay done).

    >>> from calray.tiny import tiny_tokenizer
    >>> tok = tiny_tokenizer()
    >>> checker = StopChecker(tok, ("\\n\\n",), eos_token_id=tok.eos_token_id, rows=1)
    >>> [checker.step([t])[0] for t in tok("a\\n\\nb", add_special_tokens=False)["input_ids"]]
    [False, False, True, True]
    """

    def __init__(self, tokenizer: Any, until: Sequence[str], *, eos_token_id: int | None, rows: int,
                 pieces: dict[int, str] | None = None) -> None:
        self.tokenizer = tokenizer
        self.until = tuple(s for s in until if s)
        self.eos = eos_token_id
        self.tokens: list[list[int]] = [[] for _ in range(rows)]
        self.done = [False] * rows
        self.last_chars = frozenset(s[-1] for s in self.until)
        # Generous: a stop string of L characters spans at most L tokens that each decode to
        # at least one character; the margin covers boundary effects (a stripped leading space).
        self.tail_tokens = 2 * max((len(s) for s in self.until), default=0) + 4
        self._pieces = pieces if pieces is not None else {}

    def step(self, new_tokens: Sequence[int]) -> list[bool]:
        """Append each row's newest token (ignored for rows already done); return ``done``."""
        for row, token in enumerate(new_tokens):
            if self.done[row]:
                continue
            tokens = self.tokens[row]
            tokens.append(int(token))
            if token == self.eos or (self.until and self._may_stop(tokens)):
                self.done[row] = True
        return self.done

    def _may_stop(self, tokens: list[int]) -> bool:
        piece = self._piece(tokens[-1])
        if piece and REPLACEMENT not in piece and not (self.last_chars & set(piece)):
            return False
        tail = self.tokenizer.decode(tokens[-self.tail_tokens :], skip_special_tokens=True)
        if not any(s in tail for s in self.until):
            return False
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return any(s in text for s in self.until)

    def _piece(self, token: int) -> str:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self.tokenizer.decode([token], skip_special_tokens=True)
        return piece


class StopCriteria(StoppingCriteria):
    """``StopChecker`` as a transformers stopping criterion for ``model.generate``: called
    after each step with every row's ids so far (prompt included), it returns the rows that
    are done. Build one per ``generate`` call (it keeps each row's continuation)."""

    def __init__(self, checker: StopChecker, prompt_length: int) -> None:
        self.checker = checker
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        if input_ids.shape[1] <= self.prompt_length:
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        done = self.checker.step(input_ids[:, -1].tolist())
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
