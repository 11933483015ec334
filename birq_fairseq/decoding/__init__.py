"""Decoders that ``fairseq-generate`` drives through the ``birq_ctc_eval`` task."""

from .ctc_greedy import CtcGreedyDecoder  # noqa: F401
