"""Bad input found in issue 17 gets one line on stderr and exit code 2, never a traceback, and
fails before any work: damaged model directories, hostile or binary YAML, devices, dtypes,
batch sizes and tracking stores. Each case ran into a traceback (or worse) before the fix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from calray.cli import main
from calray.errors import CalrayError
from calray.tiny import tiny_model, tiny_tokenizer

WEIGHTS = "model.safetensors"


def _truncate(d: Path) -> None:
    os.truncate(d / WEIGHTS, (d / WEIGHTS).stat().st_size // 2)


def _corrupt_header(d: Path) -> None:
    data = (d / WEIGHTS).read_bytes()
    (d / WEIGHTS).write_bytes(data[:8] + b"{garbage" + data[16:])


DAMAGE = {
    "truncated weights": (_truncate, "truncated or corrupt"),
    "corrupt header": (_corrupt_header, "truncated or corrupt"),
    "empty weights": (lambda d: (d / WEIGHTS).write_bytes(b""), "truncated or corrupt"),
    "no weights": (lambda d: (d / WEIGHTS).unlink(), "has no weights"),
    "invalid config.json": (lambda d: (d / "config.json").write_text("{not json"), "config.json is not valid JSON"),
}
BINARY = bytes(range(256)) * 4
SELF_ALIAS = "search: &s {num_samples: *s}\n"
# Nine levels of ten aliases each: a billion leaves once expanded, 2 kB as text.
BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9)
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-input")
    good = root / "good"
    tiny_model("llama").save_pretrained(good)
    tiny_tokenizer().save_pretrained(good)
    out = {"root": root}
    for name, (damage, _) in DAMAGE.items():
        out[name] = root / name.replace(" ", "-")
        shutil.copytree(good, out[name])
        damage(out[name])
    for name, content in (("binary", BINARY), ("self-alias", SELF_ALIAS.encode()), ("bomb", BOMB.encode())):
        out[name] = root / f"{name}.yaml"
        out[name].write_bytes(content)
    out["garbage.db"] = root / "garbage.db"
    out["garbage.db"].write_bytes(BINARY)
    out["text"] = root / "text.txt"
    out["text"].write_text("some text " * 50)
    return out


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("calray: error: "), err
    return err


COMMANDS = {
    "prune": lambda m, f: ["prune", "--model", m, "--method", "magnitude", "--sparsity", "0.5", "--mix", "toy:web=1",
                           "--out", str(f["root"] / "pruned")],
    "ppl": lambda m, f: ["ppl", "--model", m, "--text", str(f["text"])],
    "eval": lambda m, f: ["eval", "--model", "toy", "--dense", m],
    "metrics": lambda m, f: ["metrics", "--model", m, "--mix", "toy:web=1"],
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_damaged_model_directory_is_one_line(command: str, damage: str, files, capsys) -> None:
    err = _one_line_error(COMMANDS[command](str(files[damage]), files), capsys)
    assert DAMAGE[damage][1] in err and damage.replace(" ", "-") in err


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_loaders_refuse_damaged_directories(damage: str, files) -> None:
    from calray.evaluate import HFModel
    from calray.prune import load_pretrained

    with pytest.raises(CalrayError, match=DAMAGE[damage][1]):
        load_pretrained(str(files[damage]))
    with pytest.raises(CalrayError, match=DAMAGE[damage][1]):
        HFModel.from_pretrained(files[damage])


@pytest.mark.timeout(60)  # the bomb used to grow past 1.2 GB and pin a CPU for minutes
@pytest.mark.parametrize("yaml_file,expected", [
    ("binary", "is not UTF-8 text"), ("self-alias", "refers to the node that contains it"), ("bomb", "alias bomb"),
])
@pytest.mark.parametrize("option", ["sweep --config", "sources list --sources-file", "eval --capabilities"])
def test_hostile_yaml_is_one_line(option: str, yaml_file: str, expected: str, files, capsys) -> None:
    argv = [*option.split(), str(files[yaml_file])] + (["--model", "toy"] if option.startswith("eval") else [])
    assert expected in _one_line_error(argv, capsys)


def test_yaml_aliases_that_are_fine_still_load() -> None:
    from calray.config import load_yaml

    assert load_yaml("base: &b {lr: 1}\nrun: {<<: *b, seed: 2}\nruns: [*b, *b]\n", "cfg") == {
        "base": {"lr": 1}, "run": {"lr": 1, "seed": 2}, "runs": [{"lr": 1}, {"lr": 1}]}


@pytest.mark.parametrize("argv,expected", [
    (["eval", "--model", "toy", "--device", "cuda:7"], "--device cuda:7: torch sees"),
    (["eval", "--model", "toy", "--device", "gpu"], "unknown device 'gpu'"),
    (["eval", "--model", "toy", "--dtype", "bogus"], "unknown dtype 'bogus'"),
    (["ppl", "--model", "toy", "--text", "x.txt", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["metrics", "--model", "toy", "--mix", "toy:web=1", "--batch-size", "-1"], "--batch-size must be at least 1"),
])
def test_bad_option_values_are_one_line(argv: list[str], expected: str, capsys) -> None:
    assert expected in _one_line_error(argv, capsys)


def test_garbage_tracking_store_is_one_line(files, capsys) -> None:
    for uri in (str(files["garbage.db"]), f"sqlite:///{files['garbage.db']}"):
        assert "is not an SQLite database" in _one_line_error(["runs", "--tracking-uri", uri], capsys)


@pytest.mark.parametrize("argv", [["runs"], ["report"], ["export", "--run", "abc", "--out", "x"]], ids=lambda a: a[0])
def test_read_only_commands_never_create_a_store(argv: list[str], tmp_path: Path, capsys) -> None:
    store = tmp_path / "mlflow.db"
    for uri in (str(store), f"sqlite:///{store}"):
        assert "no MLflow store at" in _one_line_error([*argv, "--tracking-uri", uri], capsys)
    assert list(tmp_path.iterdir()) == []
