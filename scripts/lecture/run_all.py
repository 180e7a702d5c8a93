"""Run every experiment of the backprop lecture (claims a-f of fastbp.lecture).

    python scripts/lecture/run_all.py --out docs/lecture [--quick] [--only c,e] [--no-plot]

Same as ``fastbp lecture --out DIR``: each experiment writes <letter>_<name>.json and .png and
prints a one-line verdict; the exit status is 1 if a claim did not hold.  circuit_theorem.py,
beside this file, is separate (it measures fastbp.circuit) and is run on its own.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from fastbp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["lecture", *sys.argv[1:]]))
