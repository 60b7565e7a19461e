"""The pool: P pipelines of S shards serving ``prune_and_evaluate(job)`` to any process of a Ray job.

``PoolCore`` holds the logic; ``start_pool`` (client.py) runs it as a named, threaded Ray actor
(each request waits in its own thread, so requests never block one another: evaluation code
is synchronous and blocks on ``ray.get``) and returns a ``PoolClient``; ``connect_pool(name)``
finds it from any other process (a Tune trial)::

    pool = start_pool(PoolConfig(model="models/llama", pipelines=2, stages=4))
    result = pool.prune_and_evaluate(Job(calibration=Calibration(mixture="c4=1", nsamples=128),
                                         prune={"sparsity": 0.6}, evaluation={"limit": 100}))
    pool.capacity()["slots"]     # how many jobs to keep in flight: one per stage of every pipeline

A request goes to the pipeline with the fewest jobs in flight. Dense scores are computed once
per capability map (through the same pipeline, cached on disk by model fingerprint). A job
whose shard crashed is re-run (up to ``max_attempts``), and the caller receives one result.
A job that fails for its own reason (a ``PruningError``: NaN, a Hessian no damping fixes) gets
a ``failed`` result naming the layer, and the pool keeps serving.

An independent job with an ``anchor`` mixture has its statistics collected on the outputs of
that mixture's sequentially pruned copy: the first such job on a pipeline prunes it (its
seconds are the job's ``anchor`` timing) and the shards keep it, under an id derived from its
windows and settings, for every later job (one of each shard's ``max_jobs`` slots).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import ray
from pydantic import Field
from transformers import AutoConfig, AutoTokenizer

from calray.cluster.calib_metrics import CalibrationMetrics, window_perplexities
from calray.cluster.errors import RETRYABLE, ShardBusy, raising_cause
from calray.cluster.eval_model import PipelineLM
from calray.cluster.job import Calibration, Job, JobError, JobResult
from calray.cluster.loading import checkpoint_files, skeleton
from calray.cluster.pipeline import Pipeline, partition
from calray.cluster.shard import ShardOptions
from calray.cluster.windows import JobWindows, WindowBuilder
from calray.config import StrictModel
from calray.data import cache_root
from calray.data.sources import stable_hash
from calray.errors import CalrayError
from calray.evaluate import (
    CapabilityMap,
    CapabilityScores,
    DenseCache,
    LocalData,
    evaluate_capabilities,
    fingerprint_dir,
    retention,
)
from calray.models import resolve_model
from calray.prune import PruneSettings, PruningReport, adapter_for
from calray.prune.model_io import check_model_dir

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Anchor:
    """An independent job's anchor: its mixture's sequential pruning, kept on the shards as ``job_id``."""

    job_id: str
    settings: PruneSettings
    windows: JobWindows

log = logging.getLogger(__name__)

DEFAULT_NAME = "calray-pool"


class PoolConfig(StrictModel):
    """Where the model is and how the pool lays it out; every field has a working default."""

    model: str  # a directory, or a name calray.models resolves (toy, tiny:ARCH)
    pipelines: int = Field(default=1, ge=1)
    stages: int = Field(default=1, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpus_per_shard: float = Field(default=1.0, gt=0)
    threads_per_shard: int = Field(default=1, ge=1)
    dtype: str | None = None
    max_jobs_per_shard: int = Field(default=4, ge=1)
    stats_memory_gb: float = Field(default=2.0, ge=0)
    stats_dir: str | None = None  # default: <calray cache>/statistics/<model fingerprint>
    stats_disk_gb: float | None = Field(default=None, ge=0)
    eval_batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = 16  # "auto": from the shards' free memory
    max_attempts: int = Field(default=3, ge=1)
    max_restarts: int = Field(default=3, ge=0)
    admission_timeout_s: float = Field(default=3600.0, gt=0)
    dense_cache_dir: str | None = None  # default: $CALRAY_CACHE/dense-scores
    calibration_cache_dir: str | None = None  # default: $CALRAY_CACHE
    data: LocalData | None = None
    attn_implementation: str | None = None

    def shard_options(self, *, device: str, stats_dir: str, setup: Any = None) -> ShardOptions:
        """How the pool starts its shards: this config's shard settings on ``device``."""
        gib = 1 << 30
        return ShardOptions(
            device=device, cpus=self.cpus_per_shard, threads=self.threads_per_shard, dtype=self.dtype,
            max_jobs=self.max_jobs_per_shard, stats_memory_bytes=int(self.stats_memory_gb * gib), stats_dir=stats_dir,
            stats_disk_bytes=int(self.stats_disk_gb * gib) if self.stats_disk_gb is not None else None,
            max_restarts=self.max_restarts, attn_implementation=self.attn_implementation, setup=setup,
        )


