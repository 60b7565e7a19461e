"""Run untrusted generated code (a completion plus its unit tests) and say whether it passed.

Each program runs in its own process (``python -I -S``: no site-packages, no user paths)
started from a scrubbed environment in a fresh temporary directory, with these layers:

- wall-clock timeout, after which the whole process group is killed; RLIMIT_CPU as backstop;
- memory (RLIMIT_AS/RLIMIT_DATA), file size (RLIMIT_FSIZE), open files, no core dumps;
- processes: RLIMIT_NPROC. The kernel does not apply it to root, so when calray runs as
  root the program is switched to a fresh, otherwise unused uid: the limit then binds and
  the program cannot touch files that are not world-writable;
- a new PID namespace whose first process is the program: when it ends or is killed at the
  deadline, the kernel kills and reaps everything it forked (even children that escaped its
  process group with setsid). Without namespaces the process group is killed, and as root
  every process left with the sandbox uid (``kill(-1)`` from that uid);
- network: a new network namespace (``unshare(CLONE_NEWNET)``, as root, or inside a new user
  namespace otherwise) in which no interface is up. Where the kernel or a container refuses
  namespaces, socket creation and name resolution are replaced by functions that raise,
  inside the process, before the program runs. ``ExecResult.network`` says which was used;
- a reliability guard (as human-eval's) that disables os.remove, os.fork, subprocess... in
  the program's interpreter; it is a second layer, the OS limits above do not rely on it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from calray.config import StrictModel
from calray.errors import CalrayError

log = logging.getLogger(__name__)

BOOT = Path(__file__).with_name("sandbox_boot.py")
PASSED = "calray-sandbox: passed"
TIMEOUT_EXIT = 124  # the supervisor's exit code when it killed the program at the deadline
# Uids far above any real account's; each run picks a random one, so concurrent runs never
# share an RLIMIT_NPROC budget or each other's files.
UID_RANGE = (1_500_000_000, 2_000_000_000)


class SandboxLimits(StrictModel):
    """Limits of one program run."""

    timeout_s: float = 10.0
    memory_mb: int = 1024
    file_mb: int = 16
    max_processes: int = 16
    network: str = "namespace"  # "namespace" (fall back to in-process) or "in-process"
    guard: bool = True


@dataclass(frozen=True)
class ExecResult:
    passed: bool
    status: str  # passed | failed | timeout
    network: str  # namespace | in-process | unknown
    stderr: str


def _scrubbed_env(workdir: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1"}


def _own_thread_count(uid: int) -> int:
    """Processes and threads the kernel counts against ``uid``'s RLIMIT_NPROC."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return count


def _kill_uid(python: str, uid: int) -> None:
    """Kill every process of ``uid``: ``kill(-1)`` run as that uid reaches exactly those."""
    code = "import os, signal; os.setgid(%d); os.setuid(%d); os.kill(-1, signal.SIGKILL)" % (uid, uid)
    subprocess.run([python, "-I", "-S", "-c", code], env={}, capture_output=True, timeout=30, check=False)


def _uid_alive(uid: int) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                return True
        except OSError:
            continue
    return False


def _run_once(program: str, limits: SandboxLimits, python: str) -> ExecResult:
    as_root = os.geteuid() == 0
    uid = secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0] if as_root else None
    workdir = tempfile.mkdtemp(prefix="calray-sandbox-")
    try:
        path = os.path.join(workdir, "program.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(program)
        if uid is not None:
            os.chown(workdir, uid, uid)
        max_procs = limits.max_processes if as_root else _own_thread_count(os.getuid()) + limits.max_processes
        cfg = {
            "program": path,
            "network": limits.network,
            "memory_bytes": limits.memory_mb * 2**20,
            "file_bytes": limits.file_mb * 2**20,
            "cpu_seconds": int(limits.timeout_s) + 1,
            "max_processes": max_procs,
            "uid": uid,
            "guard": limits.guard,
            "timeout_s": limits.timeout_s,
        }
        proc = subprocess.Popen(
            [python, "-I", "-S", str(BOOT), json.dumps(cfg)],
            cwd=workdir,
            env=_scrubbed_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            # the in-sandbox supervisor enforces the deadline; this one is the backstop
            _, err = proc.communicate(timeout=limits.timeout_s + 5.0)
            if proc.returncode == TIMEOUT_EXIT:
                status = "timeout"
            else:
                status = "passed" if proc.returncode == 0 and PASSED in err.decode(errors="replace") else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            status = "timeout"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if uid is not None and _uid_alive(uid):
            _kill_uid(python, uid)
        text = err.decode(errors="replace")
        first = text.splitlines()[0] if text else ""
        network = first.split("network=", 1)[1] if first.startswith("calray-sandbox: network=") else "unknown"
        return ExecResult(status == "passed", status, network, text[-2000:])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@cache
def sandbox_python() -> str:
    """A Python interpreter the sandbox uid can run (the venv's may sit in a private home)."""
    candidates = [os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"]
    probe = SandboxLimits(timeout_s=30)
    for python in dict.fromkeys(c for c in candidates if os.path.isfile(c)):
        result = _run_once("import json, math, re, collections, itertools, functools, heapq, string\n", probe, python)
        if result.passed:
            return python
        log.debug("sandbox cannot use %s: %s", python, result.stderr[-300:])
    raise CalrayError(
        f"no Python interpreter among {candidates} can run sandboxed code as an unprivileged user; "
        "install python3 in /usr/bin (world-readable) or run calray as a non-root user"
    )


def run_program(program: str, limits: SandboxLimits | None = None) -> ExecResult:
    """Run ``program`` (source text) in the sandbox; ``passed`` when it ran to the end."""
    return _run_once(program, limits or SandboxLimits(), sandbox_python())


def run_programs(programs: Sequence[str], limits: SandboxLimits | None = None, *, workers: int = 2) -> list[ExecResult]:
    """Run many programs, ``workers`` at a time (threads only wait on child processes)."""
    limits = limits or SandboxLimits()
    python = sandbox_python()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda p: _run_once(p, limits, python), programs))
