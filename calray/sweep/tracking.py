"""MLflow records of a sweep: one parent run, one nested run per trial, a dense run per model.

Every write happens in the driver process (the Tune callbacks run there), through
``MlflowClient``, so trials never race on the store and the experiment is created once.
Runs are found again by tags rather than remembered, which is what makes a resumed sweep
record each trial exactly once:

- ``calray.kind``: ``sweep`` (parent), ``trial`` or ``dense``;
- ``calray.sweep_id`` on the parent and its trials; ``calray.trial_key`` = sweep id / Tune
  trial id on a trial: a trial run again after a resume reuses its run;
- ``calray.dense_key`` = model fingerprint / capability-map digest / eval seed on the dense
  run, reused by every later sweep of that model and map;
- ``calray.source_dimensions`` on the parent: JSON {source: its dimension tag}, so analyses
  (calray.analysis) know each dimension's own sources without the sources' registrations;
- ``calray.model_parameters`` on the parent: the model's parameter count (from its
  safetensors headers; absent when no local checkpoint), the x axis of scaling figures;
- confirmation runs (``calray.sweep.confirm``), children of the sweep's run:
  ``calray.kind`` = ``calray.role`` = ``confirmation``, ``calray.confirms`` (the trial id or
  role confirmed), ``calray.headline`` (its roles in the headline table, ``; ``-separated),
  ``calray.seed``, ``calray.confirm_key`` = sweep id / mixture / seed.

The default store is ``sqlite:///mlflow.db`` in the working directory (MLflow 3 refuses a
bare file store); artifacts go to ``mlartifacts/`` beside the database file. Inside a Ray job
submitted with a working directory, a store in that temporary copy is refused
(``calray.durable``): the job must name a server or an absolute path.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calray.durable import refuse_in_job_copy
from calray.errors import CalrayError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

log = logging.getLogger(__name__)

KIND = "calray.kind"
SWEEP_ID = "calray.sweep_id"
TRIAL_KEY = "calray.trial_key"
DENSE_KEY = "calray.dense_key"
SOURCE_DIMENSIONS = "calray.source_dimensions"
MODEL_PARAMETERS = "calray.model_parameters"
CONFIRMATION = "confirmation"
ROLE = "calray.role"
CONFIRMS = "calray.confirms"
HEADLINE = "calray.headline"
SEED = "calray.seed"
CONFIRM_KEY = "calray.confirm_key"
BEST_MIXTURE, UNIFORM, BEST_SINGLE = "best mixture", "uniform mix", "best single source"  # headline roles
PARENT = "mlflow.parentRunId"
DEFAULT_EXPERIMENT = "calray"  # what every command records into and reads by default, the demo too
RUN_NAME = "mlflow.runName"
_BAD_KEY = re.compile(r"[^\w./\- :]")
_SQLITE_MAGIC = b"SQLite format 3\x00"
STORE_LOCK_TIMEOUT_S = 600  # creating or migrating a store takes seconds; longer, its holder is stuck
_SERVER = ("http://", "https://", "databricks", "postgresql", "mysql", "mssql", "file:")
IN_JOB_FIX = (
    "set MLFLOW_TRACKING_URI in the job's runtime env (--runtime-env-json '{\"env_vars\": {\"MLFLOW_TRACKING_URI\": "
    "\"http://127.0.0.1:5000\"}}', the server cluster.yaml starts on the head) or --tracking-uri / tracking.uri to "
    "an absolute sqlite:////path/mlflow.db"
)


def tracking_uri(uri: str | None) -> str:
    """The store to use: ``$MLFLOW_TRACKING_URI`` or ``sqlite:///<cwd>/mlflow.db`` by default, a
    ``.db`` path as sqlite, else a URI MLflow understands (a server, or a database URL). A
    sqlite file inside a Ray job's temporary working copy is refused."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or None
    if uri is None:
        uri = f"sqlite:///{Path.cwd() / 'mlflow.db'}"
    if uri.endswith(".db") and "://" not in uri:
        uri = f"sqlite:///{Path(uri).expanduser().resolve()}"
    if uri.startswith("sqlite:///"):
        refuse_in_job_copy(Path(uri[len("sqlite:///"):]), what="the MLflow store", fix=IN_JOB_FIX)
        return _checked_sqlite(uri)
    if uri.startswith(_SERVER) and not uri.startswith("file:"):
        return uri
    raise CalrayError(
        f"tracking uri {uri!r} is not a database or server: MLflow 3 needs one; use sqlite:///path/mlflow.db "
        "(a local file), or a server's http(s):// URI"
    )


def _checked_sqlite(uri: str) -> str:
    """``uri``, unless its file exists and is not an SQLite database (MLflow would fail on it
    with a traceback; an empty file is a new database)."""
    path = Path(uri[len("sqlite:///"):])
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            if f.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                raise CalrayError(f"tracking store {str(path)!r} is not an SQLite database; pass the mlflow.db a sweep wrote")
    return uri


def require_store(uri: str) -> None:
    """For commands that only read records: a missing sqlite file is an error, not a new store."""
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise CalrayError(f"no MLflow store at {uri[len('sqlite:///'):]!r}: run a sweep (or calray demo) first, "
                          "or pass --tracking-uri with the store the sweeps wrote to")


