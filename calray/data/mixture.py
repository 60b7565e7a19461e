"""Mixtures: which calibration sources, in what proportion, and how many samples each.

``c4=0.5,gsm8k=0.5`` gives weights (normalised to sum 1); ``c4=64,gsm8k=64`` gives integer
counts, which also fix nsamples (their sum) unless nsamples is given, in which case they
act as weights. A glob (``toy:*=1``) gives each matching source that weight, and a bare
name (``gsm8k``) means weight 1. Sample counts come from the largest-remainder method, so
they sum to nsamples and each is within 1 of weight x nsamples.

>>> allocate({"c4": 1, "gsm8k": 1, "svamp": 1}, 8)
{'c4': 3, 'gsm8k': 3, 'svamp': 2}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from calray.data.sources import get_source, select_sources, stable_hash
from calray.data.sources_file import looks_like_path, path_source
from calray.errors import CalrayError

_ENTRY = re.compile(r"^\s*([^=\s]+)\s*(?:=\s*(\S+)\s*)?$")
_INTEGER = re.compile(r"^\d+$")


def _check_weights(weights: Mapping[str, float]) -> None:
    for name, w in weights.items():
        if not isinstance(w, (int, float)) or isinstance(w, bool) or math.isnan(w) or math.isinf(w):
            raise CalrayError(f"weight of {name!r} is {w!r}; weights must be finite numbers >= 0")
        if w < 0:
            raise CalrayError(f"weight of {name!r} is {w}; weights must be >= 0 (leave a source out to give it 0)")
    if not weights or sum(weights.values()) <= 0:
        raise CalrayError(f"mixture {dict(weights)} has no positive weight; give at least one source a weight > 0")


def allocate(weights: Mapping[str, float], nsamples: int) -> dict[str, int]:
    """Per-source sample counts by largest remainder; ties go to the larger weight, then the name.

    Counts sum to ``nsamples`` and each is within 1 of its share ``w / sum(w) * nsamples``.
    Sources keep the order of ``weights``; a zero weight gets 0 samples.
    """
    if isinstance(nsamples, bool) or not isinstance(nsamples, int) or nsamples < 1:
        raise CalrayError(f"nsamples is {nsamples!r}; it must be an integer >= 1")
    _check_weights(weights)
    total = float(sum(weights.values()))
    quotas = {name: w / total * nsamples for name, w in weights.items()}
    counts = {name: math.floor(q) for name, q in quotas.items()}
    left = nsamples - sum(counts.values())
    order = sorted(weights, key=lambda name: (-(quotas[name] - counts[name]), -weights[name], name))
    for name in order[:left]:
        counts[name] += 1
    return counts


@dataclass(frozen=True)
class Mixture:
    """Normalised source weights, sorted by source name, zero weights dropped.

    ``nsamples`` is set when the mixture was given as integer counts.
    """

    weights: tuple[tuple[str, float], ...]
    nsamples: int | None = None

    @classmethod
    def from_weights(cls, weights: Mapping[str, float], *, nsamples: int | None = None) -> Mixture:
        _check_weights(weights)
        total = float(sum(weights.values()))
        normalised = tuple(sorted((name, w / total) for name, w in weights.items() if w > 0))
        return cls(normalised, nsamples)

    @property
    def sources(self) -> list[str]:
        return [name for name, _ in self.weights]

    def as_dict(self) -> dict[str, float]:
        return dict(self.weights)

    def text(self) -> str:
        """The normalised text form, e.g. ``c4=0.5,gsm8k=0.5``; counts as given become weights."""
        return ",".join(f"{name}={w:.12g}" for name, w in self.weights)

    @property
    def id(self) -> str:
        """A stable short hash of the normalised weights, for cache keys and run tracking."""
        return stable_hash(self.text(), length=12)

    def counts(self, nsamples: int | None = None) -> dict[str, int]:
        """Samples per source for ``nsamples`` (default: the counts' sum, else 128)."""
        return allocate(self.as_dict(), nsamples if nsamples is not None else self.nsamples or 128)


def parse_mixture(mixture: str | Mapping[str, float] | Mixture) -> Mixture:
    """A Mixture from ``"c4=0.5,gsm8k=0.5"``, ``"c4=64,gsm8k=64"``, ``"toy:*"`` or a dict.

    Every name must be a registered source (CalrayError with "did you mean" otherwise), or a
    path: a file, or a directory holding a ``sources.yaml`` of one source (a generated set,
    ``calray selfcal``), registered on the way (``path_source``).
    """
    if isinstance(mixture, Mixture):
        return mixture
    if isinstance(mixture, Mapping):
        raw = {str(k): v for k, v in mixture.items()}
        integer = all(isinstance(v, int) and not isinstance(v, bool) for v in raw.values())
    else:
        raw, integer = _parse_text(mixture)
    weights: dict[str, float] = {}
    for key, value in raw.items():
        if looks_like_path(key):
            names = [path_source(key).name]
        elif any(ch in key for ch in "*?["):
            names = select_sources(key)
        else:
            names = [get_source(key).name]
        for name in names:
            if name in weights:
                raise CalrayError(f"source {name!r} appears twice in mixture {mixture!r}; name each source once")
            weights[name] = value
    _check_weights(weights)
    nsamples = int(sum(weights.values())) if integer else None
    return Mixture.from_weights(weights, nsamples=nsamples)


def _parse_text(mixture: str) -> tuple[dict[str, float], bool]:
    raw: dict[str, float] = {}
    integer = True
    for part in mixture.split(","):
        match = _ENTRY.match(part)
        if not match:
            raise CalrayError(
                f"mixture entry {part!r} in {mixture!r} is not NAME=WEIGHT; write e.g. c4=0.5,gsm8k=0.5 or c4=64,gsm8k=64"
            )
        name, value = match.group(1), match.group(2) or "1"
        try:
            weight = float(value)
        except ValueError:
            raise CalrayError(f"weight {value!r} of {name!r} in mixture {mixture!r} is not a number") from None
        if name in raw:
            raise CalrayError(f"source {name!r} appears twice in mixture {mixture!r}; name each source once")
        integer = integer and bool(_INTEGER.match(value)) and match.group(2) is not None
        raw[name] = weight
    return raw, integer
