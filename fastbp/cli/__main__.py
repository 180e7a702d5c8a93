"""``python -m fastbp.cli ...``: the same as the ``fastbp`` command."""

import sys

from fastbp.cli import main

if __name__ == "__main__":
    sys.exit(main())
