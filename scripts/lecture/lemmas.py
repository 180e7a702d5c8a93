"""Claim e: the lecture's two-layer lemmas hold, each checked against finite differences.

Prints the table of errors; writes e_lemmas.json/.png.

    python scripts/lecture/lemmas.py --out DIR [--quick] [--seed S] [--no-plot]

A thin wrapper over fastbp.lecture.lemmas (same as ``fastbp lecture --only e``).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.lecture import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(only="lemmas"))
