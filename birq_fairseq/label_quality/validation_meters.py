"""Label quality in fairseq's validation log: PNMI and purities are not averages of
per-batch values, so the (phone, label) count tables are summed over the split in a
hidden (``_``-prefixed) sum meter and the measures derived from the sum.

The tables are kept as CPU float64 tensors in fairseq's own ``SumMeter``: fairseq saves
validation meters in checkpoints and rebuilds them by class name, and loads checkpoints
with ``weights_only``, which takes tensors but not numpy arrays or unknown classes.
"""

import torch
from fairseq import metrics

from .metrics import scores_from_table

# label kind -> what it is: "enhanced" is the nearest enhanced code, "gumbel" the pick.
LABEL_KINDS = ("anchor", "enhanced", "gumbel")
MEASURES = ("pnmi", "phone_purity", "cluster_purity")
TABLE_KEY = "phone_table_{}"
ROUND = 4


def _derived(kind: str, measure: str):
    def value(meters) -> float:
        table = meters[f"_{TABLE_KEY.format(kind)}"].sum
        return round(getattr(scores_from_table(table.numpy()), measure), ROUND)

    return value


def log_label_quality(logging_outputs: list[dict]) -> None:
    """Logs ``{pnmi,phone_purity,cluster_purity}_{anchor,enhanced,gumbel}`` for the label
    kinds whose tables are in ``logging_outputs`` (one host copy per validation batch)."""
    for kind in LABEL_KINDS:
        key = TABLE_KEY.format(kind)
        tables = [torch.as_tensor(log[key]) for log in logging_outputs if key in log]
        if not tables:
            continue
        metrics.log_scalar_sum(f"_{key}", torch.stack(tables).sum(0).double().cpu())
        for measure in MEASURES:
            metrics.log_derived(f"{measure}_{kind}", _derived(kind, measure))
