"""Generated code cannot harm the machine: each hostile behaviour fails its test and leaves
everything as it was. Fork bombs are bounded by RLIMIT_NPROC (16 processes) and reaped."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from calray.evaluate import CodeItem, CodeTask, SandboxLimits, run_program
from calray.evaluate.fake import FakeLM
from calray.evaluate.sandbox import UID_RANGE

FAST = SandboxLimits(timeout_s=5)
NO_GUARD = SandboxLimits(timeout_s=5, guard=False)  # prove the OS layers on their own
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="uid isolation and its RLIMIT_NPROC need root")


def _sandbox_uid_processes() -> set[int]:
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if UID_RANGE[0] <= os.stat(f"/proc/{pid}").st_uid < UID_RANGE[1]:
                found.add(int(pid))
        except OSError:
            pass
    return found


def test_passing_and_failing_programs() -> None:
    assert run_program("def f(x):\n    return x + 1\nassert f(1) == 2\n", FAST).passed
    failed = run_program("assert 1 + 1 == 3\n", FAST)
    assert not failed.passed and failed.status == "failed" and "AssertionError" in failed.stderr
    assert not run_program("def f(:\n", FAST).passed  # syntax error
    assert not run_program("import sys\nsys.exit(0)\nassert False\n", FAST).passed  # early exit is no pass


def test_known_correct_completion_scores_one_and_wrong_zero() -> None:
    items = [
        CodeItem(
            'def add(a, b):\n    """Sum."""\n',
            "def check(f):\n    assert f(2, 3) == 5\n\ncheck(add)",
            program_prefix='def add(a, b):\n    """Sum."""\n',
        ),
        CodeItem(
            'def neg(a):\n    """Negate."""\n',
            "def check(f):\n    assert f(2) == -2\n\ncheck(neg)",
            program_prefix='def neg(a):\n    """Negate."""\n',
        ),
    ]
    right = {"add": "    return a + b\n", "neg": "    return -a\n"}
    good = FakeLM(generate=lambda ctx, args: right[ctx.split("def ")[1].split("(")[0]])
    bad = FakeLM(generate=lambda ctx, args: "    return 0\n")
    task = CodeTask(name="c", items=items, limits=FAST)
    assert task.evaluate(good).metrics["pass@1"] == 1.0
    assert task.evaluate(bad).metrics["pass@1"] == 0.0


def test_infinite_loop_times_out() -> None:
    start = time.monotonic()
    result = run_program("while True:\n    pass\n", SandboxLimits(timeout_s=1.5))
    assert result.status == "timeout" and not result.passed
    assert time.monotonic() - start < 10


def test_memory_is_limited() -> None:
    result = run_program("x = bytearray(4 * 1024**3)\n", SandboxLimits(timeout_s=5, memory_mb=256))
    assert not result.passed and "MemoryError" in result.stderr


def test_sockets_cannot_reach_anything() -> None:
    code = "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2)\n"
    ns = run_program(code, NO_GUARD)
    assert not ns.passed and ns.network in {"namespace", "in-process"}
    blocked = run_program(code, SandboxLimits(timeout_s=5, network="in-process"))
    assert not blocked.passed and blocked.network == "in-process" and "network access is disabled" in blocked.stderr


def test_environment_is_scrubbed_and_cwd_is_a_fresh_temp_dir() -> None:
    os.environ["CALRAY_SECRET_FOR_TEST"] = "x"
    try:
        code = textwrap.dedent(
            """
            import os, tempfile
            assert "CALRAY_SECRET_FOR_TEST" not in os.environ, os.environ
            assert set(os.environ) <= {"PATH", "LANG", "HOME", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "LC_CTYPE"}, os.environ
            assert os.listdir(".") == ["program.py"], os.listdir(".")
            assert os.path.basename(os.getcwd()).startswith("calray-sandbox-")
            """
        )
        result = run_program(code, NO_GUARD)
        assert result.passed, result.stderr
    finally:
        del os.environ["CALRAY_SECRET_FOR_TEST"]


@pytest.mark.parametrize("limits", [FAST, NO_GUARD], ids=["guarded", "os-layers-only"])
def test_deleting_files_fails_and_deletes_nothing(tmp_path: Path, limits: SandboxLimits) -> None:
    if not limits.guard and os.geteuid() != 0:
        pytest.skip("without the guard, only a separate uid protects files")
    victim = tmp_path / "keep" / "precious.txt"
    victim.parent.mkdir()
    victim.write_text("data")
    os.chmod(tmp_path, 0o755)  # reachable: only ownership protects it
    code = f"import os, shutil\nos.remove({str(victim)!r})\n"
    assert not run_program(code, limits).passed
    assert not run_program(f"import shutil\nshutil.rmtree({str(victim.parent)!r})\n", limits).passed
    assert victim.read_text() == "data"


@as_root
def test_fork_bomb_is_bounded_and_reaped() -> None:
    # Each process forks until fork fails; RLIMIT_NPROC=16 bounds the whole tree, survivors
    # sleep (in their own sessions, out of reach of killpg) and must still be reaped.
    code = textwrap.dedent(
        """
        import os, sys, time
        n = 0
        try:
            while n < 500:
                if os.fork() == 0:
                    os.setsid()
                    n = 0
                    continue
                n += 1
        except OSError:
            pass
        sys.stderr.write("forked %d\\n" % n)
        time.sleep(30)
        """
    )
    before = _sandbox_uid_processes()
    result = run_program(code, SandboxLimits(timeout_s=3, guard=False, max_processes=16))
    assert not result.passed
    forked = [int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("forked")]
    assert forked and max(forked) < 16
    time.sleep(0.2)
    assert _sandbox_uid_processes() - before == set()  # none left, not even zombies


def test_guard_blocks_fork_even_without_os_limits() -> None:
    result = run_program("import os\nos.fork()\n", FAST)
    assert not result.passed and "TypeError" in result.stderr
