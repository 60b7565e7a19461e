"""A local Ray started by ``init_ray`` listens on loopback only: no process of it (GCS,
raylet, agents, workers) accepts connections from the network."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LISTENERS = """
import json, sys
import psutil, ray
from calray.cluster import init_ray

init_ray(num_cpus=1, include_dashboard=False, _temp_dir=sys.argv[1], log_to_driver=False)
ray.get(ray.remote(lambda: 1).remote())  # a worker process too
me = psutil.Process()
found = []
for proc in [me, *me.children(recursive=True)]:  # only the processes this Ray started
    for conn in proc.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN:
            found.append([proc.name(), conn.laddr.ip, conn.laddr.port])
ray.shutdown()
print(json.dumps(found))
"""


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def test_a_local_ray_listens_on_loopback_only(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    temp = Path("/tmp") / f"calray-loopback-{os.getpid()}"  # Ray's socket paths must stay short
    try:
        done = subprocess.run([sys.executable, "-c", LISTENERS, str(temp)], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    listeners = json.loads(done.stdout.strip().splitlines()[-1])
    names = {name for name, _, _ in listeners}
    assert {"gcs_server", "raylet"} <= names, listeners
    assert [entry for entry in listeners if not _loopback(entry[1])] == [], listeners


def test_stop_ray_stops_one_instance_and_leaves_the_others_running(ray_session):
    """``python -m calray.cluster.stop_ray TEMP_DIR``, run through a shell as cluster.yaml runs it,
    ends every process of the head started with that temp dir, and not the session's own Ray."""
    import ray

    from calray.cluster.stop_ray import ray_processes

    from .ray_head import RayHead

    head = RayHead()
    head.start()
    try:
        assert ray_processes([head.temp])
        done = subprocess.run(["sh", "-c", f"{sys.executable} -m calray.cluster.stop_ray {head.temp} --grace 3"],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "stopped" in done.stdout, done.stdout + done.stderr
        assert not ray_processes([head.temp])
        assert ray.get(ray.remote(lambda: 41).remote()) + 1 == 42  # the session's Ray still answers
    finally:
        head.stop()


def test_stop_ray_refuses_a_mark_that_would_match_anything():
    done = subprocess.run([sys.executable, "-m", "calray.cluster.stop_ray", "ray"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "would match unrelated processes" in done.stderr
