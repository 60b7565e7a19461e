"""The hub code path, end to end, against a fake Hugging Face Hub on 127.0.0.1.

Only the network boundary is replaced: ``calray calib build`` runs in a subprocess with
``HF_ENDPOINT`` pointing at ``FakeHub``, so ``datasets`` and ``huggingface_hub`` make their
real HTTP requests (repo info, file resolution, downloads, streaming reads). The windows
must equal those built from the same files read locally.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from calray.data import CalibrationSet, build_calibration, use_sources_file

from .fake_hub import FakeHub
from .helpers import words

REPO = Path(__file__).resolve().parents[2]

GSM8K_CARD = """---
configs:
- config_name: main
  data_files:
  - split: train
    path: main/train-*
---
"""


def _jsonl_gz(docs: list[str]) -> bytes:
    return gzip.compress("".join(json.dumps({"text": d, "url": "u", "timestamp": "t"}) + "\n" for d in docs).encode())


@pytest.fixture
def hub_repos(tmp_path: Path) -> dict[str, Path]:
    gsm8k = tmp_path / "repos" / "gsm8k"
    (gsm8k / "main").mkdir(parents=True)
    (gsm8k / "README.md").write_text(GSM8K_CARD)
    qa = [{"question": f"What is {i} + {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"} for i in range(60)]
    pq.write_table(pa.Table.from_pylist(qa), gsm8k / "main" / "train-00000-of-00001.parquet")

    c4 = tmp_path / "repos" / "c4"
    (c4 / "en").mkdir(parents=True)
    (c4 / "en" / "c4-train.00000-of-01024.json.gz").write_bytes(_jsonl_gz([words(i, 30) for i in range(20)]))
    (c4 / "en" / "c4-train.00001-of-01024.json.gz").write_bytes(_jsonl_gz(["NOT THIS SHARD " * 20] * 20))

    stream = tmp_path / "repos" / "stream"
    (stream / "data").mkdir(parents=True)
    (stream / "data" / "train.jsonl").write_text("".join(json.dumps({"text": f"stream doc {i}."}) + "\n" for i in range(40)))
    return {"openai/gsm8k": gsm8k, "allenai/c4": c4, "org/stream": stream}


def test_hub_sources_load_through_datasets_over_http(hub_repos: dict[str, Path], tmp_path: Path, tok):
    stream_yaml = tmp_path / "stream.yaml"
    stream_yaml.write_text(
        "sources:\n  fake-stream:\n    dimension: general\n"
        "    hub: {path: org/stream, streaming: true, max_documents: 5}\n"
    )
    out = tmp_path / "hub.arrow"
    argv = ["calib", "build", "--tokenizer", "tiny", "--mix", "gsm8k=4,c4=4,fake-stream=2", "--seqlen", "32"]
    argv += ["--out", str(out), "--sources-file", str(stream_yaml)]
    with FakeHub(hub_repos) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "CALRAY_CACHE": str(tmp_path / "c")}
        env["HF_HUB_OFFLINE"] = "0"
        proc = subprocess.run(
            [sys.executable, "-m", "calray", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    requested = "\n".join(hub.requests)
    assert "GET /datasets/openai/gsm8k/resolve/" in requested and "main/train-00000-of-00001.parquet" in requested
    assert "en/c4-train.00000-of-01024.json.gz" in requested and "00001-of-01024" not in requested
    assert "/datasets/org/stream/resolve/" in requested

    # The same files read locally give the same windows; the stream only its first 5 documents.
    first5 = tmp_path / "first5.jsonl"
    first5.write_text("".join(json.dumps({"text": f"stream doc {i}."}) + "\n" for i in range(5)))
    local_yaml = tmp_path / "local.yaml"
    local_yaml.write_text(
        f"sources:\n  gsm8k:\n    files: {hub_repos['openai/gsm8k']}/main/train-00000-of-00001.parquet\n"
        f"  c4:\n    files: {hub_repos['allenai/c4']}/en/c4-train.00000-of-01024.json.gz\n"
        f"  fake-stream:\n    dimension: general\n    files: {first5}\n"
    )
    use_sources_file(local_yaml)
    local = build_calibration(tok, "gsm8k=4,c4=4,fake-stream=2", seqlen=32, cache_dir=tmp_path / "local-cache")
    from_hub = CalibrationSet.load(out)
    assert from_hub.counts == {"c4": 4, "fake-stream": 2, "gsm8k": 4}
    assert torch.equal(from_hub.input_ids, local.input_ids)
    assert "stream doc 7" not in tok.decode(from_hub.select("fake-stream").flatten())
