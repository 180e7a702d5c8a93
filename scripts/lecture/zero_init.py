"""Claim c: zero initialisation fails by symmetry; Xavier does not.

Trains one network from zeros and from Xavier (hidden units stay identical from zeros), and
compares the activation scale per layer of Xavier and N(0, 1) at depth 10; writes
c_zero_init.json/.png.

    python scripts/lecture/zero_init.py --out DIR [--quick] [--seed S] [--no-plot]

A thin wrapper: runs ``fastbp lecture --only c`` (fastbp.lecture.zero_init) through
``fastbp.cli.main`` with the arguments given.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["lecture", *sys.argv[1:], "--only", "zero_init"]))
