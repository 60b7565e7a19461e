"""The embedded default: a generated four-capability world and a small model trained on it.

One seeded world of people, places and things feeds four domains that share its words
and differ in skill and format: **general** (encyclopedia, stories), **commonsense**
(everyday facts, question answering), **math** (worked word problems) and **code** (Python
over the world's records). Each domain has disjoint train / calibration / evaluation
splits. On top of them:

- ``SOURCES``: toy calibration sources (plain generators, to be registered as sources);
- ``TASKS``: evaluation records per dimension (perplexity documents, multiple-choice items,
  math problems, code tasks with hidden tests);
- ``MODEL_DIR``: the shipped model (Hugging Face format, float32) trained on this world;
- ``FAMILY``: the toy model family, three sizes trained on the same world and tokens
  (``small`` 0.53M parameters, ``base`` = ``MODEL_DIR`` 2.2M, ``large`` 7.9M); the model
  names ``toy:small``, ``toy`` (``toy:base``) and ``toy:large`` (``calray.models``);
- ``calray.toy.train`` (imports torch): the tokenizer and model training behind
  ``calray toy build``.

>>> from calray.toy import source, task
>>> len(task("toy:arc").records(3))
3
"""

from pathlib import Path

from calray.toy.corpus import DEFAULT_SEED, DOMAINS, documents, world
from calray.toy.records import CODE_STOP, MATH_STOP, ChoiceItem, CodeTask, MathProblem
from calray.toy.sources import SOURCES, ToySource, source
from calray.toy.splits import SPLITS, split_of
from calray.toy.tasks import TASKS, ToyTask, task
from calray.toy.world import World, build_world

MODEL_DIR = Path(__file__).parent / "model"
# The family's checkpoints by size; small and large are stored in float16 (calray.models reads
# them back as float32 through the calray cache).
FAMILY = {"small": Path(__file__).parent / "model-small", "base": MODEL_DIR, "large": Path(__file__).parent / "model-large"}

__all__ = [
    "FAMILY",
    "MODEL_DIR",
    "CODE_STOP",
    "DEFAULT_SEED",
    "DOMAINS",
    "MATH_STOP",
    "SOURCES",
    "SPLITS",
    "TASKS",
    "ChoiceItem",
    "CodeTask",
    "MathProblem",
    "ToySource",
    "ToyTask",
    "World",
    "build_world",
    "documents",
    "source",
    "split_of",
    "task",
    "world",
]
