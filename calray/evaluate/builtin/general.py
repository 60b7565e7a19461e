"""General knowledge and language modelling: mmlu (5-shot, subjects as subtasks) and wikitext."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

from calray.errors import CalrayError
from calray.evaluate.builtin.sources import LocalData, hub_rows, open_text
from calray.evaluate.registry import register_task
from calray.evaluate.tasks import ChoiceItem, MultipleChoiceTask, PerplexityTask, TaskGroup, TextItem


def wikitext_detokenize(text: str) -> str:
    """lm-eval's ``wikitext_detokenizer``: undo WikiText's tokenised spacing (`` @-@ `` ...)."""
    s = text.replace("s '", "s'")
    s = re.sub(r"/' [0-9]/", r"/'[0-9]/", s)
    for a, b in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" : ", ": "), (" ; ", "; "), (" . ", ". "),
                 (" ! ", "! "), (" ? ", "? "), (" , ", ", ")):
        s = s.replace(a, b)
    s = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", s)
    s = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", s)
    s = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", s)
    s = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', s)
    s = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", s)
    for a, b in (("= = = =", "===="), ("= = =", "==="), ("= =", "=="), (" " + chr(176) + " ", chr(176)),
                 (" \n", "\n"), ("\n ", "\n"), (" N ", " 1 "), (" 's", "'s")):
        s = s.replace(a, b)
    return s


_ARTICLE_TITLE = re.compile(r"^ = [^=].* = $", re.MULTILINE)


def split_articles(text: str) -> list[str]:
    """Split raw WikiText into articles at top-level `` = Title = `` lines (the pages of
    EleutherAI/wikitext_document_level)."""
    starts = [m.start() for m in _ARTICLE_TITLE.finditer(text)] or [0]
    if starts[0] != 0 and text[: starts[0]].strip():
        starts.insert(0, 0)
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True) if text[a:b].strip()]


def wikitext_items(data: LocalData | None) -> list[TextItem]:
    path = data.path("wikitext", "wikitext2_raw_test/wikitext-test.txt") if data else None
    if path is None:
        pages = [r["page"] for r in hub_rows("wikitext", "EleutherAI/wikitext_document_level", "wikitext-2-raw-v1", "test")]
    else:
        with open_text(path) as f:  # text mode: the file's CRLF becomes LF
            pages = split_articles(f.read())
    return [TextItem(wikitext_detokenize(p), count_text=p) for p in pages]


def mmlu_prompt(question: str, choices: list[str]) -> str:
    return question.strip() + "".join(f"\n{letter}. {c}" for letter, c in zip("ABCD", choices, strict=False)) + "\nAnswer:"


def _mmlu_item(question: str, choices: list[str], answer: int) -> ChoiceItem:
    return ChoiceItem(mmlu_prompt(question, choices), ("A", "B", "C", "D"), answer)


def _read_mmlu_csv(path: Path) -> list[ChoiceItem]:
    with open(path, encoding="utf-8", newline="") as f:
        return [_mmlu_item(row[0], row[1:5], "ABCD".index(row[5].strip())) for row in csv.reader(f)]


def mmlu_subject_task(subject: str, items: list[ChoiceItem], dev: list[ChoiceItem]) -> MultipleChoiceTask:
    """One subject, lm-eval's ``mmlu_<subject>``: description line, 5 dev examples in order."""
    return MultipleChoiceTask(
        name=f"mmlu_{subject}",
        items=items,
        fewshot_items=dev,
        num_fewshot=5,
        fewshot_sampler="first_n",
        description=f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n",
        metric="acc",
    )


def mmlu_subtasks(data: LocalData | None) -> list[MultipleChoiceTask]:
    path = data.path("mmlu", "mmlu") if data else None
    if path is not None:  # hendrycks layout: test/<subject>_test.csv, dev/<subject>_dev.csv
        tests = sorted((path / "test").glob("*_test.csv"))
        return [
            mmlu_subject_task(
                p.name[: -len("_test.csv")],
                _read_mmlu_csv(p),
                _read_mmlu_csv(path / "dev" / p.name.replace("_test.csv", "_dev.csv")),
            )
            for p in tests
        ]
    by_subject: dict[str, dict[str, list[ChoiceItem]]] = defaultdict(lambda: defaultdict(list))
    for split in ("test", "dev"):
        for r in hub_rows("mmlu", "cais/mmlu", "all", split):
            by_subject[r["subject"]][split].append(_mmlu_item(r["question"], r["choices"], int(r["answer"])))
    return [mmlu_subject_task(s, d["test"], d["dev"]) for s, d in sorted(by_subject.items())]


def passages(text: str, *, min_chars: int = 5000) -> list[str]:
    """Consecutive blank-line-separated blocks joined into passages of at least ``min_chars``,
    so a single long text can be scored on a deterministic subset (``limit``)."""
    out, current = [], ""
    for block in text.split("\n\n"):
        current = f"{current}\n\n{block}" if current else block
        if len(current) >= min_chars:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


def tinyshakespeare_items(data: LocalData | None) -> list[TextItem]:
    """Karpathy's tinyshakespeare in ~5,000-character passages: out-of-domain perplexity."""
    path = data.path("tinyshakespeare", "tinyshakespeare/input.txt") if data else None
    if path is None:
        raise CalrayError("task 'tinyshakespeare' has no hub dataset; configure LocalData (--data DIR) with its input.txt")
    with open_text(path) as f:
        return [TextItem(p) for p in passages(f.read())]


MMLU = TaskGroup(name="mmlu", subtasks=mmlu_subtasks, metric="acc", num_fewshot=5)
WIKITEXT = PerplexityTask(name="wikitext", items=wikitext_items, metric="word_perplexity")
TINYSHAKESPEARE = PerplexityTask(name="tinyshakespeare", items=tinyshakespeare_items, metric="word_perplexity")
register_task(MMLU)
register_task(TINYSHAKESPEARE)
register_task(WIKITEXT)
