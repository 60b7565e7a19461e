"""Every file of the repository that the docs, help texts, docstrings and configs name exists:
a renamed config or a moved module must not leave a reader (or a copied command) stranded."""

from __future__ import annotations

import argparse
import functools
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A repository path: a top-level folder, then a file with an extension. Not when it continues
# another path (/home/ray/calray/...), a variable (${X}/...) or a URL.
REPO_PATH = re.compile(r"(?<![\w/.${}~:-])((?:jobs|calray|analysis|benchmarks|tests|scripts|docs)/[\w./-]*\w\.[a-z]+)\b")
# A markdown document named by itself (README.md, toy_study.md): some file of that name must exist,
# except the reports that the documented commands write.
DOCUMENT = re.compile(r"(?<![\w/.-])([\w-]+\.md)\b")
OUTPUTS = {"report.md", "paper.md", "scaling.md"}


def texts() -> list[Path]:
    """What a reader reads: the READMEs and docs, every source file (docstrings and help texts)
    and the configs; tests are left out (they name the files they create)."""
    found = [ROOT / "README.md", ROOT / "cluster.yaml", ROOT / "pyproject.toml"]
    for folder in ("calray", "jobs", "analysis", "benchmarks", "scripts", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".md", ".yaml", ".yml", ".sh", ".toml"}:
                found.append(path)
    return [p for p in found if p.is_file()]


@functools.cache
def documents() -> frozenset[str]:
    """The names of the repository's markdown files (the virtual environment's left unwalked)."""
    names = set()
    for _folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in {".venv", ".git", "node_modules"}]
        names.update(f for f in files if f.endswith(".md"))
    return frozenset(names)


def absent(where: str, text: str) -> list[str]:
    """``where: path`` for each repository file or markdown document ``text`` names that does not exist."""
    names = documents()
    missing = [f"{where}: {m.group(1).rstrip('.')}" for m in REPO_PATH.finditer(text)
               if not (ROOT / m.group(1).rstrip(".")).exists()]
    return missing + [f"{where}: {m.group(1)}" for m in DOCUMENT.finditer(text) if m.group(1) not in names | OUTPUTS]


def test_every_path_the_docs_and_help_texts_name_exists():
    missing = [line for path in texts() for line in absent(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))]
    assert not missing, "named but absent:\n" + "\n".join(sorted(set(missing)))


def test_every_path_the_rendered_help_names_exists():
    """Help texts are assembled at run time too (defaults, registries, docstring examples)."""
    from calray.cli import build_parser

    def helps(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
        found = [(parser.prog, parser.format_help())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    found += helps(child)
        return found

    rendered = helps(build_parser())
    assert len(rendered) > 12 and any("jobs/configs/toy.yaml" in text for _, text in rendered)
    missing = [line for prog, text in rendered for line in absent(f"{prog} --help", text)]
    assert not missing, "named but absent:\n" + "\n".join(sorted(set(missing)))


def test_the_check_finds_a_missing_path():
    assert REPO_PATH.findall("see jobs/configs/toy.yaml and /home/ray/calray/constraints.txt") == ["jobs/configs/toy.yaml"]
    assert DOCUMENT.findall("as research.md says") == ["research.md"] and "research.md" not in OUTPUTS
