"""Run untrusted generated code (a completion plus its unit tests) and say whether it passed.

Each program runs in its own process (``python -I -S``: no site-packages, no user paths)
started from a scrubbed environment, with these layers:

- wall-clock timeout, after which the whole process group is killed; RLIMIT_CPU as backstop;
- memory (RLIMIT_AS/RLIMIT_DATA), file size (RLIMIT_FSIZE), open files, no core dumps;
  stdout and stderr are read as they come and only their last ``output_kb`` are kept;
- processes: RLIMIT_NPROC. The kernel does not apply it to root, so when calray runs as
  root the program is switched to a fresh, otherwise unused uid: the limit then binds and
  the program cannot touch files that are not world-writable;
- a new PID namespace whose first process is the program: when it ends or is killed at the
  deadline, the kernel kills and reaps everything it forked (even children that escaped its
  process group with setsid). Without namespaces the process group is killed, and as root
  every process left with the sandbox uid (``kill(-1)`` from that uid);
- filesystem: a new mount namespace in which every mount is read-only and /tmp and /dev/shm
  are fresh, small, noexec tmpfs; the working directory is a private one inside that /tmp.
  As a non-root user this runs inside a user namespace whose capabilities are dropped
  before the program starts. ``ExecResult.filesystem`` says what was achieved, and a warning
  names what stays writable when the kernel refuses;
- network: a new network namespace in which no interface is up. Where the kernel or a
  container refuses namespaces, an audit hook refuses every ``socket.*`` event (so
  ``_socket`` underneath is closed too). ``ExecResult.network`` says which was used;
- the outcome: the harness writes it to a pipe only it holds, tagged with a random nonce
  it read from stdin; the program's own output, exit status or marker strings never count,
  and the audit hook refuses it frames, gc, ctypes and /proc (the ways to the nonce);
- a reliability guard (as human-eval's, but as an audit hook, so ``posix.system`` or
  ``os.posix_spawn`` are refused as well as ``os.system``): processes, signals, deletions.
  It is a second layer, the OS limits above do not rely on it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from calray.config import StrictModel
from calray.errors import CalrayError

log = logging.getLogger(__name__)

BOOT = Path(__file__).with_name("sandbox_boot.py")
# Uids far above any real account's; each run picks a random one, so concurrent runs never
# share an RLIMIT_NPROC budget or each other's files.
UID_RANGE = (1_500_000_000, 2_000_000_000)


class SandboxLimits(StrictModel):
    """Limits of one program run."""

    timeout_s: float = 10.0
    memory_mb: int = 1024
    file_mb: int = 16  # also the size of each private tmpfs (/tmp, /dev/shm)
    max_processes: int = 16
    output_kb: int = 64  # the tail of stdout and of stderr that is kept
    network: str = "namespace"  # "namespace" (fall back to in-process) or "in-process"
    guard: bool = True


@dataclass(frozen=True)
class ExecResult:
    passed: bool
    status: str  # passed | failed | timeout
    network: str  # namespace | in-process | unknown
    stderr: str
    stdout: str = ""
    filesystem: str = "unknown"  # private | partial:<writable mounts> | shared | unknown


class _Tail:
    """The last ``limit`` bytes of a stream, and how many came before them."""

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit, self.dropped, self.data = name, limit, 0, bytearray()

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]
            self.dropped += excess

    def text(self) -> str:
        note = f"[calray-sandbox: {self.dropped} earlier bytes of {self.name} dropped]\n" if self.dropped else ""
        return note + self.data.decode(errors="replace")


class _Channel:
    """The harness's report: only lines that start with the nonce count."""

    def __init__(self, nonce: bytes) -> None:
        self.nonce, self.pending = nonce + b" ", b""
        self.lines: list[str] = []

    def feed(self, chunk: bytes) -> None:
        *complete, self.pending = (self.pending + chunk).split(b"\n")
        self.pending = self.pending[-256:]  # a program spraying the pipe cannot grow this
        self.lines += [line[len(self.nonce) :].decode() for line in complete if line.startswith(self.nonce)]

    def field(self, key: str) -> str:
        for line in self.lines:
            for item in line.split()[1:] if line.startswith("isolation ") else ():
                name, _, value = item.partition("=")
                if name == key:
                    return value
        return "unknown"


def _read_pipes(proc: subprocess.Popen, streams: dict[int, _Tail | _Channel], deadline: float) -> bool:
    """Feed every pipe into its buffer until all are closed, or until a second after the
    program's process exited (children that escaped it may hold them: they are killed next).
    False if the deadline came first."""
    exited_at = None
    with selectors.DefaultSelector() as sel:
        for fd in streams:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                return False
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 1.0:
                return True
            for key, _ in sel.select(timeout=min(deadline - now, 0.2)):
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    streams[key.fd].feed(chunk)
                else:
                    sel.unregister(key.fd)
    return True


@cache
def _warn_once(message: str) -> None:
    log.warning(message)


def _warn_if_weaker(network: str, filesystem: str, limits: SandboxLimits) -> None:
    if limits.network == "namespace" and network == "in-process":
        _warn_once(
            "sandbox: the kernel refused a network namespace; sockets are refused by an audit hook "
            "inside the program's interpreter only (native code could still reach the network)"
        )
    if filesystem == "shared":
        who = "the sandbox uid" if os.geteuid() == 0 else f"uid {os.getuid()} (the user running calray)"
        _warn_once(
            "sandbox: the kernel refused a private mount namespace; programs can write /tmp, /dev/shm "
            f"and every location {who} can write"
        )
    elif filesystem.startswith("partial:"):
        _warn_once(f"sandbox: these mounts could not be made read-only and stay writable: {filesystem[8:]}")


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
    nonce = secrets.token_hex(16).encode()
    workdir = tempfile.mkdtemp(prefix="calray-sandbox-")
    channel_r, channel_w = os.pipe()
    try:
        path = os.path.join(workdir, "program.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(program)
        if uid is not None:
            os.chown(workdir, uid, uid)
        max_procs = limits.max_processes if as_root else _own_thread_count(os.getuid()) + limits.max_processes
        cfg = {
            "program": path,
            "channel": channel_w,
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
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(channel_w,),
            start_new_session=True,
        )
        os.close(channel_w)
        channel_w = -1
        assert proc.stdin and proc.stdout and proc.stderr
        try:
            proc.stdin.write(nonce + b"\n")  # the nonce never appears in argv or the environment
            proc.stdin.close()
        except BrokenPipeError:  # the boot died at once: its stderr says why
            pass
        keep = limits.output_kb * 1024
        out, err, report = _Tail("stdout", keep), _Tail("stderr", keep), _Channel(nonce)
        streams: dict[int, _Tail | _Channel] = {proc.stdout.fileno(): out, proc.stderr.fileno(): err, channel_r: report}
        # the in-sandbox supervisor enforces the deadline; this one is the backstop
        finished = _read_pipes(proc, streams, time.monotonic() + limits.timeout_s + 5.0)
        if not finished or proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        returncode = proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        if uid is not None and _uid_alive(uid):
            _kill_uid(python, uid)
        if not finished or "timeout" in report.lines:
            status = "timeout"
        else:
            status = "passed" if returncode == 0 and "passed" in report.lines else "failed"
        network, filesystem = report.field("network"), report.field("filesystem")
        _warn_if_weaker(network, filesystem, limits)
        return ExecResult(status == "passed", status, network, err.text(), out.text(), filesystem)
    finally:
        for fd in (channel_r, channel_w):
            if fd >= 0:
                os.close(fd)
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
