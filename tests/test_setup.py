"""The README's set-up commands are what CI runs."""

import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
    assert first_block, "README.md must start with a code block of set-up commands"
    return [line for line in first_block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_has_exactly_two_setup_commands():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    assert all(c.startswith("scripts/setup.sh") for c in commands)


def test_ci_runs_the_readme_test_command():
    test_command = _readme_commands()[1]
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_command in ci


def _setup_with_fake_venv(tmp_path: Path, torch_index: str | None) -> list[str]:
    """Run scripts/setup.sh in a copy whose .venv/bin/python only logs its arguments: it has no
    torch, and fails to reach any --index-url (a machine behind a package mirror)."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/usr/bin/env bash\necho "$*" >> "$(dirname "$0")/calls"\n'
                    'case "$*" in *"import torch"*|*--index-url*) exit 1;; esac\n')
    fake.chmod(0o755)
    done = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], capture_output=True, text=True, timeout=60,
                          env={**{k: v for k, v in os.environ.items() if k != "TORCH_INDEX_URL"},
                               **({} if torch_index is None else {"TORCH_INDEX_URL": torch_index})})
    assert done.returncode == 0, done.stderr
    return (fake.parent / "calls").read_text().splitlines()


def test_setup_installs_the_cpu_torch_from_pytorchs_index_and_falls_back_to_plain_pip(tmp_path):
    calls = _setup_with_fake_venv(tmp_path, None)
    torch = [c for c in calls if "torch==2.13.0" in c]
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch[0] and "--index-url" not in torch[1]
    assert len(torch) == 2 and calls[-1].endswith("-c constraints.txt -e .")


def test_an_empty_torch_index_means_plain_pip(tmp_path):
    torch = [c for c in _setup_with_fake_venv(tmp_path, "") if "torch==2.13.0" in c]
    assert len(torch) == 1 and "--index-url" not in torch[0]
