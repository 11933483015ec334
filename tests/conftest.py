"""Shared fixtures: a tiny real + synthetic speech corpus built once per test session."""

import os
from pathlib import Path

# One intra-op thread in this process and in every tool it starts (they inherit the
# environment), set before anything imports torch: with two test workers on two cores, a
# second OpenMP thread waits a scheduler slice for its busy core at every parallel op, which
# made a demo training step 25 times slower (examples/benchmarks/README.md, "Busy machines").
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from birq_fairseq.data.demo_corpus import build_demo_corpus  # noqa: E402

TINY_SYNTH_UTTERANCES = 40
TINY_REAL_UTTERANCES = 40
# A manifests folder built beforehand with the sizes above (``python -m
# birq_fairseq.data.demo_corpus``), for machines without the Debian speech packages, such as
# a GPU machine that receives only the repository.
PREBUILT_CORPUS_ENV = "BIRQ_TEST_CORPUS"


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Manifests folder with ``pretrain/`` and ``finetune/`` (demo corpus layout), built from
    Debian's speech packages and espeak-ng at a size that trains in seconds, or the one
    that ``$BIRQ_TEST_CORPUS`` names."""
    prebuilt = os.environ.get(PREBUILT_CORPUS_ENV)
    if prebuilt:
        manifests = Path(prebuilt)
        if not (manifests / "pretrain" / "train.tsv").is_file():
            raise FileNotFoundError(
                f"{PREBUILT_CORPUS_ENV}={prebuilt} holds no pretrain/train.tsv; point it at the "
                "manifests folder of a demo corpus"
            )
        return manifests
    root = tmp_path_factory.mktemp("tiny_corpus")
    build_demo_corpus(
        root / "audio",
        root / "manifests",
        synth_utterances=TINY_SYNTH_UTTERANCES,
        real_limit=TINY_REAL_UTTERANCES,
        seed=1,
    )
    return root / "manifests"
