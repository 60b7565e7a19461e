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
