"""Streaming with the estimators: ``partial_fit`` of fastbp.sklearn beside scikit-learn's.

The workload of ``scripts/bench_streaming.py`` (digits, standardised, blocks of 300 rows,
``hidden_layer_sizes=(64,)``, adam): the steady-state call, a pickle round trip then one call,
and the first call of a fresh process.  ``track_*`` report scikit-learn's time over fastbp's,
timed back to back (above 1: fastbp is faster).  Skipped where scikit-learn is not installed.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np

from .common import median_ratio

BLOCK = 300


def _setup():
    try:
        from sklearn.datasets import load_digits
        from sklearn.neural_network import MLPClassifier as SkMLPClassifier

        from fastbp.sklearn import MLPClassifier
    except ImportError:
        raise NotImplementedError("scikit-learn is not installed") from None
    X, y = load_digits(return_X_y=True)
    X = np.ascontiguousarray((X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12))
    blocks = [(X[i : i + BLOCK], y[i : i + BLOCK]) for i in range(0, 5 * BLOCK, BLOCK)]
    ests = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, cls in (("fastbp", MLPClassifier), ("sklearn", SkMLPClassifier)):
            est = cls(hidden_layer_sizes=(64,), random_state=0)
            est.partial_fit(*blocks[0], classes=np.unique(y))
            for k in range(3):
                est.partial_fit(*blocks[k % 5])
            ests[name] = est
    return blocks, ests


class PartialFit:
    """One ``partial_fit`` call on 300 rows, and a pickle round trip followed by one call."""

    params = (["fastbp", "sklearn"],)
    param_names = ["library"]

    def setup(self, library: str) -> None:
        self.blocks, ests = _setup()
        self.est = ests[library]
        self.k = 0

    def time_partial_fit(self, library: str) -> None:
        self.k += 1
        self.est.partial_fit(*self.blocks[self.k % 5])

    def time_pickle_then_partial_fit(self, library: str) -> None:
        other = pickle.loads(pickle.dumps(self.est))
        other.partial_fit(*self.blocks[0])


class PartialFitRatio:
    """scikit-learn's time over fastbp's, timed back to back (above 1: fastbp is faster)."""

    def setup(self) -> None:
        self.blocks, self.ests = _setup()

    def track_partial_fit_sklearn_over_fastbp(self) -> float:
        fb, sk = self.ests["fastbp"], self.ests["sklearn"]
        return median_ratio(lambda: sk.partial_fit(*self.blocks[1]),
                            lambda: fb.partial_fit(*self.blocks[1]))  # fmt: skip

    def track_pickle_then_partial_fit_sklearn_over_fastbp(self) -> float:
        fb, sk = self.ests["fastbp"], self.ests["sklearn"]

        def round_trip(est):
            return lambda: pickle.loads(pickle.dumps(est)).partial_fit(*self.blocks[1])

        return median_ratio(round_trip(sk), round_trip(fb))

    track_partial_fit_sklearn_over_fastbp.unit = "ratio"  # type: ignore[attr-defined]
    track_pickle_then_partial_fit_sklearn_over_fastbp.unit = "ratio"  # type: ignore[attr-defined]


FRESH = """
import numpy as np
from sklearn.datasets import load_digits
from fastbp.sklearn import MLPClassifier
X, y = load_digits(return_X_y=True)
X = np.ascontiguousarray((X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12))
est = MLPClassifier(hidden_layer_sizes=(64,), random_state=0)
"""


FIRST = "est.partial_fit(X[:300], y[:300], classes=np.unique(y))\n"


def timeraw_import_and_first_partial_fit():
    """Import, data and the first ``partial_fit`` of a fresh process (kernels cached after the
    first run)."""
    return FRESH + FIRST


class FirstCall:
    """The first ``partial_fit`` of a fresh process alone (import and data in the setup)."""

    def timeraw_first_partial_fit(self):
        return FIRST, FRESH
