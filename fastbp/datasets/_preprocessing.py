"""Seeded train/test splits and per-column standardisation, with numpy only."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastbp.validate import check_seed


def train_test_split(
    X: np.ndarray,
    y: np.ndarray,
    test_fraction: float = 0.2,
    seed: int | np.random.Generator | None = 0,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the rows of X and y at random into a training part and a test part.

    The test part gets ``round(test_fraction * n)`` rows (halves round up) and the training part
    the rest; both must be non-empty. Rows are chosen by a permutation from
    ``np.random.default_rng(seed)``, so the same seed gives the same split; each part comes back
    in permuted order, as new C-contiguous arrays.

    With ``stratify=True`` y must hold class labels (integers, or floats that are whole numbers)
    and each class is split on its own: class c with n_c rows puts either ⌊n_c·t/n⌋ or ⌈n_c·t/n⌉
    rows in the test part (t test rows in all; the classes with the largest remainders get the
    extra rows), so each part keeps the class proportions to within one example.

    Parameters
    ----------
    X : array_like
        (n, d) features.
    y : array_like
        (n,) or (n, k) targets.
    test_fraction : float
        Fraction of the rows in the test part, in (0, 1).
    seed : int, numpy.random.Generator or None
        Seed of the permutation.
    stratify : bool
        Split each class on its own, keeping the class proportions.

    Returns
    -------
    X_train, X_test, y_train, y_test : numpy.ndarray
        The two parts of X and of y.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("X and y must be arrays with one row per example")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"X has {n} rows but y has {y.shape[0]}; they must match")
    if (
        isinstance(test_fraction, (bool, np.bool_))
        or not isinstance(test_fraction, numbers.Real)
        or not 0 < test_fraction < 1
    ):
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    n_test = math.floor(float(test_fraction) * n + 0.5)
    if n_test == 0 or n_test == n:
        raise ValueError(
            f"test_fraction={test_fraction} of {n} rows leaves "
            f"{'no test' if n_test == 0 else 'no training'} rows; both parts must be non-empty"
        )
    if not isinstance(stratify, (bool, np.bool_)):
        raise ValueError(f"stratify must be True or False, got {stratify!r}")
    seed = check_seed(seed, "seed", allow_generator=True)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if stratify:
        test_idx, train_idx = _stratified_indices(y, n_test, rng)
    else:
        perm = rng.permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def _stratified_indices(
    y: np.ndarray, n_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if y.ndim != 1:
        raise ValueError(f"stratify=True needs 1-D class labels y, got shape {y.shape}")
    if y.dtype.kind not in "biuf" or (
        y.dtype.kind == "f" and not (np.isfinite(y).all() and np.all(y == np.floor(y)))
    ):
        raise ValueError(
            "stratify=True needs class labels: integers or whole-number floats (a regression "
            "target cannot be stratified)"
        )
    n = y.shape[0]
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    ideal = counts * (n_test / n)
    per_class = np.floor(ideal).astype(np.int64)
    # Largest remainders first; a random tie-break so that no class is favoured by its order.
    short = n_test - int(per_class.sum())
    order = np.lexsort((rng.random(counts.size), -(ideal - per_class)))
    per_class[order[:short]] += 1
    test_parts, train_parts = [], []
    for c in range(counts.size):
        members = rng.permutation(np.flatnonzero(inverse == c))
        test_parts.append(members[: per_class[c]])
        train_parts.append(members[per_class[c] :])
    test_idx = rng.permutation(np.concatenate(test_parts))
    train_idx = rng.permutation(np.concatenate(train_parts))
    return test_idx, train_idx


class Standardizer:
    """Per-column standardisation: ``(X − mean_) / scale_``.

    ``fit`` records each column's mean and standard deviation (population, ddof=0); a column
    whose values are all equal gets ``scale_ = 1``, so it maps to zeros instead of dividing by
    zero. A 1-D array (a target y) is treated as one column and comes back 1-D. ``mean_`` and
    ``scale_`` are float64; transforms return float32 for float32 input and float64 otherwise.

    Store a fitted standardizer next to a model with ``np.savez(path, **s.to_arrays())`` and
    restore it with ``Standardizer.from_arrays(np.load(path))``.
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self._running: dict[str, Any] | None = None

    @property
    def n_features(self) -> int | None:
        """Number of columns seen by ``fit`` (None before fitting)."""
        return None if self.mean_ is None else int(self.mean_.shape[0])

    def fit(self, X: np.ndarray) -> Standardizer:
        """Learn ``mean_`` and ``scale_`` from the rows of X (n ≥ 1, finite); returns self.

        Parameters
        ----------
        X : numpy.ndarray
            (n, d) rows, or (n,) for one column.

        Returns
        -------
        Standardizer
            self, fitted.

        Raises
        ------
        ValueError
            If X is not a finite numeric (n, d) or (n,) array with n ≥ 1.
        """
        self._running = None
        X2 = _as_2d(X, "X")
        lo, hi = X2.min(axis=0), X2.max(axis=0)
        X64 = X2.astype(np.float64, copy=False)
        mean = X64.mean(axis=0)
        scale = X64.std(axis=0)
        constant = lo == hi
        mean[constant] = X64[0, constant]  # exact, so constant columns map to exactly 0
        scale[constant | (scale == 0)] = 1.0
        self.mean_, self.scale_ = mean, scale
        return self

    def partial_fit(self, X: np.ndarray) -> Standardizer:
        """Update ``mean_`` and ``scale_`` with more rows; returns self.

        For data read in blocks (a memory map): after ``partial_fit`` on every block the result
        equals ``fit`` on all the rows up to rounding (blocks are merged with Chan's update of
        the mean and the sum of squared deviations, in float64).  Constant columns get
        ``scale_ = 1`` as in :meth:`fit`.


        Parameters
        ----------
        X : numpy.ndarray
            (n, d) more rows, or (n,) for one column.

        Returns
        -------
        Standardizer
            self, updated.

        Raises
        ------
        ValueError
            If X is not a finite numeric (n, d) or (n,) array with n ≥ 1.
            Or if the number of columns differs from earlier blocks.
        """
        X2 = _as_2d(X, "X")
        X64 = X2.astype(np.float64, copy=False)
        n_b, mean_b = X64.shape[0], X64.mean(axis=0)
        m2_b = ((X64 - mean_b) ** 2).sum(axis=0)
        lo, hi = X2.min(axis=0), X2.max(axis=0)
        state = getattr(self, "_running", None)
        if state is None or self.mean_ is None:
            state = {"n": 0, "mean": mean_b * 0, "m2": m2_b * 0, "lo": lo, "hi": hi,
                     "first": X64[0].copy()}  # fmt: skip
        elif state["mean"].shape != mean_b.shape:
            raise ValueError(
                f"X has {X2.shape[1]} column(s) but earlier blocks had {state['mean'].shape[0]}"
            )
        n_a = state["n"]
        n = n_a + n_b
        delta = mean_b - state["mean"]
        state["mean"] = state["mean"] + delta * (n_b / n)
        state["m2"] = state["m2"] + m2_b + delta**2 * (n_a * n_b / n)
        state["n"] = n
        state["lo"], state["hi"] = np.minimum(state["lo"], lo), np.maximum(state["hi"], hi)
        self._running = state
        mean, scale = state["mean"].copy(), np.sqrt(state["m2"] / n)
        constant = state["lo"] == state["hi"]
        mean[constant] = state["first"][constant]
        scale[constant | (scale == 0)] = 1.0
        self.mean_, self.scale_ = mean, scale
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``(X − mean_) / scale_`` as a new array of the same shape.

        Parameters
        ----------
        X : numpy.ndarray
            (n, d) or (n,).

        Returns
        -------
        numpy.ndarray
            The standardised rows: X's shape, float32 for float32 input, else float64.

        Raises
        ------
        ValueError
            If X is not a finite numeric array with the fitted number of columns.
        RuntimeError
            Before :meth:`fit`.
        """
        X2, ndim, dtype = self._checked(X)
        out = (X2 - self.mean_) / self.scale_
        return _restore(out, ndim, dtype)

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """``X · scale_ + mean_``: undoes :meth:`transform` (e.g. for predicted targets).

        Parameters
        ----------
        X : numpy.ndarray
            (n, d) or (n,) standardised values.

        Returns
        -------
        numpy.ndarray
            X in the original units, of X's shape.

        Raises
        ------
        ValueError
            If X is not a finite numeric array with the fitted number of columns.
        RuntimeError
            Before :meth:`fit`.
        """
        X2, ndim, dtype = self._checked(X)
        out = X2 * self.scale_ + self.mean_
        return _restore(out, ndim, dtype)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``.

        Parameters
        ----------
        X : numpy.ndarray
            (n, d) rows, or (n,) for one column.

        Returns
        -------
        numpy.ndarray
            The standardised rows.

        Raises
        ------
        ValueError
            If X is not a finite numeric (n, d) or (n,) array with n ≥ 1.
        """
        return self.fit(X).transform(X)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{"mean": mean_, "scale": scale_}`` (copies), ready for ``np.savez``.

        Returns
        -------
        dict of str to numpy.ndarray
            The float64 mean and scale, one entry per column.

        Raises
        ------
        RuntimeError
            Before :meth:`fit`.
        """
        mean, scale = self._fitted()
        return {"mean": mean.copy(), "scale": scale.copy()}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Standardizer:
        """Rebuild a fitted standardizer from :meth:`to_arrays` output (or an npz holding it).

        Parameters
        ----------
        arrays : mapping of str to numpy.ndarray
            With ``"mean"`` and ``"scale"``: equal-length 1-D finite arrays, scale > 0.

        Returns
        -------
        Standardizer
            Fitted with those values.

        Raises
        ------
        ValueError
            If the arrays are missing, of the wrong shape, non-finite or scale ≤ 0.
        """
        try:
            mean = np.asarray(arrays["mean"])
            scale = np.asarray(arrays["scale"])
        except (KeyError, TypeError):
            raise ValueError("arrays must hold 'mean' and 'scale' (see to_arrays)") from None
        for name, a in (("mean", mean), ("scale", scale)):
            if a.ndim != 1 or a.shape[0] == 0 or a.dtype.kind not in "iuf":
                raise ValueError(f"{name!r} must be a non-empty 1-D numeric array")
            if not np.isfinite(a).all():
                raise ValueError(f"{name!r} contains NaN or inf; it must be finite")
        if mean.shape != scale.shape:
            raise ValueError(
                f"'mean' has shape {mean.shape} but 'scale' has {scale.shape}; they must match"
            )
        if (scale <= 0).any():
            raise ValueError("'scale' must be positive")
        out = cls()
        out.mean_ = mean.astype(np.float64)
        out.scale_ = scale.astype(np.float64)
        return out

    def __repr__(self) -> str:
        if self.mean_ is None:
            return "Standardizer(not fitted)"
        return f"Standardizer(n_features={self.n_features})"

    def _require_fit(self) -> None:
        self._fitted()

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("this Standardizer is not fitted yet; call fit(X) first")
        return self.mean_, self.scale_

    def _checked(self, X: np.ndarray) -> tuple[np.ndarray, int, np.dtype]:
        self._require_fit()
        ndim = np.ndim(X)
        X2 = _as_2d(X, "X")
        if X2.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X2.shape[1]} column(s) but this Standardizer was fitted on "
                f"{self.n_features}; they must match"
            )
        dtype = X2.dtype if X2.dtype.name in ("float32", "float64") else np.dtype(np.float64)
        return X2, ndim, dtype


def _as_2d(X: object, name: str) -> np.ndarray:
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf; clean the data first")
    return arr


def _restore(out: np.ndarray, ndim: int, dtype: np.dtype) -> np.ndarray:
    out = np.ascontiguousarray(out, dtype=dtype)
    return out.reshape(-1) if ndim == 1 else out
