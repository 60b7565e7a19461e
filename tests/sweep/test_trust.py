"""``--resume DIR`` unpickles Tune's state from DIR, so only a sweep directory calray wrote,
owned by you and writable by no one else, is accepted."""

from __future__ import annotations

import os
import pickle

import pytest

from calray.errors import CalrayError
from calray.sweep import load_sweep_config
from calray.sweep.driver import STATE_FILE, find_resumable

from .conftest import sweep_config


@pytest.fixture
def sweep_dir(tmp_path):
    """A directory laid out as a sweep leaves it: calray's state, Tune's pickles, a trial folder."""
    root = tmp_path / "runs" / "test" / "20260101-000000-abcdef"
    (root / "trial_1").mkdir(parents=True)
    (root / STATE_FILE).write_text('{"status": "interrupted"}\n')
    (root / "tuner.pkl").write_bytes(pickle.dumps({"state": 1}))
    (root / "trial_1" / "params.pkl").write_bytes(pickle.dumps({}))
    for path in (root, root / "trial_1"):
        path.chmod(0o755)
    return root


def test_a_directory_you_wrote_is_resumable(sweep_dir, model_dir, tmp_path):
    config = load_sweep_config(data=sweep_config(model_dir, tmp_path))
    assert find_resumable(config, str(sweep_dir)) == sweep_dir.resolve()
    assert find_resumable(config, True) == sweep_dir.resolve()  # plain --resume finds it under storage_path


def _world_writable(d):
    (d / "tuner.pkl").chmod(0o666)


def _no_marker(d):
    (d / STATE_FILE).unlink()


def _symlink(d):
    (d / "tuner.pkl").unlink()
    (d / "tuner.pkl").symlink_to(d.parent / "elsewhere.pkl")


def _foreign_owner(d):
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    os.chown(d / "trial_1" / "params.pkl", 4242, -1)


@pytest.mark.parametrize(("tamper", "why"), [
    (_no_marker, "is not a sweep directory"),
    (_world_writable, "tuner.pkl' is writable by other users"),
    (_symlink, "tuner.pkl' is a symbolic link"),
    (_foreign_owner, "params.pkl' belongs to uid 4242"),
])
def test_a_directory_anyone_else_could_have_written_is_refused(tamper, why, sweep_dir, model_dir, tmp_path):
    tamper(sweep_dir)
    config = load_sweep_config(data=sweep_config(model_dir, tmp_path))
    with pytest.raises(CalrayError, match=why):
        find_resumable(config, str(sweep_dir))
