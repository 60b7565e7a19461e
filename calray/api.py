"""``calray.oneshot``: prune a model on calibration data in one call, as llm-compressor's
``oneshot`` does, over calray's own pieces (``calray.data.build_calibration``,
``calray.prune.prune_model``, ``save_pruned``)::

    pruned = calray.oneshot(model="toy", calibration="toy:gsm=32,toy:web=32", sparsity=0.6, seqlen=128)
    pruned.report.totals()["sparsity"]          # or: model, report = calray.oneshot(...)
    calray.evaluate(pruned, capabilities="toy", limit=20, dense="toy").retention.total

``calibration`` is a mixture of registered sources (``"c4=64,gsm8k=64"``, weights or
counts, or a dict), a local file, a ``datasets.Dataset`` (its ``text_field`` column) or a
list of texts; texts are packed into windows, as a records source is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calray.errors import CalrayError


@dataclass
class Pruned:
    """The pruned model (in memory, on the CPU), its tokenizer and report, the calibration
    set it was pruned on and where it was saved (None unless ``output_dir`` was given).
    Unpacks as ``model, report``."""

    model: Any
    tokenizer: Any
    report: Any
    calibration: Any
    output_dir: Path | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.model, self.report))


def texts_source(texts: Sequence[str]) -> str:
    """Register ``texts`` as a calibration source named by their hash; its name."""
    from calray.data import Source, register_source
    from calray.data.sources import stable_hash

    if not texts or not all(isinstance(t, str) for t in texts):
        raise CalrayError("calibration texts must be a non-empty list of strings")
    name = f"texts:{stable_hash(list(texts), 12)}"
    register_source(Source(name=name, dimension="general", loader=list(texts), description="texts given to calray.oneshot"),
                    replace=True)
    return name


def calibration_mixture(calibration: Any, text_field: str = "text") -> str | Mapping[str, float]:
    """The mixture that ``calibration`` names (see the module docstring)."""
    from calray.data import file_source

    if isinstance(calibration, Mapping):
        return calibration
    if isinstance(calibration, (str, Path)):
        return file_source(calibration).name if Path(calibration).is_file() else str(calibration)
    if hasattr(calibration, "column_names"):  # a datasets.Dataset
        if text_field not in calibration.column_names:
            raise CalrayError(f"the calibration dataset has no column {text_field!r} (it has {calibration.column_names}); "
                              "pass text_field=")
        return texts_source(list(calibration[text_field]))
    if isinstance(calibration, Sequence):
        return texts_source(list(calibration))
    raise CalrayError("calibration must be a mixture, a file, a datasets.Dataset or a list of texts, "
                      f"not {type(calibration).__name__}")


def oneshot(
    model: Any,
    calibration: Any,
    *,
    tokenizer: Any = None,
    method: str = "sparsegpt",
    sparsity: float | None = None,
    n_m: str | None = None,
    nsamples: int | None = None,
    seqlen: int | None = None,
    seed: int = 0,
    text_field: str = "text",
    device: str = "cpu",
    batch_size: int = 8,
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    layer_errors: bool = True,
    output_dir: str | Path | None = None,
    format: str = "plain",
) -> Pruned:
    """Prune ``model`` (a directory, hub id or calray model name, or a transformers model with
    its ``tokenizer``) with ``method`` to ``sparsity`` (unstructured) or ``n_m`` ("2:4") on
    ``calibration``; save it to ``output_dir`` in ``format`` if given. ``seqlen`` defaults to
    the model's context capped at 2048, ``nsamples`` to the mixture's counts, else 128."""
    from calray.data import build_calibration
    from calray.models import resolve_model
    from calray.prune import METHODS, Target, check_widths, load_pretrained, model_linears, prune_model, resolve_seqlen
    from calray.prune.compressed import check_format
    from calray.prune.model_io import save_pruned

    target = Target.parse(sparsity=sparsity, n_m=n_m)
    pruning_method = METHODS.get(method)
    check_format(format)
    name = str(model) if isinstance(model, (str, Path)) else type(model).__name__
    if isinstance(model, (str, Path)):
        model, tokenizer = load_pretrained(resolve_model(model))
    elif tokenizer is None:
        raise CalrayError("an in-memory model needs its tokenizer: calray.oneshot(model, calibration, tokenizer=...)")
    check_widths(model_linears(model, include=list(include), exclude=list(exclude)), target)
    calib = build_calibration(tokenizer, calibration_mixture(calibration, text_field), nsamples=nsamples,
                              seqlen=resolve_seqlen(seqlen, model.config), seed=seed)
    config = {
        "model": name, "method": method, "target": str(target), "sparsity": target.sparsity,
        "n_m": list(target.n_m) if target.n_m else None, "mixture": calib.mixture.text(), "mixture_id": calib.mixture.id,
        "counts": calib.counts, "calibration_id": calib.id, "nsamples": calib.nsamples, "seqlen": calib.seqlen,
        "seed": seed, "sampling": calib.sampling, "include": list(include), "exclude": list(exclude),
        "layer_errors": layer_errors,
    }
    report = prune_model(model, calib.input_ids, pruning_method, target, device=device, batch_size=batch_size,
                         include=list(include), exclude=list(exclude), layer_errors=layer_errors, config=config)
    out = save_pruned(model, tokenizer, report, output_dir, format=format) if output_dir is not None else None
    return Pruned(model, tokenizer, report, calib, out)
