import pytest

from calray.config import StrictModel, load_config, validate
from calray.errors import CalrayError


class Job(StrictModel):
    model: str
    sparsity: float = 0.5


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(CalrayError, match="sparsty"):
        validate(Job, {"model": "m", "sparsty": 0.6}, "job")


def test_load_config_with_overrides(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("model: m\nsparsity: 0.6\n")
    assert load_config(Job, path, {"sparsity": 0.7}).sparsity == 0.7
    with pytest.raises(CalrayError, match="does not exist"):
        load_config(Job, tmp_path / "missing.yaml")
    path.write_text("- a\n- b\n")
    with pytest.raises(CalrayError, match="must hold a mapping"):
        load_config(Job, path)
