"""W6: cold start in a fresh interpreter: import fastbp, build W1, one training step.

``timeraw_*`` benchmarks run their code in a new process.  The on-disk Numba cache is warm after
the first run; ``ColdCache`` points NUMBA_CACHE_DIR at an empty directory each time.
"""

from __future__ import annotations

CODE = """
import numpy as np
import fastbp
from fastbp.workloads import W1
net = W1.network("float64")
X, Y = W1.data("float64", n=8)
net.fit(X[:1], Y[:1], epochs=1, batch_size=1, lr=W1.lr, shuffle=False, progress=False)
"""


def timeraw_import_and_first_step_warm_cache():
    return CODE


class ColdCache:
    timeout = 300

    def timeraw_import_and_first_step_cold_cache(self):
        prefix = "import os, tempfile\nos.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp()\n"
        return prefix + CODE
