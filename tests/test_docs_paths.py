"""Every file of the repository that the docs, help texts, docstrings and configs name exists:
a renamed config or a moved module must not leave a reader (or a copied command) stranded."""

from __future__ import annotations

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


def test_every_path_the_docs_and_help_texts_name_exists():
    names = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    missing = []
    for path in texts():
        text = path.read_text(encoding="utf-8")
        for match in REPO_PATH.finditer(text):
            named = match.group(1).rstrip(".")
            if not (ROOT / named).exists():
                missing.append(f"{path.relative_to(ROOT)}: {named}")
        for match in DOCUMENT.finditer(text):
            if match.group(1) not in names | OUTPUTS:
                missing.append(f"{path.relative_to(ROOT)}: {match.group(1)}")
    assert not missing, "named but absent:\n" + "\n".join(sorted(set(missing)))


def test_the_check_finds_a_missing_path():
    assert REPO_PATH.findall("see jobs/configs/toy.yaml and /home/ray/calray/constraints.txt") == ["jobs/configs/toy.yaml"]
    assert DOCUMENT.findall("as research.md says") == ["research.md"] and "research.md" not in OUTPUTS
