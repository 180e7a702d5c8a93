"""The :class:`Dataset` type and the assembly shared by every loader: dtype checks, the cast
with overflow check, and the classification/regression decision with its labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastbp.spec import DTYPES

TASKS = ("classification", "regression")

#: A target of whole numbers with at most this many distinct values is taken as class labels when
#: ``load_file`` is called with ``task=None``.
MAX_INFERRED_CLASSES = 50
#: An inferred classification with more classes than this is doubtful (the whole numbers may be
#: counts or scores): the dataset's ``task_note`` says so.
CONFIDENT_CLASSES = 10
#: An inferred classification with fewer rows than this per class, on average, is doubtful.
MIN_ROWS_PER_CLASS = 5
#: The override, named in every note and error of the inference.
OVERRIDE = "--task regression (task='regression' in Python)"


@dataclass(frozen=True, repr=False, eq=False)
class Dataset:
    """Features, targets and what they mean.

    The fields (also the constructor's parameters) cannot be reassigned; the arrays themselves
    are ordinary writeable arrays.  The constructor checks that they fit together.

    Parameters
    ----------
    X : numpy.ndarray
        (n, d) C-contiguous float32 or float64 features.
    y : numpy.ndarray
        ``task == "classification"``: (n,) int64 labels 0..K−1.
        ``task == "regression"``: (n,) targets of the same dtype as X.
    feature_names : tuple of str
        d names, one per column of X.
    target_names : tuple of str
        Classification: K names, ``target_names[k]`` is the class that label k stands for.
        Regression: one name, the target's.
    task : str
        ``"classification"`` or ``"regression"``.
    name : str
        Short name (``"digits"``, ``"diabetes"``, or the file's stem).
    description : str
        One paragraph: what the data is and where it comes from.
    task_note : str
        Empty, or, when the task was inferred and the guess is doubtful (see
        :func:`fastbp.datasets.load_file`), one sentence stating the decision and the option that
        overrides it; ``fastbp train`` and ``fastbp sweep`` print it on stdout.

    Raises
    ------
    ValueError
        If the task is unknown, or the arrays' shapes, dtypes or labels do not fit together.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    task: str
    name: str
    description: str
    task_note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_names", tuple(str(n) for n in self.feature_names))
        object.__setattr__(self, "target_names", tuple(str(n) for n in self.target_names))
        X, y = self.X, self.y
        if self.task not in TASKS:
            raise ValueError(f"task = {self.task!r} is unknown; allowed: {list(TASKS)}")
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype.name not in DTYPES:
            raise ValueError("X must be a 2-D float32 or float64 array")
        if not isinstance(y, np.ndarray) or y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be a 1-D array with one entry per row of X ({X.shape[0]})")
        if len(self.feature_names) != X.shape[1]:
            raise ValueError(
                f"feature_names has {len(self.feature_names)} names for {X.shape[1]} columns; "
                f"it needs one per column"
            )
        if self.task == "classification":
            if y.dtype != np.int64:
                raise ValueError(f"classification labels must be int64, got {y.dtype}")
            k = len(self.target_names)
            if y.size and (y.min() < 0 or y.max() >= k):
                raise ValueError(f"labels must lie in 0..{k - 1} (one per target name)")
        elif y.dtype != X.dtype:
            raise ValueError(f"regression targets must have X's dtype {X.dtype}, got {y.dtype}")

    @property
    def n_samples(self) -> int:
        """n, the number of rows of X."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """d, the number of columns of X."""
        return int(self.X.shape[1])

    def __repr__(self) -> str:
        if self.task == "classification":
            k = len(self.target_names)
            target = f"{k} class{'es' if k != 1 else ''}"
        else:
            target = f"target {self.target_names[0]!r}" if self.target_names else "regression"
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, X={self.X.shape} {self.X.dtype}, "
            f"y={self.y.shape} {self.y.dtype}, {target})"
        )


def make_dataset(
    path: Path,
    X: np.ndarray,
    y: np.ndarray,
    feature_names: tuple[str, ...],
    target_name: str,
    dtype: np.dtype,
    task: str | None,
    keep_x: bool = False,
) -> Dataset:
    """A :class:`Dataset` from raw arrays read from ``path``: X cast to ``dtype`` (checked for
    overflow), y turned into int64 labels 0..K−1 or regression targets of ``dtype``.

    Parameters
    ----------
    path : pathlib.Path
        The file the arrays came from (for messages and the dataset's name).
    X : numpy.ndarray
        (n, d) finite features.
    y : numpy.ndarray
        (n,) finite targets.
    feature_names : tuple of str
        One name per column of X.
    target_name : str
        The target's name.
    dtype : numpy.dtype
        float32 or float64.
    task : str or None
        ``"classification"``, ``"regression"`` or None to infer it (see
        :func:`fastbp.datasets.load_file`).
    keep_x : bool
        Use X as it is (a memory map the caller checked) instead of casting it.

    Returns
    -------
    Dataset
        The data set.

    Raises
    ------
    ValueError
        If a value overflows ``dtype`` or ``task="classification"`` meets a fractional target.
    """
    if keep_x:  # a memory map, checked by the caller: used as it is
        X_out = X
    else:
        with np.errstate(over="ignore"):  # overflow to inf is reported below, with its index
            X_out = np.ascontiguousarray(X, dtype=dtype)
        check_finite_cast(path, X_out, "X")
    whole = y.dtype.kind in "biu" or bool(np.all(y == np.floor(y)))
    classes = np.unique(y)
    note = ""
    if task is None:
        task, note = infer_task(path, target_name, y.shape[0], classes, whole)
    if task == "classification":
        if not whole:
            bad = float(y[y != np.floor(y)][0])
            raise ValueError(
                f"{path}: task='classification' needs whole-number class labels in "
                f"{target_name!r}, found {bad}"
            )
        labels = np.searchsorted(classes, y).astype(np.int64)
        target_names = tuple(str(int(c)) for c in classes)
        y_out = labels
    else:
        with np.errstate(over="ignore"):
            y_out = np.ascontiguousarray(y, dtype=dtype)
        check_finite_cast(path, y_out, target_name)
        target_names = (target_name,)
    return Dataset(
        X=X_out,
        y=y_out,
        feature_names=feature_names,
        target_names=target_names,
        task=task,
        name=path.stem,
        description=(
            f"{X_out.shape[0]} examples with {X_out.shape[1]} features and a {task} target "
            f"{target_name!r}, loaded from {path}."
        ),
        task_note=note,
    )


def infer_task(
    path: Path, target_name: str, n: int, classes: np.ndarray, whole: bool
) -> tuple[str, str]:
    """The task of a target whose task was not given, and a note when the guess is doubtful.

    Classification if and only if every target is a whole number and there are at most
    :data:`MAX_INFERRED_CLASSES` distinct values; regression otherwise.  The guess is doubtful,
    and the note says what was decided and names the override, when the classification has
    more than :data:`CONFIDENT_CLASSES` classes (whole numbers that may be counts) or fewer than
    :data:`MIN_ROWS_PER_CLASS` rows per class.  A target with one distinct value is refused.

    Parameters
    ----------
    path : pathlib.Path
        The file, for messages.
    target_name : str
        The target's name, for messages.
    n : int
        The number of rows.
    classes : numpy.ndarray
        The sorted distinct target values.
    whole : bool
        Whether every target is a whole number.

    Returns
    -------
    tuple of (str, str)
        ``"classification"`` or ``"regression"``, and the note (empty when the guess is clear).

    Raises
    ------
    ValueError
        For a target with one distinct value: there is nothing to learn, and a one-class
        classification cannot be trained.
    """
    k = int(classes.size)
    if k == 1:
        raise ValueError(
            f"{path}: target {target_name!r} has one value ({_value_text(classes[0])}) in all {n} "
            f"rows: there is nothing to learn, so no task was inferred. Check the target column "
            f"(--target-column, target_column=), or pass {OVERRIDE} to fit the constant anyway"
        )
    if not whole or k > MAX_INFERRED_CLASSES:
        return "regression", ""
    reasons = []
    if k > CONFIDENT_CLASSES:
        reasons.append(f"{k} distinct whole-number values, which may be counts or scores")
    if n < MIN_ROWS_PER_CLASS * k:
        reasons.append(f"only {n / k:.1f} rows per class on average")
    if not reasons:
        return "classification", ""
    why = " and ".join(reasons)
    return "classification", (
        f"target {target_name!r} was taken for class labels ({k} classes: {why}); if it is a "
        f"quantity, pass {OVERRIDE}"
    )


def _value_text(value: object) -> str:
    v = float(value)  # type: ignore[arg-type]
    return str(int(v)) if v.is_integer() else repr(v)


def check_finite_cast(path: Path, arr: np.ndarray, what: str) -> None:
    """Refuse an array that became non-finite in a cast (finite before the cast was checked, so
    an inf now means a value overflowed the dtype).

    Parameters
    ----------
    path : pathlib.Path
        The file, for the message.
    arr : numpy.ndarray
        The cast array.
    what : str
        Its name, for the message.

    Raises
    ------
    ValueError
        Naming the first index that overflowed.
    """
    if not np.isfinite(arr).all():
        where = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{path}: {what} has a value too large for {arr.dtype} (first at index "
            f"{tuple(int(i) for i in where)}); rescale it or use dtype='float64'"
        )


def check_dtype(dtype: object) -> np.dtype:
    """``dtype`` as a numpy dtype, float32 or float64.

    Parameters
    ----------
    dtype : object
        The caller's argument.

    Returns
    -------
    numpy.dtype
        float32 or float64.

    Raises
    ------
    ValueError
        For any other dtype.
    """
    try:
        dt: np.dtype | None = np.dtype(dtype)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype = {dtype!r} is not supported; allowed: {list(DTYPES)}")
    return dt
