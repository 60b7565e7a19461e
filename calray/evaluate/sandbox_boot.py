"""Runs inside the sandbox process (``python -I -S sandbox_boot.py CONFIG``); stdlib only.

Order matters: read the program while still privileged, isolate network and PIDs (a
supervisor stays outside the new PID namespace and enforces the deadline), set resource
limits, drop to the sandbox uid (when started as root), disable destructive functions, then
run. Exit status 0 = every test passed. The first stderr line reports the network isolation.
"""

import ctypes
import json
import os
import resource
import signal
import sys
import time

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
PASSED = "calray-sandbox: passed"
TIMEOUT_EXIT = 124


def unshare(flags):
    libc = ctypes.CDLL(None, use_errno=True)
    if os.geteuid() != 0:
        flags |= CLONE_NEWUSER  # unprivileged namespaces live inside a user namespace
    return libc.unshare(flags) == 0


def isolate(mode):
    """A fresh network namespace has only a down loopback, so no connection can leave it; a
    fresh PID namespace dies whole (and is reaped by the kernel) when its first process dies.
    Returns (network isolation used, whether a PID namespace was created)."""
    if mode == "namespace":
        if unshare(CLONE_NEWNET | CLONE_NEWPID):
            return "namespace", True
        if unshare(CLONE_NEWNET):
            return "namespace", False
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access is disabled in the sandbox")

    for name in ("socket", "socketpair", "create_connection", "getaddrinfo", "fromfd"):
        setattr(socket, name, refuse)
    return "in-process", False


def supervise(pid, timeout):
    """Wait for the namespace's first process; kill it (and so the namespace) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return TIMEOUT_EXIT
        time.sleep(0.01)


def set_limits(cfg):
    mem = cfg["memory_bytes"]
    limits = {
        resource.RLIMIT_AS: mem,
        resource.RLIMIT_DATA: mem,
        resource.RLIMIT_CPU: cfg["cpu_seconds"],
        resource.RLIMIT_FSIZE: cfg["file_bytes"],
        resource.RLIMIT_NOFILE: 64,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NPROC: cfg["max_processes"],
    }
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))


def guard():
    """Disable destructive calls, as human-eval's reliability guard (a second layer only)."""
    import builtins
    import shutil
    import subprocess

    for name in ("kill", "killpg", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
                 "fork", "forkpty", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                 "chmod", "chown", "chroot", "lchown", "chdir"):
        setattr(os, name, None)
    for module, names in ((shutil, ("rmtree", "move", "chown")), (subprocess, ("Popen",)), (builtins, ("exit", "quit"))):
        for name in names:
            setattr(module, name, None)


def main():
    cfg = json.loads(sys.argv[1])
    with open(cfg["program"], encoding="utf-8") as f:
        source = f.read()
    network, pid_namespace = isolate(cfg["network"])
    if pid_namespace:
        child = os.fork()  # the child is process 1 of the new PID namespace
        if child:
            code = supervise(child, cfg["timeout_s"])
            os._exit(code if code >= 0 else 128 - code)
    set_limits(cfg)
    if cfg["uid"] is not None:
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    sys.stderr.write("calray-sandbox: network=%s\n" % network)
    sys.stderr.flush()
    code = compile(source, "<program>", "exec")
    if cfg["guard"]:
        guard()
    try:
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit:  # a program that exits early has not passed its tests
        sys.stderr.write("calray-sandbox: program exited before its tests finished\n")
        sys.exit(3)
    sys.stderr.write(PASSED + "\n")


main()
