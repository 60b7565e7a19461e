"""cluster.yaml is a valid Ray cluster-launcher config, checked by Ray's own schema."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_schema_after_defaults(config):
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    validate_config(fillout_defaults(config))


def test_gpu_workers_and_the_ray_version_match_the_project(config):
    import ray

    workers = config["available_node_types"]["gpu_worker"]
    assert workers["resources"]["GPU"] >= 1 and workers["max_workers"] >= 1
    assert config["head_node_type"] == "head"
    assert f"ray:{ray.__version__}-" in config["docker"]["image"]
    assert any("--shm-size" in opt for opt in config["docker"]["run_options"])
    assert any("constraints.txt" in cmd and "-e /home/ray/calray" in cmd for cmd in config["setup_commands"])


def test_a_broken_cluster_yaml_is_rejected(config):
    import jsonschema
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    broken = {**config, "max_workerz": 3}
    with pytest.raises(jsonschema.ValidationError):
        validate_config(fillout_defaults(broken))


def test_the_head_serves_mlflow_from_its_disk_and_every_job_defaults_to_it(config):
    """The MLflow server's store and artifacts, and CALRAY_RESULTS, lie in the folder mounted from
    the instance's disk; `ray start` exports the server's URI, so jobs inherit it."""
    host, container = next(opt.split("=", 1)[1].split(":") for opt in config["docker"]["run_options"]
                           if opt.startswith("--volume="))
    assert any(host in cmd and "mkdir" in cmd for cmd in config["initialization_commands"])
    commands = config["head_start_ray_commands"]
    server = next(cmd for cmd in commands if "mlflow server" in cmd)
    assert f"--backend-store-uri sqlite:///{container}/mlflow.db" in server
    assert f"--artifacts-destination {container}/" in server and "--port 5000" in server
    start = next(cmd for cmd in commands if "ray start --head" in cmd)
    assert commands.index(server) < commands.index(start)
    assert "MLFLOW_TRACKING_URI=http://127.0.0.1:5000" in start and f"CALRAY_RESULTS={container}" in start
    assert start.index("export") < start.index("ray start")


def test_a_restart_stops_only_the_ray_this_cluster_started(config):
    """No bare `ray stop` (it would stop every Ray on the node): the head stops the instance of
    its own temp dir, a worker the one joined to the head's GCS."""
    head, workers = config["head_start_ray_commands"], config["worker_start_ray_commands"]
    assert not any(cmd.strip() == "ray stop" for cmd in head + workers)
    assert head[0] == "python -m calray.cluster.stop_ray /tmp/calray-ray"
    assert "ray start --head --temp-dir=/tmp/calray-ray --port=6379" in next(c for c in head if "ray start" in c)
    assert workers[0] == 'python -m calray.cluster.stop_ray "$RAY_HEAD_IP:6379"'
    assert "--address=$RAY_HEAD_IP:6379" in workers[-1]
