"""Decoders that ``fairseq-generate`` drives through the ``birq_ctc_eval`` task."""

from .ctc_beam import CtcBeamDecoder  # noqa: F401
from .ctc_greedy import CtcGreedyDecoder  # noqa: F401
