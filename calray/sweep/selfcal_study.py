"""The self-calibration comparison: sets the model writes itself (Self-Cal, SGS, IGSP) vs the
uniform multi-source mix and the general-text default, pruned and evaluated alike, per seed.

For every seed, each generator writes its set with that seed (``calray.selfcal.generate_set``,
cached), and one sweep (algorithm ``list``, calibration seed = that seed) prunes and evaluates
every generated set alone and every baseline mixture; all sweeps share one pool. The report
gives, per method, the mean and the sample standard deviation over seeds of each dimension's
retention and of the total, and each seed's total.

    python jobs/selfcal.py --config jobs/configs/selfcal_toy.yaml --report analysis/selfcal_toy.md
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from calray.config import StrictModel, expand_vars, read_yaml_mapping, validate
from calray.errors import CalrayError
from calray.format import fixed
from calray.sweep.config import SweepConfig, load_sweep_config
from calray.sweep.results import SweepResult

log = logging.getLogger("calray.sweep")


class Generation(StrictModel):
    """Where the sets are written. ``driver``: one after another in the job's process (the
    offline default; on a cluster give the job a GPU). ``ray``: one Ray task per (generator,
    seed), in parallel, each with ``num_gpus`` GPUs and ``num_cpus`` CPUs
    (``calray.cluster.generation``): the cluster's GPUs write the sets before the pool prunes."""

    where: Literal["driver", "ray"] = "driver"
    num_gpus: float = Field(default=0.0, ge=0)
    num_cpus: float = Field(default=1.0, gt=0)


class SelfCalStudy(StrictModel):
    """``generators``: label -> generator config (``calray.selfcal.config``, with ``method``);
    ``baselines``: label -> mixture of registered sources; ``sweep``: a sweep config without
    ``model``, ``space``, ``search`` or the calibration's nsamples / seqlen / seed(s)."""

    name: str = "selfcal"
    model: str
    seeds: list[int] = Field(default=[0], min_length=1)
    nsamples: int = Field(default=128, ge=1)
    seqlen: int = Field(default=2048, ge=2)
    out_dir: str = "selfcal-sets"
    device: str = "cpu"  # where a set is generated: the job's process, or each Ray task (see ``generation``)
    dtype: str = "auto"
    generation: Generation = Generation()
    generators: dict[str, dict[str, Any]] = Field(min_length=1)
    baselines: dict[str, dict[str, float]] = {}
    sweep: dict[str, Any] = {}

    @model_validator(mode="after")
    def _gpu_for_cuda(self) -> SelfCalStudy:
        if self.generation.where == "ray" and self.device.startswith("cuda") and self.generation.num_gpus <= 0:
            raise ValueError("device cuda with generation.where ray needs generation.num_gpus > 0 (each task's GPU)")
        return self


@dataclass
class StudyPlan:
    study: SelfCalStudy
    sweeps: list[SweepConfig]
    labels: list[dict[str, str]]  # per sweep: mixture_key of its weights -> study label


def load_study(path: str | Path, *, overrides: Sequence[str] = ()) -> SelfCalStudy:
    from calray.config import set_option

    data = expand_vars(read_yaml_mapping(path, "self-calibration study"))
    for assignment in overrides:
        set_option(data, assignment)
    study = validate(SelfCalStudy, data, f"self-calibration study {str(path)!r}")
    for key in ("model", "space", "search"):
        if key in study.sweep:
            raise CalrayError(f"study {str(path)!r}: sweep.{key} is set by the study; remove it")
    return study


def generate_sets(
    study: SelfCalStudy, *, base: Path, cache_dir: str | None = None
) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    """Write every (generator, seed) set under ``out_dir`` and one sources file naming them all
    (``selfcal:<label>-s<seed>``); returns that file and, per generator, each seed's ``selfcal.json``.
    With ``generation.where: ray`` the sets are written by parallel Ray tasks (Ray must be up)."""
    from calray.selfcal import generate_set, generator_config
    from calray.selfcal.store import GeneratedSet, save_set

    out = (base / study.out_dir).resolve()
    wanted = [(label, seed) for seed in study.seeds for label in study.generators]
    made: list[GeneratedSet]
    if study.generation.where == "ray":
        from calray.cluster.generation import SetRequest, generate_on_ray

        requests = [SetRequest(study.model, study.generators[label], study.nsamples, study.seqlen, seed,
                               source_name(label, seed), study.device, study.dtype) for label, seed in wanted]
        files = generate_on_ray(requests, num_gpus=study.generation.num_gpus, num_cpus=study.generation.num_cpus)
        made = [save_set(f, out / f"{label}-s{seed}", name=source_name(label, seed))
                for f, (label, seed) in zip(files, wanted, strict=True)]
    else:
        made = [generate_set(study.model, generator_config(study.generators[label]), nsamples=study.nsamples,
                             seqlen=study.seqlen, seed=seed, out=out / f"{label}-s{seed}", name=source_name(label, seed),
                             cache_dir=cache_dir, device=study.device, dtype=study.dtype) for label, seed in wanted]
    entries: dict[str, Any] = {}
    metas: dict[str, list[dict[str, Any]]] = {label: [] for label in study.generators}
    for one, (label, seed) in zip(made, wanted, strict=True):
        spec = yaml.safe_load((one.dir / "sources.yaml").read_text())["sources"][one.name]
        spec["files"] = str(one.dir / spec["files"])
        entries[one.name] = spec
        metas[label].append(one.meta)
        summary = one.meta["summary"]
        log.info("%s seed %d: %d documents%s", label, seed, one.meta["documents"],
                 f", objective {summary['objective']:.4f}" if "objective" in summary else "")
    path = out / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": entries}, sort_keys=False))
    return path, metas


