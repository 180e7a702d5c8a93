"""Claim e: the lecture's two-layer lemmas hold, each checked against finite differences.

Prints the table of errors; writes e_lemmas.json/.png.

    python scripts/lecture/lemmas.py --out DIR [--quick] [--seed S] [--no-plot]

A thin wrapper: runs ``fastbp lecture --only e`` (fastbp.lecture.lemmas) through
``fastbp.cli.main`` with the arguments given.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["lecture", *sys.argv[1:], "--only", "lemmas"]))
