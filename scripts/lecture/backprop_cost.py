"""Claim a: backprop computes the whole gradient in O(N); central finite differences need O(N·l).

Times the loss, the backprop gradient and central differences over all N parameters for ReLU
networks of growing width and growing depth; writes a_backprop_cost.json/.png.

    python scripts/lecture/backprop_cost.py --out DIR [--quick] [--seed S] [--no-plot]

A thin wrapper over fastbp.lecture.backprop_cost (same as ``fastbp lecture --only a``).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.lecture import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(only="backprop_cost"))
