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