def metric_key(name: str) -> str:
    """``name`` as MLflow accepts it (``pass@1`` -> ``pass_at_1``; other odd characters -> ``_``)."""
    return _BAD_KEY.sub("_", name.replace("@", "_at_"))[:250]


def git_commit() -> str:
    """The commit of the calray checkout in use ("unknown" outside a git work tree)."""
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock on a sqlite store's directory while MLflow opens the store.

    MLflow creates a fresh database's tables (and migrates an old one) when a client first
    opens it; two processes doing that at once collide (``table experiments already exists``).
    ``flock`` on the directory serialises them without creating a lock file (a read-only
    command leaves nothing behind), and a holder that dies releases it. Where the directory
    cannot be opened or locked (no such directory yet, a filesystem without ``flock``), the
    store is opened unlocked, as MLflow would. Server stores need no lock.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    try:
        fd = os.open(Path(uri[len("sqlite:///"):]).parent, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + STORE_LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CalrayError(f"the MLflow store {uri} was being created or migrated by another process for "
                                      f"over {STORE_LOCK_TIMEOUT_S}s; wait for it to finish or end it") from None
                time.sleep(0.05)
            except OSError:  # flock unsupported here
                break
        yield
    finally:
        os.close(fd)  # releases the lock


class Tracker:
    """The sweep's view of one MLflow experiment. Picklable: the client is made on first use."""

    def __init__(self, uri: str | None, experiment: str) -> None:
        self.uri = tracking_uri(uri)
        self.experiment = experiment
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"uri": self.uri, "experiment": self.experiment, "_client": None, "_experiment_id": self._experiment_id}

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            from mlflow import MlflowClient

            with store_lock(self.uri):  # the client opens the store: creates or migrates it on first use
                self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    @property
    def experiment_id(self) -> str:
        """The experiment, created (with artifacts beside a sqlite database) on first use."""
        if self._experiment_id is None:
            found = self.client.get_experiment_by_name(self.experiment)
            if found is not None:
                self._experiment_id = found.experiment_id
            else:
                location = None
                if self.uri.startswith("sqlite:///"):
                    location = (Path(self.uri[len("sqlite:///"):]).parent / "mlartifacts" / self.experiment).as_uri()
                from mlflow.exceptions import MlflowException

                try:
                    self._experiment_id = self.client.create_experiment(self.experiment, artifact_location=location)
                except MlflowException as exc:
                    created = self.client.get_experiment_by_name(self.experiment)  # by another process since the lookup
                    if created is None:
                        raise
                    log.debug("experiment %r was created by another process (%s)", self.experiment, exc.error_code)
                    self._experiment_id = created.experiment_id
        return self._experiment_id

    # --- finding runs -----------------------------------------------------------------------------
    def find(self, tags: Mapping[str, str]) -> list[Run]:
        """Runs of the experiment whose tags equal ``tags``, oldest first."""
        clauses = [f"tags.`{k}` = '{_quote(v)}'" for k, v in tags.items()]
        runs = self.client.search_runs([self.experiment_id], filter_string=" and ".join(clauses), max_results=50000,
                                       order_by=["attributes.start_time ASC"])
        return list(runs)

    def find_one(self, tags: Mapping[str, str]) -> Run | None:
        runs = self.find(tags)
        return runs[0] if runs else None

    def children(self, parent_id: str) -> list[Run]:
        """The trial runs of the sweep run ``parent_id``."""
        return self.find({PARENT: parent_id})

    # --- writing -------------------------------------------------------------------------------
    def get_or_create(self, key_tag: str, key: str, *, name: str, tags: Mapping[str, str] | None = None,
                      params: Mapping[str, Any] | None = None) -> str:
        """The run tagged ``key_tag = key`` (set RUNNING again if it had ended), else a new one."""
        found = self.find_one({key_tag: key})
        if found is not None:
            run_id = found.info.run_id
            if found.info.status != "RUNNING":
                self.client.update_run(run_id, status="RUNNING")
        else:
            run_id = self.client.create_run(self.experiment_id, tags={key_tag: key, RUN_NAME: name, **(tags or {})},
                                            run_name=name).info.run_id
        if params:
            self.log_params(run_id, params)
        return run_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(run_id).data.params
        items = [Param(metric_key(k), _param(v)) for k, v in params.items() if metric_key(k) not in existing]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start:start + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, Any], *, step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(metric_key(k), float(v), now, step) for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
        for start in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[start:start + 1000])

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, str(v)[:8000]) for k, v in tags.items()])

    def log_json(self, run_id: str, obj: Any, name: str) -> None:
        self.client.log_text(run_id, json.dumps(obj, indent=2, default=str, sort_keys=True) + "\n", name)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self.client.log_text(run_id, text, name)

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def status(self, run_id: str) -> str:
        return str(self.client.get_run(run_id).info.status)

    def kill_running(self, run_ids: Iterable[str], *, status: str = "KILLED") -> int:
        """End every run of ``run_ids`` still RUNNING (a trial the sweep never finished)."""
        ended = 0
        for run_id in run_ids:
            if self.status(run_id) == "RUNNING":
                self.finish(run_id, status)
                ended += 1
        return ended


def _quote(value: str) -> str:
    return str(value).replace("'", "\\'")


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text[:6000]
