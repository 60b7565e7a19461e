"""Re-prune a recorded trial from its MLflow run and save the pruned model with its report.

The trial run's params give the mixture and calibration seed; its sweep's ``config.yaml``
artifact gives everything else (model, setup modules, method, target, mode, nsamples,
seqlen). Pruning is deterministic, so the saved model is the one the trial evaluated, in one
process, without Ray: ``sequential`` mode is ``calray.prune.prune_model`` on the mixture's
windows (the pool's pipeline reproduces it exactly); ``independent`` mode mixes per-source
Hessians of the dense model's activations on the windows the mixture allocates each source,
as the pool's shards do::

    calray export --run 3f2a... --out exports/best
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml
from transformers import PreTrainedModel

from calray.atomic import check_output_dir
from calray.config import validate
from calray.data import build_calibration, parse_mixture
from calray.durable import result_path
from calray.errors import CalrayError
from calray.evaluate import fingerprint_dir
from calray.models import resolve_model
from calray.prune import (
    LinearReport,
    PruneSettings,
    PruningReport,
    adapter_for,
    dense_statistics,
    embed_samples,
    load_pretrained,
    prune_mixed,
    prune_model,
    resolve_seqlen,
    save_pruned,
)
from calray.prune.linears import Blocks
from calray.sweep.config import SweepConfig
from calray.sweep.plan import plan_sweep, run_setup
from calray.sweep.results import SweepResult
from calray.sweep.tracking import DEFAULT_EXPERIMENT, KIND, PARENT, Tracker

if TYPE_CHECKING:
    from mlflow.entities import Run

log = logging.getLogger(__name__)


def run_config(tracker: Tracker, run_id: str) -> tuple[Run, SweepConfig]:
    """A trial run and the config of the sweep that made it."""
    from mlflow.exceptions import MlflowException

    try:
        run = tracker.client.get_run(run_id)
    except MlflowException:
        raise CalrayError(f"no MLflow run {run_id!r} in {tracker.uri}; list runs with `calray runs`") from None
    if run.data.tags.get(KIND) != "trial":
        raise CalrayError(f"run {run_id!r} is a {run.data.tags.get(KIND, 'non-calray')} run, not a sweep trial; "
                          "pick a trial from `calray runs`")
    parent = run.data.tags.get(PARENT)
    if parent is None:
        raise CalrayError(f"trial run {run_id!r} names no parent sweep run (tag {PARENT}); it was not recorded by calray sweep")
    local = tracker.client.download_artifacts(parent, "config.yaml")
    config = validate(SweepConfig, yaml.safe_load(Path(local).read_text()), f"the config of sweep run {parent}")
    return run, config


def prune_independent(
    model: PreTrainedModel, parts: Sequence[tuple[float, torch.Tensor]], settings: PruneSettings,
    *, through: Blocks | None = None,
) -> list[LinearReport]:
    """Prune every block of ``model`` in place from H(mix) = sum_s w_s H_s, each H_s from the
    *dense* model's activations on source s's windows (``parts``: (weight, (n, L) ids): the
    windows a mixture allocates the source, weighted by their count), block by block as a
    shard's cached statistics would give them; ``through``: an anchor's blocks, whose outputs
    feed each next block's statistics instead of the dense blocks'."""
    adapter = adapter_for(model)
    args = adapter.block_args()
    streams = [
        (
            weight,
            (
                stats
                for stats, _ in dense_statistics(
                    adapter.blocks,
                    embed_samples(model, ids, batch_size=settings.batch_size),
                    args,
                    through=through,
                    prefix=adapter.blocks_path,
                    batch_size=settings.batch_size,
                )
            ),
        )
        for weight, ids in parts
    ]
    return prune_mixed(adapter.blocks, streams, settings.pruning_method(), settings.target(), prefix=adapter.blocks_path,
                       include=settings.include, exclude=settings.exclude, layer_errors=settings.layer_errors)


def export_run(run_id: str, out: str | Path, *, tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT,
               overwrite: bool = False, format: str = "plain") -> Path:
    """Re-prune trial ``run_id`` and save it to ``out`` (model, tokenizer, pruning_report.json)
    in ``format`` (see ``calray.prune.save_pruned``); a non-empty ``out`` only with ``overwrite``."""
    out = result_path(out)  # never into a Ray job's temporary copy
    check_output_dir(out, overwrite=overwrite, what="export directory")
    tracker = Tracker(tracking_uri, experiment)
    run, config = run_config(tracker, run_id)
    run_setup(tuple(config.setup_modules), config.sources_file)
    params = run.data.params
    weights = {k[len("weight/"):]: float(v) for k, v in params.items() if k.startswith("weight/") and float(v) > 0}
    if not weights:
        raise CalrayError(f"run {run_id!r} records no mixture weights (params weight/<source>); was it made by calray sweep?")
    seed = int(params.get("seed", config.calibration.seed))
    model_dir = resolve_model(config.model)
    recorded = tracker.client.get_run(run.data.tags[PARENT]).data.tags.get("calray.model_fingerprint")
    if recorded and fingerprint_dir(model_dir) != recorded:
        raise CalrayError(f"the model at {model_dir!r} has changed since run {run_id!r} was recorded (fingerprint differs); "
                          "export needs the same model files")
    p = config.prune
    model, tokenizer = load_pretrained(model_dir, dtype=config.pool.get("dtype") or "auto")
    seqlen = resolve_seqlen(config.calibration.seqlen, model.config)
    method, target = p.pruning_method(), p.target()
    mixture = parse_mixture(weights)
    common: dict[str, Any] = {"nsamples": config.calibration.nsamples, "seqlen": seqlen, "seed": seed,
                              "sampling": config.calibration.sampling}
    report_config = {"run_id": run_id, "mixture": mixture.text(), "mixture_id": mixture.id, "mode": p.mode, "model": config.model,
                     "method": p.method, "target": str(target), **common}
    started = time.time()
    log.info("re-pruning run %s (%s, %s mode) on %s", run_id, mixture.text(), p.mode, model_dir)
    if p.mode == "sequential":
        calib = build_calibration(tokenizer, mixture, **common)
        report = prune_model(model, calib.input_ids, method, target, batch_size=p.batch_size, include=p.include,
                             exclude=p.exclude, layer_errors=p.layer_errors, config={**report_config, "counts": calib.counts})
    else:  # each source's statistics from the windows sequential mode allocates it, weighted by their count
        calib = build_calibration(tokenizer, mixture, **common)
        parts = [(count / calib.nsamples, calib.select(source)) for source, count in calib.counts.items()]
        through = None
        if p.anchor is not None:  # the sweep's anchor, pruned sequentially as the pool did
            anchor_mix = plan_sweep(config.model_copy(update={"cluster_yaml": None}), check_cluster=False).prune_settings().anchor
            assert anchor_mix is not None
            anchor = copy.deepcopy(model)
            prune_model(anchor, build_calibration(tokenizer, anchor_mix, **common).input_ids, method, target,
                        batch_size=p.batch_size, progress=False)
            through = adapter_for(anchor).blocks
            report_config["anchor"] = anchor_mix
        report = PruningReport(prune_independent(model, parts, p, through=through), time.time() - started,
                               {**report_config, "counts": calib.counts})
    path = save_pruned(model, tokenizer, report, out, overwrite=overwrite, format=format)
    tracker.set_tags(run_id, {"calray.exported_to": str(path)})
    log.info("exported run %s to %s (sparsity %.4f)", run_id, path, report.totals()["sparsity"])
    return path


def export_top(result: SweepResult, *, k: int, out: Path) -> list[Path]:
    """Export the ``k`` best finished trials of a ``SweepResult`` under ``out`` (one directory each)."""
    ranked = sorted(result.finished(), key=lambda t: -t.metrics["objective"])[:k]
    paths = []
    for rank, trial in enumerate(ranked, 1):
        objective = trial.metrics["objective"]
        tag = f"{objective:.1f}" if math.isfinite(objective) else "nan"
        paths.append(export_run(trial.run_id, out / f"{rank:02d}-{trial.trial_id}-{tag}", tracking_uri=result.tracking_uri,
                                experiment=result.experiment))
    return paths
