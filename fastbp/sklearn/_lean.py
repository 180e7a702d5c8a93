"""The steady state of ``partial_fit``: what a repeat call may skip, and the checks it keeps.

A streaming loop calls ``partial_fit`` thousands of times with the same settings, the same
features and the same classes.  The first call (and any call after the settings, the network or
the optimizer changed) takes the full path: scikit-learn's parameter and data validation, the
label binarizer, a new :class:`~fastbp.sklearn._epochs.EpochRunner`.  A repeat call whose
arguments are plain arrays skips what cannot have changed and checks the rest itself:

* the settings: one tuple of the constructor parameters' values (:func:`settings_key`), compared
  with the one the last full call validated, instead of every parameter check;
* the rows: a 2-D float32/float64 ndarray with ``n_features_in_`` columns and only finite
  values (one vectorised pass), converted to the network's dtype and C order as the full path
  does; anything else (lists, DataFrames, sparse matrices, NaN, another width) goes to the full
  path, which raises scikit-learn's error or converts as scikit-learn does;
* the targets: labels found in ``classes_`` by a binary search (one-hot rows from an identity
  matrix kept for the purpose) or finite float values of the right shape;
* the runner: kept between calls (:attr:`LeanState.runner`), with its direct kernel entries,
  gather buffers and snapshot arrays, as long as the network and its optimizer are the same
  objects.

Whatever the lean path accepts, the full path would accept with the same arrays, and the epoch
that follows is the same code (``_fit_epochs``), so both give the same weights to the bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastbp.sklearn._epochs import EpochRunner

#: Parameter names per estimator class, in signature order (``_get_param_names`` inspects the
#: signature on every call).
_PARAM_NAMES: dict[type, tuple[str, ...]] = {}


def _frozen(value: Any) -> Any:
    """A value that compares by content and cannot change under the key's feet."""
    if type(value) is list:
        return ("list", *(_frozen(v) for v in value))
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    return value


def settings_key(estimator: Any) -> tuple:
    """The values of the estimator's constructor parameters, as one comparable tuple.

    Parameters
    ----------
    estimator : fastbp.sklearn.MLPClassifier or MLPRegressor
        The estimator.

    Returns
    -------
    tuple
        ``(value, ...)`` in the signature's order; lists and arrays are frozen to tuples.
    """
    cls = type(estimator)
    names = _PARAM_NAMES.get(cls)
    if names is None:
        names = _PARAM_NAMES[cls] = tuple(cls._get_param_names())
    return tuple(_frozen(getattr(estimator, name)) for name in names)


def same_settings(a: tuple | None, b: tuple) -> bool:
    """Whether two :func:`settings_key` tuples are equal (False when they cannot be compared)."""
    if a is None:
        return False
    try:
        return bool(a == b)
    except Exception:  # an object whose == is not a plain bool: take the full path
        return False


