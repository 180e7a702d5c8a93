"""Claim b: a Hessian-vector product by the R-operator also costs O(N).

Times the loss, the gradient and net.hvp on the sweeps of claim a; writes b_hvp_cost.json/.png.

    python scripts/lecture/hvp_cost.py --out DIR [--quick] [--seed S] [--no-plot]

A thin wrapper over fastbp.lecture.hvp_cost (same as ``fastbp lecture --only b``).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.lecture import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(only="hvp_cost"))