class PoolCore:
    """The pool's logic (see the module docstring): ``start_pool`` runs it as an actor; a driver
    that needs no other client may also use it in-process."""

    def __init__(self, config: PoolConfig, *, setup: Any = None, name: str = DEFAULT_NAME) -> None:
        if setup is not None:
            setup()
        self.config = config
        self.name = name
        self.model_dir = str(Path(resolve_model(config.model)).expanduser().resolve())
        check_model_dir(Path(self.model_dir), config.model)  # clear errors before any actor starts
        checkpoint_files(self.model_dir)
        self.model_config = AutoConfig.from_pretrained(self.model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.fingerprint = fingerprint_dir(self.model_dir)
        self.num_blocks = len(adapter_for(skeleton(self.model_config)).blocks)
        self.device = self._device(config)
        stats_dir = config.stats_dir or str(cache_root() / "statistics" / self.fingerprint)
        options = config.shard_options(device=self.device, stats_dir=stats_dir, setup=setup)
        bounds = partition(self.num_blocks, config.stages)
        self.pipelines = [
            Pipeline.create(self.model_dir, bounds, options, index=p, name=f"{name}/pipeline{p}") for p in range(config.pipelines)
        ]
        self.windows = WindowBuilder(self.tokenizer, self.model_config, self.fingerprint, cache_dir=config.calibration_cache_dir)
        self.dense_cache = DenseCache(config.dense_cache_dir, data=config.data)
        self.calibration_metrics = CalibrationMetrics(self.tokenizer, vocab_size=self.model_config.vocab_size)
        self._lock = threading.Lock()
        self._in_flight = [0] * config.pipelines
        self._dense: dict[str, CapabilityScores] = {}
        self._keyed_locks: dict[Any, threading.Lock] = {}
        self._running: dict[str, dict[str, Any]] = {}
        self._counts = {"completed": 0, "failed": 0, "retried": 0}
        self._retired: set[int] = set()
        log.info("pool %s: %d pipelines x %d stages on %s, blocks %s", name, config.pipelines, config.stages, self.device, bounds)

    @staticmethod
    def _device(config: PoolConfig) -> str:
        if config.device != "auto":
            return config.device
        gpus = ray.cluster_resources().get("GPU", 0)
        return "cuda" if gpus >= config.pipelines * config.stages else "cpu"

    # --- the service -------------------------------------------------------------------------
    def prune_and_evaluate(self, job: Job) -> JobResult:
        """Prune with ``job``'s calibration and evaluate; the same result an undisturbed run gives."""
        if not isinstance(job, Job):
            raise CalrayError(f"prune_and_evaluate takes a Job, got {type(job).__name__}")
        started = time.time()
        cmap = job.evaluation.selected_map()
        anchor = self._anchor(job) if job.prune.anchor is not None and job.prune.needs_calibration() else None
        windows = self.windows.for_job(job.calibration, sequential=job.prune.mode == "sequential",
                                       through=anchor.job_id if anchor else None)
        run = uuid.uuid4().hex[:10]

        def attempt(pipeline: Pipeline, number: int) -> JobResult:
            job_id = f"{job.name or 'job'}-{run}-{number}"
            self._running[job_id] = {"name": job.name, "pipeline": pipeline.index, "attempt": number, "phase": "queued",
                                     "since": time.time()}
            try:
                result = self._run(job, pipeline, job_id, cmap, windows, anchor)
                if result.ok and job.calibration_metrics != "none":
                    result = self._with_calibration_metrics(result, job, pipeline, windows)
            finally:
                self._running.pop(job_id, None)
                pipeline.release(job_id)
            status = "completed" if result.ok else "failed"
            with self._lock:
                self._counts[status] += 1
            return dataclasses.replace(result, attempts=number, timings={**result.timings, "total": time.time() - started})

        return self._with_retries(f"job {job.name!r}", attempt, count=True)

    def dense_scores(self, job: Job) -> dict[str, dict[str, float]]:
        """The dense model's scores (task -> metric -> value) on ``job``'s capability map, as every
        job of that map is compared with (computed once, then cached)."""
        cmap = job.evaluation.selected_map()

        def attempt(pipeline: Pipeline, _: int) -> dict[str, dict[str, float]]:
            return {t: dict(s.metrics) for t, s in self._dense_scores(cmap, pipeline, job).tasks.items()}

        return self._with_retries("the dense evaluation", attempt)

    def _with_retries(self, what: str, attempt: Callable[[Pipeline, int], T], *, count: bool = False) -> T:
        """The pool's one retry policy: run ``attempt`` on the least loaded pipeline; when it
        loses a shard (``RETRYABLE``, also inside a Ray task error), heal the pipeline and run
        it again, up to ``max_attempts`` times. ``count`` adds the re-runs to ``retried``."""
        last: BaseException | None = None
        for number in range(1, self.config.max_attempts + 1):
            pipeline = self._acquire()
            try:
                with raising_cause(*RETRYABLE):
                    return attempt(pipeline, number)
            except RETRYABLE as exc:
                last = exc
                if count:
                    with self._lock:
                        self._counts["retried"] += 1
                log.warning("%s: attempt %d lost a shard (%s); running it again", what, number, type(exc).__name__)
                self._heal(pipeline)
            finally:
                self._done(pipeline)
        raise CalrayError(f"{what} lost a shard in each of its {self.config.max_attempts} attempts; last: {last}")

    def _with_calibration_metrics(self, result: JobResult, job: Job, pipeline: Pipeline, windows: JobWindows) -> JobResult:
        assert windows.allocated is not None
        ids, keys = windows.allocated()
        perplexity = None
        if job.calibration_metrics == "all":
            lm = PipelineLM(pipeline, None, self.tokenizer, config=self.model_config, batch_size=self.config.eval_batch_size)
            perplexity = functools.partial(window_perplexities, lm)
        metrics = self.calibration_metrics.compute(ids, keys, perplexity=perplexity)
        return dataclasses.replace(result, calibration={**result.calibration, "metrics": metrics})

    def _heal(self, pipeline: Pipeline) -> None:
        """Wait for Ray to restart a crashed shard; retire the pipeline if it is gone for good."""
        try:
            pipeline.wait_ready()
        except ray.exceptions.ActorDiedError as exc:
            with self._lock:
                self._retired.add(pipeline.index)
                left = len(self.pipelines) - len(self._retired)
            log.error("pipeline %d retired: a shard died for good (%s); %d pipelines left", pipeline.index, exc, left)

    def capacity(self) -> dict[str, Any]:
        """Pipelines, stages, device and load. ``slots`` (one job per stage of every pipeline) is
        how many jobs to keep in flight to keep every device busy."""
        with self._lock:
            return {
                "pipelines": len(self.pipelines),
                "stages": self.config.stages,
                "devices": len(self.pipelines) * self.config.stages,
                "device": self.device,
                "slots": (len(self.pipelines) - len(self._retired)) * self.config.stages,
                "max_jobs_per_shard": self.config.max_jobs_per_shard,
                "in_flight": sum(self._in_flight),
                "per_pipeline": list(self._in_flight),
                "retired": sorted(self._retired),
                "model": self.model_dir,
                "model_fingerprint": self.fingerprint,
                **self._counts,
            }

    def status(self) -> list[dict[str, Any]]:
        """The jobs in flight: name, pipeline, attempt and phase (queued, statistics, prune, evaluate)."""
        return [{"job_id": k, **v} for k, v in list(self._running.items())]

    def shards(self) -> list[list[Any]]:
        """The shard actor handles, per pipeline in stage order."""
        return [p.shards for p in self.pipelines]

    def activity(self) -> list[list[list[tuple[str, str, float, float]]]]:
        """Per pipeline, per stage: (what, job, start, end) of every computation."""
        return [p.activity() for p in self.pipelines]

    def shutdown(self) -> None:
        for pipeline in self.pipelines:
            pipeline.shutdown()

    # --- one attempt -----------------------------------------------------------------------------
    def _anchor(self, job: Job) -> Anchor:
        c = job.calibration
        settings = job.prune.model_copy(update={"mode": "sequential", "anchor": None})
        calibration = Calibration(mixture=job.prune.anchor, nsamples=c.nsamples, seqlen=c.seqlen, seed=c.seed,
                                  sampling=c.sampling)
        windows = self.windows.for_job(calibration, sequential=True)
        return Anchor(f"anchor-{stable_hash([windows.info['id'], settings.model_dump(mode='json')], length=12)}", settings,
                      windows)

    def _run(
        self, job: Job, pipeline: Pipeline, job_id: str, cmap: CapabilityMap, windows: JobWindows, anchor: Anchor | None
    ) -> JobResult:
        timings: dict[str, float] = {}
        settings = job.prune
        sequential = settings.mode == "sequential"
        base: dict[str, Any] = {"name": job.name, "mode": settings.mode, "calibration": windows.info,
                                "pipeline": pipeline.index}
        clock = time.time()
        try:
            with raising_cause(*RETRYABLE, CalrayError):
                if anchor is not None:
                    self._phase(job_id, "anchor")
                    if self._ensure_anchor(pipeline, anchor, job):
                        timings["anchor"] = time.time() - clock
                    clock = time.time()
                self._admit(pipeline, job_id, job, windows, sequential)
                timings["queued"] = time.time() - clock
                if not sequential and settings.needs_calibration():
                    self._phase(job_id, "statistics")
                    clock = time.time()
                    self._ensure_statistics(pipeline, windows, settings.batch_size, anchor.job_id if anchor else None)
                    timings["statistics"] = time.time() - clock
                self._phase(job_id, "prune")
                clock = time.time()
                if sequential:
                    assert windows.windows is not None
                    refs = pipeline.prune_sequential(job_id, settings, windows.windows())
                else:
                    refs = pipeline.prune_independent(job_id, settings, windows.parts)
                reports = [r for part in ray.get(refs) for r in part]
                timings["prune"] = time.time() - clock
        except CalrayError as exc:  # the job's own failure (a PruningError names the layer)
            log.warning("job %s failed: %s", job_id, exc)
            error = JobError(reason=str(exc), layer=getattr(exc, "layer", None), kind=type(exc).__name__)
            return JobResult(status="failed", error=error, timings=timings, **base)
        self._phase(job_id, "evaluate")
        clock = time.time()
        dense = self._dense_scores(cmap, pipeline, job)
        timings["dense"] = time.time() - clock
        clock = time.time()
        lm = PipelineLM(pipeline, job_id, self.tokenizer, config=self.model_config, batch_size=self.config.eval_batch_size)
        scores = evaluate_capabilities(lm, cmap, data=self.config.data, seed=job.evaluation.eval_seed)
        timings["evaluate"] = time.time() - clock
        kept = retention(scores, dense)
        report = PruningReport(reports, timings["prune"], {})
        pruning = {**report.totals(), "damping_escalations": sum(r.info.get("damping_escalations", 0.0) for r in reports)}
        return JobResult(
            status="ok",
            retention=dict(kept.dimensions),
            total=kept.total,
            scores={t: dict(s.metrics) for t, s in scores.tasks.items()},
            dense_scores={t: dict(s.metrics) for t, s in dense.tasks.items()},
            tasks=[t.to_dict() for t in kept.tasks],
            item_scores={t: s.items for t, s in scores.tasks.items()},
            dense_item_scores={t: s.items for t, s in dense.tasks.items()},
            pruning=pruning,
            timings=timings,
            **base,
        )

    def _admit(self, pipeline: Pipeline, job_id: str, job: Job, windows: JobWindows, sequential: bool) -> None:
        """Reserve room on every stage, waiting (back-pressure) while other jobs fill a shard."""
        deadline = time.time() + self.config.admission_timeout_s
        delay = 0.05
        while True:
            try:
                pipeline.admit(job_id, nsamples=windows.nsamples, seqlen=windows.seqlen, batch_size=job.prune.batch_size,
                               sequential=sequential)
                return
            except ShardBusy as exc:
                if time.time() > deadline:
                    raise CalrayError(f"job {job.name!r} waited {self.config.admission_timeout_s:.0f}s for room on a "
                                      f"shard ({exc}); raise max_jobs_per_shard or admission_timeout_s") from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _ensure_anchor(self, pipeline: Pipeline, anchor: Anchor, job: Job) -> bool:
        """Prune the anchor on ``pipeline`` unless its shards hold it; True when it was pruned now."""
        with self._keyed_lock(("anchor", pipeline.index, anchor.job_id)):
            if pipeline.holds(anchor.job_id):
                return False
            self._admit(pipeline, anchor.job_id, job, anchor.windows, True)
            assert anchor.windows.windows is not None
            try:
                ray.get(pipeline.prune_sequential(anchor.job_id, anchor.settings, anchor.windows.windows()))
            except BaseException:
                pipeline.release(anchor.job_id)
                raise
            return True

    def _ensure_statistics(self, pipeline: Pipeline, windows: JobWindows, batch_size: int, through: str | None) -> None:
        """Compute the per-source statistics some stage lacks, once even under concurrency."""
        keys = sorted(windows.part_windows)
        locks = [self._keyed_lock(("stats", pipeline.index, k)) for k in keys]
        for lock in locks:
            lock.acquire()
        try:
            missing = pipeline.missing_statistics(keys)
            refs = [
                pipeline.collect(k, windows.part_windows[k](), batch_size=batch_size, upto=upto, through=through)
                for k, upto in missing.items()
            ]
            ray.get(refs)
        finally:
            for lock in reversed(locks):
                lock.release()

    def _dense_scores(self, cmap: CapabilityMap, pipeline: Pipeline, job: Job) -> CapabilityScores:
        """The dense model's scores on ``cmap``: once per map (memory, then disk), through the pipeline."""
        key = job.evaluation.dense_key(self.fingerprint)
        seed = job.evaluation.eval_seed
        with self._keyed_lock(("dense", key)):
            if key not in self._dense:
                lm = PipelineLM(pipeline, None, self.tokenizer, config=self.model_config, batch_size=self.config.eval_batch_size)
                self._dense[key] = self.dense_cache.scores(
                    self.fingerprint, cmap,
                    lambda cached: evaluate_capabilities(lm, cmap, data=self.config.data, seed=seed, cached=cached),
                )
            return self._dense[key]

    # --- bookkeeping -------------------------------------------------------------------------------
    def _acquire(self) -> Pipeline:
        """The live pipeline with the fewest jobs in flight (the first on ties)."""
        with self._lock:
            live = [p for p in range(len(self.pipelines)) if p not in self._retired]
            if not live:
                raise CalrayError("every pipeline of the pool lost a shard for good; start a new pool")
            index = min(live, key=lambda p: (self._in_flight[p], p))
            self._in_flight[index] += 1
            return self.pipelines[index]

    def _done(self, pipeline: Pipeline) -> None:
        with self._lock:
            self._in_flight[pipeline.index] -= 1

    def _phase(self, job_id: str, phase: str) -> None:
        if job_id in self._running:
            self._running[job_id]["phase"] = phase

    def _keyed_lock(self, key: Any) -> threading.Lock:
        with self._lock:
            return self._keyed_locks.setdefault(key, threading.Lock())
