"""birq-fairseq: BiRQ and BEST-RQ self-supervised speech pretraining for fairseq.

Imported by fairseq as its user dir (``common.user_dir`` / ``--user-dir``), the package
registers the task ``birq_pretraining``, the model ``birq``, the criterion ``birq`` and the
evaluation task ``birq_ctc_eval`` (``birq_fairseq.plugin``). Imported before fairseq, as
under ``python -m birq_fairseq.TOOL``, it imports nothing heavy, so that the data tools
(``python -m birq_fairseq`` lists them) start in a fraction of a second and print only
their own output; a tool that needs fairseq imports ``birq_fairseq.plugin`` itself.
"""

import sys

if "fairseq" in sys.modules:
    from . import plugin  # noqa: F401
