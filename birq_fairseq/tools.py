"""The command-line tools of birq-fairseq in one list; ``python -m birq_fairseq`` prints it.

Each tool runs as ``python -m MODULE``, builds its parser with ``tool_parser`` (the usage
line then names that command) and gives every option a help string.  Only the tools in
``NEEDS_FAIRSEQ`` import fairseq: the others start in well under a second and print nothing
but their own output.  Training and decoding are fairseq's own ``fairseq-hydra-train`` and
``fairseq-generate`` with ``--user-dir birq_fairseq``.
"""

import argparse

TOOLS = {
    "birq_fairseq.data.prepare_corpus": "your own corpus, any language -> 16 kHz wavs, "
    "manifests, labels, dict.ltr.txt",
    "birq_fairseq.data.librispeech": "LibriSpeech manifests, labels, subsets, concatenations",
    "birq_fairseq.data.ami": "AMI meetings (IHM, SDM) -> segment wavs, manifests, labels",
    "birq_fairseq.data.demo_corpus": "the demo corpus: synthetic and real speech, manifests",
    "birq_fairseq.data.study_corpus": "a >= 10 h pretraining study corpus in restartable "
    "stages: real, synthetic and augmented speech, 10 min / 1 h labelled sets",
    "birq_fairseq.check_data": "check manifests, their audio and their labels before training",
    "birq_fairseq.data.pack_corpus": "a FLAC or Opus copy of a corpus in parts, for a machine "
    "its audio cannot reach; --relocate on the far side",
    "birq_fairseq.alignment.align_manifest": "phone alignments (SPLIT.phn) of an English "
    "manifest from its transcripts, with PocketSphinx",
    "birq_fairseq.cpu_ddp": "data-parallel fairseq-hydra-train on several CPU processes",
    "birq_fairseq.lm.build_arpa": "a word n-gram LM (ARPA) from transcripts, for beam decoding",
    "birq_fairseq.export_features": "one encoder layer's features, for probes and k-means",
    "birq_fairseq.label_quality": "what a model's labels and layers know about phones (PNMI, "
    "purity, a linear probe)",
    "birq_fairseq.label_quality.compare": "label_quality reports side by side",
    "birq_fairseq.label_quality.quantizer_variants": "how phonetic other anchor / enhanced "
    "quantizer inputs would make one model's labels (no training)",
    "birq_fairseq.results_table": "the WERs of fairseq-generate runs as one Markdown table",
}
# These load checkpoints.
NEEDS_FAIRSEQ = frozenset({"birq_fairseq.export_features", "birq_fairseq.label_quality",
                           "birq_fairseq.label_quality.quantizer_variants"})


def tool_parser(module: str, doc: str | None, **kwargs) -> argparse.ArgumentParser:
    """The parser of ``python -m MODULE``, described by the first paragraph of the module
    docstring ``doc``; ``kwargs`` go to ``argparse.ArgumentParser``."""
    description = (doc or "").split("\n\n")[0].strip()
    return argparse.ArgumentParser(prog=f"python -m {module}", description=description, **kwargs)


def main() -> int:
    width = max(len(module) for module in TOOLS)
    print("birq-fairseq command-line tools (python -m MODULE --help for each):")
    for module, purpose in TOOLS.items():
        print(f"  {module:<{width}}  {purpose}")
    print("training and decoding: fairseq-hydra-train, fairseq-generate --user-dir birq_fairseq")
    return 0
