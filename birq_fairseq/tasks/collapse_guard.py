"""Warns (or stops) when the labels of a codebook collapse onto a few codes.

A collapsed quantizer gives the model an easy target and silently wastes the run: the
accuracy climbs towards 1 while the number of distinct codes used falls. The guard reads
the criterion's per-batch statistics every ``interval`` updates (one host sync then, none
in between).
"""

import logging

from fairseq import utils

logger = logging.getLogger(__name__)

CODEBOOKS = ("anchor", "enhanced")


class CodebookCollapseError(RuntimeError):
    """Raised when ``task.collapse_stop`` is set and a codebook collapsed."""


class CollapseGuard:
    def __init__(self, interval: int, min_code_fraction: float, min_perplexity: float,
                 stop: bool, max_enhanced_top_share: float = 1.0):
        self.interval = interval
        self.min_code_fraction = min_code_fraction
        self.min_perplexity = min_perplexity
        self.stop = stop
        self.max_enhanced_top_share = max_enhanced_top_share

    def due(self, update_num: int) -> bool:
        return self.interval > 0 and update_num % self.interval == 0

    def findings(self, logging_output: dict, codebook_sizes: dict[str, int]) -> list[str]:
        """What looks collapsed in one batch's logging output of the ``birq`` criterion."""
        masked = utils.item(logging_output["sample_size"])
        found = []
        for name in CODEBOOKS:
            if f"{name}_codes_used" not in logging_output:
                continue
            used = utils.item(logging_output[f"{name}_codes_used"])
            perplexity = utils.item(logging_output[f"{name}_ppl"])
            capacity = min(masked, codebook_sizes[name])
            if masked and used < self.min_code_fraction * capacity:
                found.append(
                    f"{name} labels use {used:.0f} distinct codes for {masked} masked frames "
                    f"(below task.collapse_min_code_fraction={self.min_code_fraction} of "
                    f"{capacity})"
                )
            if masked and perplexity < self.min_perplexity:
                found.append(
                    f"{name} label perplexity {perplexity:.2f} is below "
                    f"task.collapse_min_perplexity={self.min_perplexity}"
                )
            # The two floors above scale with the masked frames of one batch, which a small
            # batch keeps low (~250 frames on the study's 30 s batches: 13 codes pass). The
            # enhanced labels' top share does not; the anchors' is the input's share of
            # silence, which no training changes, so it is not checked.
            top_share = logging_output.get(f"{name}_top_share")
            if (name == "enhanced" and masked and top_share is not None
                    and utils.item(top_share) > self.max_enhanced_top_share):
                found.append(
                    f"{name} labels put {utils.item(top_share):.2f} of the masked frames on "
                    f"one code (above task.collapse_max_enhanced_top_share="
                    f"{self.max_enhanced_top_share})"
                )
        return found

    def check(self, logging_output: dict, codebook_sizes: dict[str, int], update_num: int):
        found = self.findings(logging_output, codebook_sizes)
        if not found:
            return
        message = (
            f"codebook collapse at update {update_num}: " + "; ".join(found) + ". Check the "
            "feature normalisation, enhanced_logit_scale and enhanced_projection_norm, or "
            "lower the learning rate."
        )
        if self.stop:
            raise CodebookCollapseError(message + " (stopping: task.collapse_stop=true)")
        logger.warning(message)
