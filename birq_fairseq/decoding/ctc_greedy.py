"""Greedy (best path) CTC decoding in the form ``fairseq-generate`` expects."""

import torch
from fairseq.data import Dictionary
from torch import Tensor


def ctc_log_probs(models, sample) -> tuple[Tensor, Tensor]:
    """Runs the (first) CTC model: returns log-probabilities (B, T, V) in float32 and the
    number of valid frames per utterance (B,). Padded frames never count."""
    model = models[0]
    net_input = {k: v for k, v in sample["net_input"].items() if k != "prev_output_tokens"}
    net_output = model(**net_input)
    log_probs = model.get_normalized_probs(net_output, log_probs=True).transpose(0, 1).float()
    batch, frames, _ = log_probs.shape
    padding = net_output.get("padding_mask")
    if padding is None:
        lengths = torch.full((batch,), frames, device=log_probs.device)
    else:
        lengths = (~padding).sum(dim=1)
    return log_probs, lengths


class CtcGreedyDecoder:
    """Picks the most likely label per frame. ``generate`` returns, per utterance, one
    hypothesis with ``tokens``, ``score`` (sum of the picked frames' log-probabilities),
    ``positional_scores`` (the log-probability of the frame that emitted each token) and
    no alignment."""

    def __init__(self, tgt_dict: Dictionary):
        self.tgt_dict = tgt_dict
        self.blank = tgt_dict.bos()  # fairseq's CTC blank: index 0, "<s>"
        self.symbols_to_strip_from_output = {tgt_dict.bos(), tgt_dict.eos(), tgt_dict.pad()}

    @torch.no_grad()
    def generate(self, models, sample, **unused):
        log_probs, lengths = ctc_log_probs(models, sample)
        best_scores, best = log_probs.max(dim=-1)
        frames = best.size(1)
        valid = torch.arange(frames, device=best.device)[None, :] < lengths[:, None]
        scores = (best_scores * valid).sum(dim=1).tolist()
        previous = torch.nn.functional.pad(best[:, :-1], (1, 0), value=-1)
        emitted = valid & (best != previous) & (best != self.blank)
        counts = emitted.sum(dim=1).tolist()
        tokens = best[emitted].cpu().split(counts)
        token_scores = best_scores[emitted].cpu().split(counts)
        return [
            [{"tokens": t, "score": s, "alignment": None, "positional_scores": p}]
            for t, s, p in zip(tokens, scores, token_scores)
        ]
