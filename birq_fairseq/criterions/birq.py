"""The ``birq`` criterion: the first-order bilevel loss ``w1 * F + w2 * G`` and its health
metrics.

``G`` is the cross entropy of the anchor head against the frozen quantizer's labels and
``F`` the cross entropy of the enhanced head against the Gumbel-selected labels (whose
gradient reaches layers 1..k), both summed over masked frames; losses are in nats per
masked frame. The weights are the model's ``enhanced_weight`` (w1) and ``anchor_weight``
(w2) because w1 = 0 also removes the enhanced branch from the model.
"""

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from fairseq import metrics, utils
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass
from omegaconf import II
from torch import Tensor

from ..modules.enhanced_targets import effective_rank


@dataclass
class BirqCriterionConfig(FairseqDataclass):
    enhanced_weight: float = II("model.enhanced_weight")
    anchor_weight: float = II("model.anchor_weight")
    enhanced_centred_target_gradient: bool = II("model.enhanced_centred_target_gradient")
    enhanced_diversity_weight: float = II("model.enhanced_diversity_weight")


class CodeUsage(NamedTuple):
    used: Tensor
    perplexity: Tensor
    top_share: Tensor


def code_usage(targets: Tensor, num_codes: int) -> CodeUsage:
    """Distinct codes used, perplexity of the code distribution and the share of frames that
    carry the batch's most frequent code, averaged over codebooks.

    ``targets`` (M, G) code indices. All are per-batch statistics: a collapsing quantizer
    shows as few codes and a perplexity near 1, and an accuracy is worth only what it gains
    over the top share (what always predicting the most frequent code scores).
    """
    groups = targets.size(1)
    offsets = torch.arange(groups, device=targets.device) * num_codes
    counts = torch.bincount((targets + offsets).reshape(-1), minlength=groups * num_codes)
    counts = counts.view(groups, num_codes).float()
    used = (counts > 0).sum(dim=1).float().mean()
    probs = counts / counts.sum(dim=1, keepdim=True).clamp(min=1.0)
    entropy = -torch.special.xlogy(probs, probs).sum(dim=1)
    return CodeUsage(used, entropy.exp().mean(), probs.max(dim=1).values.mean())


def enhanced_cross_entropy(targets: Tensor, log_probs: Tensor, centred: bool) -> Tensor:
    """F = -sum(targets * log_probs) over masked frames (M, N). With ``centred`` the value
    and the gradient into ``log_probs`` stay the same, while the gradient into the targets
    becomes minus the log-probs centred over the M frames per code (a zero-valued term
    carries it: targets minus their detached copy)."""
    if not centred or not targets.requires_grad:
        return -(targets * log_probs).sum()
    fixed = targets.detach()
    centred_log_probs = (log_probs - log_probs.mean(dim=0, keepdim=True)).detach()
    return -(fixed * log_probs).sum() - ((targets - fixed) * centred_log_probs).sum()


def diversity_penalty(mean_probs: Tensor) -> tuple[Tensor, Tensor]:
    """wav2vec 2.0's diversity loss for one codebook: (N - exp(H(p))) / N of the batch's
    average soft code distribution ``mean_probs`` (N,), 0 when every code is equally used
    and (N - 1) / N when one code takes all; returned with the perplexity exp(H(p))."""
    perplexity = torch.exp(-torch.special.xlogy(mean_probs, mean_probs).sum())
    codes = mean_probs.numel()
    return (codes - perplexity) / codes, perplexity


