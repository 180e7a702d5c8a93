"""Claim d: gradients vanish through sigmoid chains (σ' ≤ ¼); much less with ReLU.

Per-layer gradient norms at initialisation for 2..20 hidden layers; writes d_vanishing.json/.png.

    python scripts/lecture/vanishing.py --out DIR [--quick] [--seed S] [--no-plot]

A thin wrapper: runs ``fastbp lecture --only d`` (fastbp.lecture.vanishing) through
``fastbp.cli.main`` with the arguments given.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["lecture", *sys.argv[1:], "--only", "vanishing"]))
