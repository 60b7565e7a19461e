"""SIGINT and SIGTERM during a sweep: stop, record the sweep as interrupted, exit 130 / 143.

Left alone, Tune turns a Ctrl-C into a normal end of ``Tuner.fit`` (after saving its state),
and the driver would then record the cut-short sweep as finished; Ray's own SIGTERM handler
exits without ending the MLflow runs. While a sweep runs, ``stop_signals`` takes both
signals: during ``fit`` the first asks Tune to stop gracefully (through Tune's SIGUSR1
handler, which saves the experiment for ``--resume``) and ``check`` then raises
``Interrupted``; anywhere else, or on a second signal, ``Interrupted`` is raised at once.
``Interrupted`` is a ``KeyboardInterrupt``, so cleanup written for Ctrl-C runs for both.

    with stop_signals() as stop:
        with stop.graceful():
            tuner.fit()
        stop.check()
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger("calray.sweep")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_TUNE_SIGINT = "TUNE_DISABLE_SIGINT_HANDLER"


class Interrupted(KeyboardInterrupt):
    """The sweep was stopped by a signal; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


class StopSignals:
    """What ``stop_signals`` caught: the first stop signal, if any."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._graceful = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        tune_stop = signal.getsignal(signal.SIGUSR1) if self._graceful else None
        if first and callable(tune_stop):
            log.warning("%s: stopping the sweep once Tune has saved its state (again to stop at once); "
                        "continue it with --resume", signal.Signals(signum).name)
            tune_stop(signum, frame)
            return
        raise Interrupted(signum)

    @contextmanager
    def graceful(self) -> Iterator[None]:
        """Inside: the first signal asks the running ``Tuner.fit`` to stop after saving its state
        (Tune installs its SIGUSR1 handler for that; the one before is put back after)."""
        before = signal.getsignal(signal.SIGUSR1)
        env_before = os.environ.get(_TUNE_SIGINT)
        os.environ[_TUNE_SIGINT] = "1"  # Tune leaves SIGINT to us (its own handler would end fit silently)
        self._graceful = True
        try:
            yield
        finally:
            self._graceful = False
            if env_before is None:
                os.environ.pop(_TUNE_SIGINT, None)
            else:
                os.environ[_TUNE_SIGINT] = env_before
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGUSR1, before)

    def check(self) -> None:
        """Raise ``Interrupted`` if a stop signal arrived."""
        if self.signum is not None:
            raise Interrupted(self.signum)


@contextmanager
def stop_signals() -> Iterator[StopSignals]:
    """SIGINT and SIGTERM handled as above for the block (main thread only; elsewhere Python
    cannot take signals, and the caller's handlers stay)."""
    stop = StopSignals()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous: dict[signal.Signals, Any] = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, stop.handle)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