@register_criterion("birq", dataclass=BirqCriterionConfig)
class BirqCriterion(FairseqCriterion):
    def __init__(self, task, enhanced_weight: float, anchor_weight: float,
                 enhanced_centred_target_gradient: bool = False,
                 enhanced_diversity_weight: float = 0.0):
        super().__init__(task)
        self.enhanced_weight = enhanced_weight
        self.anchor_weight = anchor_weight
        self.centred_target_gradient = enhanced_centred_target_gradient
        self.diversity_weight = enhanced_diversity_weight

    def forward(self, model, sample, reduce=True):
        net_output = model(**sample["net_input"])
        anchor_logits = net_output["anchor_logits"]
        anchor_targets = net_output["anchor_targets"]
        num_masked, num_codebooks, num_codes = anchor_logits.shape
        anchor_loss = F.cross_entropy(
            anchor_logits.reshape(-1, num_codes).float(),
            anchor_targets.reshape(-1),
            reduction="sum",
        ) / num_codebooks
        loss = self.anchor_weight * anchor_loss
        anchor_usage = code_usage(anchor_targets, num_codes)
        logging_output = {
            "loss_anchor": anchor_loss.detach(),
            "correct_anchor": (anchor_logits.argmax(-1) == anchor_targets).sum() / num_codebooks,
            "anchor_codes_used": anchor_usage.used,
            "anchor_ppl": anchor_usage.perplexity,
            "anchor_top_share": anchor_usage.top_share,
        }
        has_enhanced = "enhanced_logits" in net_output
        if self.enhanced_weight > 0 and not has_enhanced:
            raise ValueError(
                f"criterion.enhanced_weight={self.enhanced_weight} but the model was built "
                "with model.enhanced_weight=0 (no enhanced branch); set both the same"
            )
        if has_enhanced and "enhanced_targets" not in net_output:
            # w1's warm-up, where the model built no labels: F weighs 0, and the head's
            # zero-weighted logits give data-parallel training a gradient for every parameter.
            loss = loss + 0.0 * net_output["enhanced_logits"].float().sum()
            logging_output["enhanced_weight_now"] = 0.0
        elif has_enhanced:
            enhanced_logits = net_output["enhanced_logits"].float()
            enhanced_targets = net_output["enhanced_targets"]
            picks = net_output["enhanced_picks"]
            log_probs = F.log_softmax(enhanced_logits, dim=-1)
            enhanced_loss = enhanced_cross_entropy(enhanced_targets, log_probs,
                                                   self.centred_target_gradient)
            weight_scale = net_output.get("enhanced_weight_scale", 1.0)
            weight = self.enhanced_weight * weight_scale
            loss = loss + weight * enhanced_loss
            diversity, soft_perplexity = diversity_penalty(net_output["enhanced_mean_probs"])
            if self.diversity_weight > 0:
                # Summed over frames like F and G, and off during w1's warm-up as F is.
                loss = loss + self.diversity_weight * weight_scale * num_masked * diversity
            enhanced_usage = code_usage(picks.unsqueeze(1), enhanced_logits.size(1))
            logging_output.update(
                loss_enhanced=enhanced_loss.detach(),
                correct_enhanced=(enhanced_logits.argmax(-1) == picks).sum(),
                enhanced_codes_used=enhanced_usage.used,
                enhanced_ppl=enhanced_usage.perplexity,
                enhanced_top_share=enhanced_usage.top_share,
                enhanced_rank=effective_rank(net_output["enhanced_projections"]),
                gumbel_nearest=(picks == net_output["enhanced_nearest"]).sum(),
                enhanced_weight_now=weight,
                enhanced_soft_ppl=soft_perplexity.detach(),
                loss_diversity=diversity.detach(),
            )
        logging_output.update(
            loss=loss.detach(),
            sample_size=num_masked,
            ntokens=num_masked,
            nsentences=sample["net_input"]["source"].size(0),
            num_frames=net_output["num_frames"],
            num_batches=1,
        )
        return loss, num_masked, logging_output

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        def total(key):
            return utils.item(sum(log.get(key, 0) for log in logging_outputs))

        sample_size = total("sample_size")
        batches = max(total("num_batches"), 1)
        masked = max(sample_size, 1)
        metrics.log_scalar("loss", total("loss") / masked, sample_size, round=3)
        metrics.log_scalar("loss_anchor", total("loss_anchor") / masked, sample_size, round=3)
        metrics.log_scalar("acc_anchor", total("correct_anchor") / masked, sample_size, round=4)
        metrics.log_scalar("anchor_codes_used", total("anchor_codes_used") / batches, round=1)
        metrics.log_scalar("anchor_ppl", total("anchor_ppl") / batches, round=1)
        metrics.log_scalar("anchor_top_share", total("anchor_top_share") / batches, round=3)
        metrics.log_scalar(
            "mask_fraction", sample_size / max(total("num_frames"), 1), round=3
        )
        if any("enhanced_weight_now" in log for log in logging_outputs):
            metrics.log_scalar("w1", total("enhanced_weight_now") / batches, round=4)
        if any("loss_enhanced" in log for log in logging_outputs):
            metrics.log_scalar(
                "loss_enhanced", total("loss_enhanced") / masked, sample_size, round=3
            )
            metrics.log_scalar(
                "acc_enhanced", total("correct_enhanced") / masked, sample_size, round=4
            )
            metrics.log_scalar(
                "enhanced_codes_used", total("enhanced_codes_used") / batches, round=1
            )
            metrics.log_scalar("enhanced_ppl", total("enhanced_ppl") / batches, round=1)
            metrics.log_scalar(
                "enhanced_top_share", total("enhanced_top_share") / batches, round=3
            )
            metrics.log_scalar("enhanced_rank", total("enhanced_rank") / batches, round=2)
            metrics.log_scalar("enhanced_soft_ppl", total("enhanced_soft_ppl") / batches, round=1)
            metrics.log_scalar("loss_diversity", total("loss_diversity") / batches, round=4)
            metrics.log_scalar(
                "gumbel_nearest", total("gumbel_nearest") / masked, sample_size, round=3
            )

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
