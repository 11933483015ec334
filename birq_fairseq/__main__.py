"""``python -m birq_fairseq``: the list of the package's command-line tools."""

import sys

from birq_fairseq.tools import main

sys.exit(main())
