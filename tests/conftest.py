"""Shared fixtures: a tiny real + synthetic speech corpus built once per test session."""

from pathlib import Path

import pytest

from birq_fairseq.data.demo_corpus import build_demo_corpus

TINY_SYNTH_UTTERANCES = 40
TINY_REAL_UTTERANCES = 40


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Manifests folder with ``pretrain/`` and ``finetune/`` (demo corpus layout), built from
    Debian's speech packages and espeak-ng at a size that trains in seconds."""
    root = tmp_path_factory.mktemp("tiny_corpus")
    build_demo_corpus(
        root / "audio",
        root / "manifests",
        synth_utterances=TINY_SYNTH_UTTERANCES,
        real_limit=TINY_REAL_UTTERANCES,
        seed=1,
    )
    return root / "manifests"