SET_METRICS = ("perplexity", "seq_rep_4", "ngram_diversity", "vocab_coverage")


def set_rows(metas: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per generator, its documents and information metrics (mean ± std over seeds)."""
    rows = []
    for label, seeds in metas.items():
        cells = [label, mean_std([float(m["documents"]) for m in seeds], digits=0)]
        cells += [mean_std([m["metrics"][k] for m in seeds], digits=3) for k in SET_METRICS]
        rows.append(cells)
    return ["generator", "documents", *SET_METRICS], rows


def objective_rows(metas: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): IGSP's objective per seed, with seq-rep-4 and the perplexity spread of its
    selection and of its candidate pool."""
    rows = []
    for label, seeds in metas.items():
        for m in seeds:
            s = m["summary"]
            if "objective" not in s:
                continue
            rows.append([label, str(m["seed"]), fixed(s["objective"], 4), fixed(s["seq_rep_4"]["selected"], 3),
                         fixed(s["seq_rep_4"]["pool"], 3), fixed(s["perplexity_spread"]["selected"], 3),
                         fixed(s["perplexity_spread"]["pool"], 3), f"{s['selected_documents']} / {s['pool_documents']}"])
    header = ["generator", "seed", "objective J", "seq-rep-4 selected", "seq-rep-4 pool", "ppl spread selected",
              "ppl spread pool", "documents selected / pool"]
    return header, rows


def source_name(label: str, seed: int) -> str:
    return f"selfcal:{label.lower().replace(' ', '_')}-s{seed}"


def plan_study(study: SelfCalStudy, sources_file: Path, *, base: Path, overrides: Sequence[str] = ()) -> StudyPlan:
    """One sweep per seed over the generated sets of that seed and the baselines."""
    sweeps, labels = [], []
    for seed in study.seeds:
        mixtures: dict[str, dict[str, float]] = {source_name(label, seed): {source_name(label, seed): 1.0}
                                                 for label in study.generators}
        names = {source_name(label, seed): label for label in study.generators}
        mixtures.update(study.baselines)
        names.update({b: b for b in study.baselines})
        sources = sorted({s for mix in mixtures.values() for s in mix})
        data = dict(study.sweep)
        calibration = {**data.get("calibration", {}), "nsamples": study.nsamples, "seqlen": study.seqlen, "seed": seed}
        data.update(
            name=f"{study.name}-s{seed}", model=study.model, sources_file=str(sources_file), calibration=calibration,
            space={"sources": sources}, search={"algorithm": "list", "mixtures": list(mixtures.values())},
        )
        sweeps.append(load_sweep_config(data=data, overrides=overrides, base=base))
        labels.append({mixture_key(mix): names[key] for key, mix in mixtures.items()})
    return StudyPlan(study, sweeps, labels)


def mixture_key(weights: dict[str, float]) -> str:
    """Normalised weights, sources sorted: the same for a config's mixture and a trial's record."""
    total = sum(weights.values())
    return ",".join(f"{s}={w / total:.6f}" for s, w in sorted(weights.items()) if w > 0)


def study_rows(plan: StudyPlan, results: Sequence[SweepResult]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per method, mean +- std over seeds of each dimension and the total, and each seed's total."""
    dims = results[0].dimensions
    values: dict[str, dict[str, list[float]]] = {}
    per_seed: dict[str, dict[int, float]] = {}
    for labels, result, seed in zip(plan.labels, results, plan.study.seeds, strict=True):
        for trial in result.finished():
            label = labels.get(mixture_key(trial.weights), trial.label)
            row = values.setdefault(label, {d: [] for d in [*dims, "total"]})
            for d in dims:
                row[d].append(trial.retention(d))
            row["total"].append(trial.metrics.get("retention/total", math.nan))
            per_seed.setdefault(label, {})[seed] = row["total"][-1]
    header = ["method", *dims, "total", *(f"total s{s}" for s in plan.study.seeds)]
    rows = []
    for label, row in sorted(values.items(), key=lambda kv: -statistics.fmean(kv[1]["total"])):
        rows.append([label, *(mean_std(row[d]) for d in [*dims, "total"]),
                     *(fixed(per_seed[label].get(s)) for s in plan.study.seeds)])
    return header, rows


def mean_std(values: Sequence[float], digits: int = 1) -> str:
    """``mean ± std`` (sample std over seeds; the mean alone for one seed)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "n/a"
    if len(finite) == 1:
        return fixed(finite[0], digits)
    return f"{fixed(statistics.fmean(finite), digits)} ± {fixed(statistics.stdev(finite), digits)}"

