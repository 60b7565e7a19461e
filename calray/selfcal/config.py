"""Every knob of the three self-calibration generators, one pydantic model each (``extra="forbid"``).

A config with its ``method`` decides a generated set together with the model, ``nsamples``,
``seqlen`` and the seed; all five key the cache. Defaults are the papers' settings where a
paper gives one, and the choices of ``calray.selfcal.igsp`` otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from calray.config import StrictModel, validate
from calray.selfcal.generation import Decoding

# Self-Cal's stop-word start: the first token is one of these words' first tokens (lower and capitalised).
STOP_WORDS = (
    "the", "a", "an", "in", "on", "it", "this", "that", "there", "when", "if", "as", "for", "we", "i", "he", "she",
    "they", "you", "to", "of", "and", "but", "what", "how", "one", "some", "all", "my", "our",
)


class Budget(StrictModel):
    """How much text a generator writes: enough documents for ``margin`` x the set's tokens
    (re-tokenising decoded text may shorten it a little), ``batch_size`` rows per ``generate``."""

    batch_size: int = Field(default=32, ge=1)
    margin: float = Field(default=1.1, ge=1.0)
    max_new_tokens: int | None = Field(default=None, ge=1)  # default: seqlen
    max_batches: int = Field(default=10_000, ge=1)  # a model that only writes EOS must not loop forever


class SelfCalConfig(StrictModel):
    """Self-Cal (Williams et al., NAACL 2025): unconditioned generations (BOS only), scheduled
    temperature, generations packed (EOS between them) into seqlen windows."""

    method: Literal["selfcal"] = "selfcal"
    decoding: Decoding = Decoding()
    stopword_start: bool = False
    stop_words: tuple[str, ...] = STOP_WORDS
    budget: Budget = Budget()


class SGSConfig(StrictModel):
    """SGS (Ji et al., 2024): short prefixes of a seed corpus continued by the model; the
    ``drop_fraction`` of highest-perplexity samples dropped; the rest joined, and seqlen
    windows taken at random offsets. The paper says only "a short prefix": 16 tokens is
    calray's choice, and it samples as many prefixes as the set needs, not a fixed 5k."""

    method: Literal["sgs"] = "sgs"
    seed_source: str = "wikitext2"
    prefix_tokens: int = Field(default=16, ge=1)
    decoding: Decoding = Decoding(t_init=0.6, t_final=0.6, top_k=50, top_p=0.95, repetition_penalty=1.2)
    drop_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    budget: Budget = Budget()


class IGSPConfig(StrictModel):
    """IGSP (the seed paper, as designed in ``calray.selfcal.igsp``): a candidate pool written
    under every (prompt, decoding) pair, ``dimensions`` latent capability clusters of the model's
    own hidden states, and a greedy selection minimising seq-rep-4 + ``balance_weight`` x the
    per-dimension perplexity imbalance, with an equal token budget per dimension."""

    method: Literal["igsp"] = "igsp"
    prompts: tuple[str, ...] = ("", "The", "A", "1", "Q:", "def", "#", "-")
    decodings: tuple[Decoding, ...] = (
        Decoding(),
        Decoding(t_init=0.7, t_final=0.7, top_p=0.95),
        Decoding(t_init=1.2, t_final=1.0, top_k=50),
        Decoding(t_init=0.6, t_final=0.6, top_k=50, top_p=0.95, repetition_penalty=1.2),
    )
    pool_factor: float = Field(default=3.0, ge=1.0)
    dimensions: int = Field(default=4, ge=1)
    ngram: int = Field(default=4, ge=1)
    balance_weight: float = Field(default=1.0, ge=0.0)
    min_tokens: int = Field(default=8, ge=1)
    budget: Budget = Budget()

    @model_validator(mode="after")
    def _non_empty(self) -> IGSPConfig:
        if not self.prompts or not self.decodings:
            raise ValueError("IGSP needs at least one prompt ('' = BOS only) and one decoding")
        return self


GeneratorConfig = Annotated[Union[SelfCalConfig, SGSConfig, IGSPConfig], Field(discriminator="method")]
METHODS: dict[str, type[StrictModel]] = {"selfcal": SelfCalConfig, "sgs": SGSConfig, "igsp": IGSPConfig}


class _Holder(StrictModel):
    config: GeneratorConfig


def generator_config(data: dict[str, Any]) -> SelfCalConfig | SGSConfig | IGSPConfig:
    """A validated generator config from a mapping with ``method`` (CalrayError naming bad keys)."""
    return validate(_Holder, {"config": data}, f"{data.get('method', 'self-calibration')} config").config
