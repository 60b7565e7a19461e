"""Stop one Ray instance, and nothing else: the processes whose command line carries one of
its marks (the head's ``--temp-dir``, or ``HOST:PORT`` of the GCS a node joined), and their
descendants (workers rename themselves ``ray::...``).

A bare ``ray stop`` stops every Ray of the user on the machine, other people's sweeps
included. cluster.yaml's start commands and the tests' private head node use this instead:

    python -m calray.cluster.stop_ray /tmp/calray-ray             # the head started with --temp-dir
    python -m calray.cluster.stop_ray "$RAY_HEAD_IP:6379"         # a worker node joined to that head
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import psutil


def ray_processes(marks: Sequence[str]) -> list[psutil.Process]:
    """The processes (and their descendants) whose command line contains one of ``marks``;
    never this process or its ancestors."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if any(mark in line for mark in marks):
            found[proc.pid] = proc
            try:
                found.update({c.pid: c for c in proc.children(recursive=True)})
            except psutil.NoSuchProcess:
                pass
    me = psutil.Process()
    for own in (me, *me.parents()):  # the shell that ran `python -m calray.cluster.stop_ray MARK` carries the mark too
        found.pop(own.pid, None)
    return list(found.values())


def stop_ray(marks: Sequence[str], *, grace: float = 3.0) -> int:
    """SIGTERM the instance's processes, SIGKILL those alive after ``grace`` seconds (the GCS
    and the autoscaler monitor take ~16 s to heed SIGTERM); returns how many there were."""
    procs = ray_processes(marks)
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    return len(procs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stop the one Ray instance MARK names (see the module docstring).")
    parser.add_argument("marks", nargs="+", metavar="MARK", help="the head's --temp-dir, or the GCS HOST:PORT a node joined")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL (default: 10)")
    args = parser.parse_args(argv)
    if any(len(mark) < 4 for mark in args.marks):
        parser.error("a mark this short would match unrelated processes")
    print(f"stopped {stop_ray(args.marks, grace=args.grace)} process(es)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
