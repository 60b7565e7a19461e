"""Generated code cannot harm the machine: each hostile behaviour fails its test and leaves
everything as it was. Fork bombs are bounded by RLIMIT_NPROC (16 processes) and reaped."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from calray.evaluate import CodeItem, CodeTask, SandboxLimits, run_program
from calray.evaluate.fake import FakeLM
from calray.evaluate.sandbox import BOOT, UID_RANGE, _warn_if_weaker

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
    assert not result.passed and "os.fork is disabled in the sandbox" in result.stderr


# --- escapes found in issue 17: each reproduced the escape before the fix -------------------


def _peak_rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def test_flooding_output_keeps_only_a_bounded_tail() -> None:
    try:  # reset the peak RSS, so that the run's own growth is what we measure
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pytest.skip("cannot reset the peak RSS here")
    before = _peak_rss_kib()
    code = "import sys\nchunk = 'x' * 2**20\nfor _ in range(50):\n    sys.stderr.write(chunk)\n    sys.stdout.write(chunk)\n"
    result = run_program(code, FAST)
    grown_mib = (_peak_rss_kib() - before) / 1024
    assert result.passed, result.stderr[-500:]
    assert len(result.stderr) <= 2 * SandboxLimits().output_kb * 1024 and len(result.stdout) <= 2 * FAST.output_kb * 1024
    assert "bytes of stderr dropped" in result.stderr and "bytes of stdout dropped" in result.stdout
    assert grown_mib < 20, f"the evaluator grew by {grown_mib:.0f} MiB reading 100 MB of output"


@pytest.mark.parametrize("limits", [FAST, NO_GUARD], ids=["guarded", "os-layers-only"])
def test_only_the_private_directory_is_writable(tmp_path: Path, limits: SandboxLimits) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(shared, 0o1777)  # world-writable, like /tmp: only isolation protects it
    tag = f"calray-escape-{os.getpid()}-{limits.guard}"
    targets = [f"/tmp/{tag}", f"/dev/shm/{tag}", f"/var/tmp/{tag}", str(shared / tag)]
    code = textwrap.dedent(
        f"""
        import os
        wrote = []
        for path in {targets!r}:
            try:
                with open(path, "w") as f:
                    f.write("escaped")
                wrote.append(path)
            except OSError:
                pass
        with open("mine.txt", "w") as f:  # the private directory is writable
            f.write("ok")
        assert wrote == [] or os.getcwd().startswith(("/tmp/", "/dev/shm/")), wrote
        """
    )
    result = run_program(code, limits)
    assert result.passed, result.stderr
    assert result.filesystem == "private"
    left = [t for t in targets if os.path.exists(t)]
    for path in left:
        os.remove(path)
    assert left == []


def test_printed_pass_marker_and_early_exit_is_a_failure() -> None:
    code = textwrap.dedent(
        """
        import os, sys
        for stream in (sys.stdout, sys.stderr):
            stream.write("calray-sandbox: passed\\n")
            stream.flush()
        for fd in range(3, 64):  # spray every descriptor the harness might report on
            try:
                os.write(fd, b"calray-sandbox: passed\\n")
            except OSError:
                pass
        os._exit(0)
        assert False
        """
    )
    for limits in (FAST, NO_GUARD):
        result = run_program(code, limits)
        assert not result.passed and result.status == "failed", result


def test_harness_secrets_are_out_of_reach() -> None:
    attempts = {
        "ctypes": "import ctypes\nctypes.CDLL(None)\n",
        "memory": "open('/proc/self/mem', 'rb')\n",
        "descriptors": "import os\nopen('/proc/self/fd/0')\n",
        "relative": "import os\nos.chdir('/')\nopen('proc/self/environ')\n",
    }
    for name, code in attempts.items():
        result = run_program(code, NO_GUARD)
        assert not result.passed and "disabled in the sandbox" in result.stderr, (name, result.stderr)


def test_posix_system_is_blocked() -> None:
    for code in ("import posix\nposix.system('true')\n", "import os\nos.posix_spawn('/bin/true', ['true'], {})\n",
                 "import _posixsubprocess, os\nos.execv('/bin/true', ['true'])\n"):
        result = run_program(code, FAST)
        assert not result.passed and "disabled in the sandbox" in result.stderr, (code, result.stderr)


def test_in_process_network_fallback_closes_the_socket_module_underneath() -> None:
    limits = SandboxLimits(timeout_s=5, network="in-process", guard=False)
    for code in ("import _socket\n_socket.socket()\n", "import _socket\n_socket.getaddrinfo('localhost', 80)\n"):
        result = run_program(code, limits)
        assert not result.passed and result.network == "in-process", code
        assert "network access is disabled" in result.stderr, result.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.isfile("/usr/bin/python3"),
                    reason="needs root to become an unprivileged caller (setpriv) and a python3 every uid can run")
def test_unprivileged_caller_keeps_its_own_files(tmp_path: Path) -> None:
    """Run as a non-root user, the program has that user's uid: only the mount namespace (inside
    a user namespace, capabilities dropped) stops it writing the caller's files."""
    nobody = 65534
    as_nobody = ["setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups"]
    probe = subprocess.run([*as_nobody, "unshare", "--user", "--mount", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"the kernel refuses unprivileged namespaces here: {probe.stderr.decode().strip()}")
    owned = Path(tempfile.mkdtemp(prefix="calray-owned-", dir="/var/tmp"))
    work = tmp_path / "calray-sandbox-test"
    try:
        work.mkdir()
        for path in (owned, work, tmp_path):
            os.chown(path, nobody, nobody)
        program = textwrap.dedent(
            f"""
            import subprocess
            subprocess.run(["mount", "-o", "remount,rw", "/"], capture_output=True)  # no capabilities left
            open({str(owned / "escaped")!r}, "w")
            """
        )
        (work / "program.py").write_text(program)
        read, write = os.pipe()
        cfg = {"program": "program.py", "channel": write, "network": "namespace", "memory_bytes": 2**30,
               "file_bytes": 2**20, "cpu_seconds": 10, "max_processes": 256, "uid": None,
               "guard": False, "timeout_s": 10}
        done = subprocess.run(
            [*as_nobody, "/usr/bin/python3", "-I", "-S", str(BOOT), json.dumps(cfg)],
            input=b"n0nce\n", cwd=work, pass_fds=(write,), capture_output=True, timeout=60,
        )
        os.close(write)
        with os.fdopen(read, "rb") as channel:
            report = channel.read().decode()
        assert list(owned.iterdir()) == []
        assert done.returncode != 0 and "Read-only file system" in done.stderr.decode(), done.stderr
        assert "n0nce isolation network=namespace filesystem=private" in report and "n0nce passed" not in report
    finally:
        shutil.rmtree(owned, ignore_errors=True)


def test_weaker_isolation_is_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="calray.evaluate.sandbox"):
        _warn_if_weaker("in-process", "shared", SandboxLimits())
        _warn_if_weaker("namespace", "partial:/data,/scratch", SandboxLimits())
    text = caplog.text
    assert "refused a network namespace" in text and "refused a private mount namespace" in text
    assert "/tmp, /dev/shm" in text and "/data,/scratch" in text