class SeededShuffles:
    """Stands in for ``check_random_state(seed)`` in a lean call, for an integer seed.

    Each ``partial_fit`` call makes a fresh ``RandomState(seed)`` (about 0.1 ms) and shuffles
    ``arange(n)`` with it once, so every call on n rows draws the same permutation.  This
    object draws it once per n, exactly so, and hands out copies.

    Parameters
    ----------
    seed : int
        The estimator's ``random_state``.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.perms: dict[int, np.ndarray] = {}

    def shuffle(self, x: np.ndarray) -> None:
        """Shuffle ``x`` = ``arange(n)`` in place as ``RandomState(seed).shuffle`` would."""
        n = x.shape[0]
        perm = self.perms.get(n)
        if perm is None:
            perm = np.arange(n)
            np.random.RandomState(self.seed).shuffle(perm)
            self.perms[n] = perm
        x[...] = perm


@dataclass
class LeanState:
    """What a repeat ``partial_fit`` reuses from the last full call.

    Attributes
    ----------
    settings : tuple
        The :func:`settings_key` the full call validated.
    runner : EpochRunner or None
        The epoch runner of the last call (direct kernel entries, buffers, snapshots), or None
        until one is made.
    eye : numpy.ndarray or None
        The (K, K) identity of the network's dtype: one-hot rows for K classes.
    shuffles : SeededShuffles or None
        The permutations of an integer ``random_state``, made on first use.
    """

    settings: tuple
    runner: EpochRunner | None = None
    eye: np.ndarray | None = field(default=None, repr=False)
    shuffles: SeededShuffles | None = field(default=None, repr=False)

    def random_state(self, seed: Any) -> Any:
        """What ``_fit_epochs`` shuffles with: :class:`SeededShuffles` for an integer seed,
        else ``check_random_state(seed)`` (None: numpy's global state; an instance: itself)."""
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            shuffles = self.shuffles
            if shuffles is None or shuffles.seed != seed:
                shuffles = self.shuffles = SeededShuffles(int(seed))
            return shuffles
        from sklearn.utils import check_random_state

        return check_random_state(seed)


def dense_rows(X: Any, n_features: int, dtype: np.dtype, params: np.ndarray) -> np.ndarray | None:
    """X as the full path would pass it to the epoch runner, or None to take the full path.

    Parameters
    ----------
    X : object
        The caller's rows, unchecked.
    n_features : int
        ``n_features_in_``.
    dtype : numpy.dtype
        The network's dtype.
    params : numpy.ndarray
        The network's parameters (rows sharing their memory take the full path, which copies).

    Returns
    -------
    numpy.ndarray or None
        A C-contiguous (n, n_features) array of ``dtype`` with only finite values.
    """
    if type(X) is not np.ndarray or X.ndim != 2 or X.shape[1] != n_features or X.shape[0] < 1:
        return None
    if X.dtype != np.float64 and X.dtype != np.float32:
        return None
    if not np.isfinite(X).all() or np.may_share_memory(X, params):
        return None
    return np.ascontiguousarray(X, dtype=dtype)


def class_targets(
    y: Any, n: int, classes: np.ndarray, y_type: str, state: LeanState, dtype: np.dtype
) -> np.ndarray | None:
    """Dense targets for labels y, as the full path's label binarizer makes them, or None.

    Parameters
    ----------
    y : object
        The caller's labels, unchecked.
    n : int
        The number of rows.
    classes : numpy.ndarray
        ``classes_`` (sorted, unique).
    y_type : str
        The label binarizer's ``y_type_``; only ``"binary"`` and ``"multiclass"`` are handled.
    state : LeanState
        Holds the identity matrix the one-hot rows are taken from.
    dtype : numpy.dtype
        The network's dtype.

    Returns
    -------
    numpy.ndarray or None
        (n, 1) for binary labels (1 for ``classes[1]``), (n, K) one-hot rows for multiclass; None
        for anything else (unknown labels, other kinds of labels, another shape).
    """
    if type(y) is not np.ndarray or y.ndim != 1 or y.shape[0] != n:
        return None
    k = classes.shape[0]
    if k < 2 or y.dtype.kind not in "iu" or classes.dtype.kind not in "iu":
        return None
    idx = np.searchsorted(classes, y)
    if idx.max() >= k or not np.array_equal(classes[idx], y):
        return None  # a label not in classes_: the full path raises scikit-learn's error
    if y_type == "binary" and k == 2:
        return (idx == 1).astype(dtype).reshape(n, 1)
    if y_type != "multiclass":
        return None
    eye = state.eye
    if eye is None or eye.shape[0] != k or eye.dtype != dtype:
        eye = state.eye = np.eye(k, dtype=dtype)
    return eye[idx]


def value_targets(y: Any, n: int, n_outputs: int, dtype: np.dtype,
                  nonnegative: bool) -> np.ndarray | None:  # fmt: skip
    """Dense (n, n_outputs) regression targets, or None to take the full path.

    Parameters
    ----------
    y : object
        The caller's targets, unchecked.
    n : int
        The number of rows.
    n_outputs : int
        ``n_outputs_``.
    dtype : numpy.dtype
        The network's dtype.
    nonnegative : bool
        Whether the loss needs y ≥ 0 (Poisson).

    Returns
    -------
    numpy.ndarray or None
        The targets, finite, converted through float64 as the full path converts them.
    """
    if type(y) is not np.ndarray or y.dtype.kind != "f" or y.shape[0] != n:
        return None
    if not ((y.ndim == 1 and n_outputs == 1) or (y.ndim == 2 and y.shape[1] == n_outputs > 1)):
        return None  # an (n, 1) column: the full path warns (DataConversionWarning)
    if not np.isfinite(y).all() or (nonnegative and (y < 0).any()):
        return None
    Y = np.array(y, dtype=np.float64).astype(dtype, copy=False)  # a copy: C order, writeable
    return Y.reshape(n, n_outputs)
