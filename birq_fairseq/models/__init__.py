"""Models registered with fairseq."""

from .birq import BirqConfig, BirqModel  # noqa: F401
