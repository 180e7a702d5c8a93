"""Claim b: a Hessian-vector product by the R-operator also costs O(N).

Times the loss, the gradient and net.hvp on the sweeps of claim a; writes b_hvp_cost.json/.png.

    python scripts/lecture/hvp_cost.py --out DIR [--quick] [--seed S] [--no-plot]

A thin wrapper: runs ``fastbp lecture --only b`` (fastbp.lecture.hvp_cost) through
``fastbp.cli.main`` with the arguments given.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["lecture", *sys.argv[1:], "--only", "hvp_cost"]))
