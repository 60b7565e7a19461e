import pytest

from calray.errors import CalrayError
from calray.registry import Registry


def test_register_get_and_decorator():
    reg: Registry[object] = Registry("thing")

    @reg.register("alpha")
    def alpha():
        return 1

    reg.register("beta", 2)
    assert reg.get("alpha") is alpha
    assert reg.get("beta") == 2
    assert reg.names() == ["alpha", "beta"]
    assert "alpha" in reg and "gamma" not in reg


def test_duplicate_is_refused():
    reg: Registry[int] = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(CalrayError, match="already registered"):
        reg.register("a", 2)


def test_unknown_name_suggests_closest():
    reg: Registry[int] = Registry("source")
    reg.register("gsm8k", 1)
    reg.register("c4", 2)
    with pytest.raises(CalrayError, match="did you mean 'gsm8k'"):
        reg.get("gsm8")
    with pytest.raises(CalrayError) as info:
        reg.get("zzzzzz")
    assert "did you mean" not in str(info.value)
    assert "known: c4, gsm8k" in str(info.value)


def test_a_deferred_group_loads_on_its_first_lookup_only():
    reg: Registry[int] = Registry("thing")
    calls = []

    def load() -> None:
        calls.append(1)
        reg.register("toy:a", 1)
        reg.register("toy:b", 2)

    reg.defer("toy:", load)
    reg.register("plain", 0)
    assert reg.get("plain") == 0 and "zzz" not in reg and not calls  # other names never load it
    assert reg.get("toy:b") == 2 and calls == [1]
    assert reg.names() == ["plain", "toy:a", "toy:b"] and calls == [1]


def test_listing_loads_every_deferred_group_and_a_failed_load_is_retried():
    reg: Registry[int] = Registry("thing")
    attempts = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first load fails")
        reg.register("g:x", 1)

    reg.defer("g:", flaky)
    with pytest.raises(RuntimeError):
        reg.get("g:x")
    assert reg.names() == ["g:x"] and len(attempts) == 2


def test_threads_looking_up_during_a_slow_load_wait_for_the_whole_group():
    import threading
    import time

    reg: Registry[int] = Registry("task")

    def slow() -> None:
        for i in range(5):
            reg.register(f"toy:{i}", i)
            time.sleep(0.02)

    reg.defer("toy:", slow)
    results: list[object] = []

    def look(name: str) -> None:
        try:
            results.append(reg.get(name))
        except CalrayError as exc:
            results.append(exc)

    threads = [threading.Thread(target=look, args=(f"toy:{i % 5}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(i % 5 for i in range(8))  # type: ignore[type-var]


def test_importing_data_and_evaluate_leaves_the_toy_world_alone():
    import subprocess
    import sys

    code = ("import sys, calray.data, calray.evaluate; print('calray.toy' in sys.modules); "
            "calray.data.get_source('toy:gsm'); print('calray.toy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "True"]
