"""Claim f: per-example SGD as written, on the diabetes data, with a diverging rate.

Loss curves for several rates; the diverging one is stopped and its last good epoch restored;
writes f_sgd.json/.png.

    python scripts/lecture/sgd.py --out DIR [--quick] [--seed S] [--no-plot]

A thin wrapper: runs ``fastbp lecture --only f`` (fastbp.lecture.sgd) through
``fastbp.cli.main`` with the arguments given.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["lecture", *sys.argv[1:], "--only", "sgd"]))
