"""Math evaluation files beyond the paper map: svamp and MATH-500 (registered, not in ``paper``).

MATH-500 stands in for lm-eval's ``minerva_math`` only approximately: answers are compared
as strings after the Minerva normalisation (Lewkowycz et al. 2022, appendix D.1), without
lm-eval's sympy equivalence check, so equivalent forms written differently count as wrong.
That under-counts, which is why the ``paper`` map leaves it out; add it to a map to use it.
"""

from __future__ import annotations

import json
import re

from calray.evaluate.builtin.sources import LocalData, hub_rows, rows
from calray.evaluate.registry import register_task
from calray.evaluate.tasks import AnswerItem, GenerationTask, flexible_extract


def _number(text: str) -> str:
    """A number in canonical form ("51.0", "$51" and "51" -> "51"), else the text stripped."""
    cleaned = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return text.strip()
    return str(int(value)) if value.is_integer() else repr(value)


def svamp_items(data: LocalData | None) -> list[AnswerItem]:
    path = data.path("svamp", "svamp/SVAMP.json") if data else None
    recs = json.loads(path.read_text()) if path is not None else hub_rows("svamp", "ChilleD/SVAMP", None, "test")
    return [
        AnswerItem(
            f"Question: {r['Body'].strip()} {r['Question'].strip()}\nAnswer:",
            _number(str(r["Answer"])),
            _number(str(r["Answer"])),
        )
        for r in recs
    ]


SVAMP = GenerationTask(
    name="svamp",
    items=svamp_items,
    num_fewshot=5,
    until=("Question:", "\n\n"),
    max_new_tokens=32,
    extractors={"exact_match": flexible_extract},
    normalize=_number,
)

# --- MATH-500 -------------------------------------------------------------------------------
_SUBSTITUTIONS = [("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), (r"\ ", ""), (" ", ""), ("mbox", "text"),
                  (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}")]
_REMOVED = ["square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units", "\\ldots", "sue",
            "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds", "meters", "meals", "edges",
            "students", "childrentickets", "multiples", "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2",
            "\\text{}^3", "\\text{\n}", "\\text{}", r"\mathrm{th}", r"^\circ", r"^{\circ}", r"\;", r",\!", "{,}", '"', "\\dots"]


def normalize_final_answer(answer: str) -> str:
    """Minerva's normalisation of a final LaTeX answer to a comparable string."""
    answer = answer.split("=")[-1]
    for before, after in _SUBSTITUTIONS:
        answer = answer.replace(before, after)
    for expr in _REMOVED:
        answer = answer.replace(expr, "")
    answer = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", answer)
    answer = re.sub(r"(\\text\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", answer)
    answer = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", answer)
    answer = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", answer)
    answer = (
        answer.replace("$", "").replace("\\left", "").replace("\\right", "").replace("dfrac", "frac").replace("tfrac", "frac")
    )
    if answer.replace(",", "").isdigit():
        answer = answer.replace(",", "")
    return answer.strip()


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (braces balanced), or None."""
    start = text.rfind("\\boxed{")
    if start == -1:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    return None


def extract_final_answer(generation: str) -> str:
    """Minerva's "The final answer is X. I hope it is correct.", else the last \\boxed{}."""
    matches = re.findall(r"The final answer is ((?:(?!The final answer is).)*?)\. I hope it is correct", generation, re.DOTALL)
    if matches:
        return matches[-1]
    boxed = last_boxed(generation)
    return boxed if boxed is not None else "[invalid]"


def math500_items(data: LocalData | None) -> list[AnswerItem]:
    recs, _ = rows("math500", data, "math500/test.jsonl", ("HuggingFaceH4/MATH-500", None, "test"))
    return [
        AnswerItem(
            f"Problem:\n{r['problem']}\n\nSolution:",
            f"{r['solution']}\nFinal Answer: The final answer is ${r['answer']}$. I hope it is correct.",
            r["answer"],
        )
        for r in recs
    ]


MATH500 = GenerationTask(
    name="math500",
    items=math500_items,
    num_fewshot=4,
    until=("Problem:",),
    max_new_tokens=512,
    extractors={"exact_match": extract_final_answer},
    normalize=normalize_final_answer,
)
register_task(SVAMP)
register_task(MATH500)
