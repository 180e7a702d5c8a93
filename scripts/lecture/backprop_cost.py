"""Claim a: backprop computes the whole gradient in O(N); central finite differences need O(N·l).

Times the loss, the backprop gradient and central differences over all N parameters for ReLU
networks of growing width and growing depth; writes a_backprop_cost.json/.png.

    python scripts/lecture/backprop_cost.py --out DIR [--quick] [--seed S] [--no-plot]

A thin wrapper: runs ``fastbp lecture --only a`` (fastbp.lecture.backprop_cost) through
``fastbp.cli.main`` with the arguments given.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["lecture", *sys.argv[1:], "--only", "backprop_cost"]))
