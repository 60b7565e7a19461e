"""The 15 calibration sources of the literature (the candidates the calibration literature uses), registered on import.

Each loads from the Hugging Face hub when online; point any of them at local files with a
sources file (see ``calray.data.sources_file``). Sources of long documents default to
SparseGPT's ``random-window`` sampling; sources of short records (QA pairs, instructions)
default to ``packed``, because no GSM8K record holds 2048 tokens.
"""

from __future__ import annotations

from calray.data.sources import HubOrigin, Record, Source, register_source


def commonsenseqa_text(record: Record) -> str:
    """Question stem and lettered choices, for the hub schema and the original jsonl alike.

    Hub (tau/commonsense_qa): ``question`` str, ``choices`` {label: [...], text: [...]}.
    Original release: ``question`` {stem, choices: [{label, text}, ...]}.
    """
    question = record["question"]
    if isinstance(question, dict):
        stem = question["stem"]
        choices = [(c["label"], c["text"]) for c in question["choices"]]
    else:
        stem = question
        choices = list(zip(record["choices"]["label"], record["choices"]["text"], strict=True))
    return stem.strip() + "\n" + "\n".join(f"{label}. {text}" for label, text in choices)


_STREAMED = 20_000  # documents read from the start of a streamed corpus

BUILTIN_SOURCES: tuple[Source, ...] = (
    Source(
        name="c4",
        dimension="general",
        hub=HubOrigin("allenai/c4", data_files="en/c4-train.00000-of-01024.json.gz"),
        sampling="random-window",
        description="C4 web text; the first English training shard, as SparseGPT and Wanda sample it.",
    ),
    Source(
        name="wikitext2",
        dimension="general",
        hub=HubOrigin("Salesforce/wikitext", name="wikitext-2-raw-v1"),
        sampling="random-window",
        template="{text}",  # unstripped: each line keeps its own spacing and newline
        join_with=" ",
        description="WikiText-2 raw train split joined into one document with ' ' (SparseGPT's reading); "
        "the literature's 'wikitext' id now lives at Salesforce/wikitext.",
    ),
    Source(
        name="redpajama",
        dimension="general",
        hub=HubOrigin("togethercomputer/RedPajama-Data-V2", name="sample", streaming=True, max_documents=_STREAMED),
        fields=("raw_content",),
        sampling="random-window",
        description="RedPajama-V2 sample. The hub repo is a loading script, which datasets >= 4 refuses: "
        "point this source at the sample's json.gz documents with a sources file.",
    ),
    Source(
        name="pile",
        dimension="general",
        hub=HubOrigin("monology/pile-uncopyrighted", streaming=True, max_documents=_STREAMED),
        sampling="random-window",
        description="The Pile without its copyrighted subsets (zstd jsonl; needs the zstandard package).",
    ),
    Source(
        name="slimpajama",
        dimension="general",
        hub=HubOrigin("DKYoon/SlimPajama-6B", streaming=True, max_documents=_STREAMED),
        sampling="random-window",
        description="SlimPajama 6B-token sample.",
    ),
    Source(
        name="cosmopedia",
        dimension="general",
        hub=HubOrigin("HuggingFaceTB/cosmopedia-100k"),
        description="Synthetic textbooks and stories (100k documents, most under 2048 tokens).",
    ),
    Source(
        name="gsm8k",
        dimension="math",
        hub=HubOrigin("openai/gsm8k", name="main"),
        fields=("question", "answer"),
        separator="\n",
        description="Grade-school math word problems with worked solutions (train split).",
    ),
    Source(
        name="metamathqa",
        dimension="math",
        hub=HubOrigin("meta-math/MetaMathQA"),
        fields=("query", "response"),
        separator="\n",
        description="MetaMathQA: GSM8K/MATH train questions rewritten and answered step by step.",
    ),
    Source(
        name="openwebmath",
        dimension="math",
        hub=HubOrigin("open-web-math/open-web-math", streaming=True, max_documents=_STREAMED),
        sampling="random-window",
        description="Mathematical web pages.",
    ),
    Source(
        name="svamp",
        dimension="math",
        hub=HubOrigin("ChilleD/SVAMP"),
        fields=("Body", "Question", "Answer"),
        template="{Body} {Question}\n{Answer}",
        description="SVAMP arithmetic word problems (body, question, numeric answer).",
    ),
    Source(
        name="codealpaca",
        dimension="code",
        hub=HubOrigin("sahil2801/CodeAlpaca-20k"),
        fields=("instruction", "input", "output"),
        description="Code instructions with optional input and the code answer. CC BY-NC 4.0: research only.",
    ),
    Source(
        name="magicoder",
        dimension="code",
        hub=HubOrigin("ise-uiuc/Magicoder-OSS-Instruct-75K"),
        fields=("problem", "solution"),
        description="Magicoder OSS-Instruct coding problems and solutions.",
    ),
    Source(
        name="alpaca",
        dimension="general",
        hub=HubOrigin("tatsu-lab/alpaca"),
        fields=("instruction", "input", "output"),
        description="Stanford Alpaca instructions. CC BY-NC 4.0: research only.",
    ),
    Source(
        name="dolly",
        dimension="general",
        hub=HubOrigin("databricks/databricks-dolly-15k"),
        fields=("instruction", "context", "response"),
        description="Dolly 15k human-written instructions, context and responses.",
    ),
    Source(
        name="commonsenseqa",
        dimension="commonsense",
        hub=HubOrigin("tau/commonsense_qa"),
        fields=("question", "choices"),
        template=commonsenseqa_text,
        description="CommonsenseQA questions with their five choices (no answer key). "
        "Do not also evaluate on CommonsenseQA when calibrating on it.",
    ),
)

for _source in BUILTIN_SOURCES:
    register_source(_source)
