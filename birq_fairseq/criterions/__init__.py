"""Criteria registered with fairseq."""

from .birq import BirqCriterion, BirqCriterionConfig  # noqa: F401
