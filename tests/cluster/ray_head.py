"""A private Ray head node for tests that need a real cluster (``ray job submit``).

Every port is chosen free, the temp dir is private, and ``stop`` ends exactly the processes
this head started (``calray.cluster.stop_ray``: those whose command line names its temp dir or
its GCS port, and their descendants). A bare ``ray stop`` would also stop other people's Ray
instances on a shared machine.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from calray.cluster.stop_ray import stop_ray

RAY = str(Path(sys.executable).with_name("ray"))
PORT_FLAGS = (
    "port", "dashboard-port", "ray-client-server-port", "node-manager-port", "object-manager-port",
    "metrics-export-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: every socket stays bound until all are chosen, so the OS
    cannot hand out the same port twice (Ray refuses a port given to two components)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _free_range(size: int, *, avoid: set[int]) -> int:
    """The first port of ``size`` consecutive free ports that avoid ``avoid`` (worker ports)."""
    for _ in range(100):
        first = random.randrange(20000, 60000 - size)
        if any(first <= p < first + size for p in avoid):
            continue
        try:
            for port in range(first, first + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"found no {size} consecutive free ports")


class RayHead:
    def __init__(self, *, num_cpus: int = 2) -> None:
        self.temp = tempfile.mkdtemp(prefix="calray-rj-", dir="/tmp")  # short: socket paths have a length limit
        self.ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS)), strict=True))
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.pop("RAY_ADDRESS", None)
        workers = _free_range(200, avoid=set(self.ports.values()))
        self.command = [
            RAY, "start", "--head", f"--temp-dir={self.temp}", f"--num-cpus={num_cpus}", "--num-gpus=0",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--min-worker-port={workers}", f"--max-worker-port={workers + 199}",
            *(f"--{flag}={port}" for flag, port in self.ports.items()),
        ]

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.ports['dashboard-port']}"

    def start(self) -> None:
        done = subprocess.run(self.command, env=self.env, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def ray(self, *args: str, timeout: float = 300, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a ``ray`` CLI command against this head."""
        return subprocess.run([RAY, *args], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=cwd)

    def submit(
        self, entrypoint: list[str], *, working_dir: str, env_vars: dict[str, str], submission_id: str
    ) -> subprocess.CompletedProcess[str]:
        runtime_env: dict[str, Any] = {"env_vars": env_vars}
        return self.ray(
            "job", "submit", "--address", self.dashboard, "--working-dir", working_dir, "--submission-id", submission_id,
            "--runtime-env-json", json.dumps(runtime_env), "--", *entrypoint, cwd=working_dir,
        )

    def stop(self) -> None:
        stop_ray([self.temp, f":{self.ports['port']}"])
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> RayHead:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
