"""The data of a sweep: a dataset split into train / validation / test parts, standardised, and
the checks that a configuration fits it."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from fastbp.datasets import Dataset, Standardizer, load_named, train_test_split
from fastbp.datasets._dataset import check_dtype
from fastbp.losses import RECORDS, SPECIALISED
from fastbp.spec import NetworkSpec
from fastbp.sweep.config import SweepConfig


@dataclass(frozen=True, eq=False)
class SweepData:
    """A dataset split into train / validation / test parts, with standardised features.

    ``prepare_data`` builds it.  Configurations are ranked by their validation score, and the test
    score is reported next to it.  ``x_mean``/``x_scale`` (and for regression
    ``y_mean``/``y_scale``) are the training-part statistics.  They are saved with the best
    model.

    Parameters
    ----------
    name : str
        The dataset's name.
    task : str
        ``"classification"`` or ``"regression"``.
    target_names : tuple of str
        The class names (empty for regression).
    X_train, y_train, X_val, y_val, X_test, y_test : numpy.ndarray
        The three parts, features standardised (and regression targets too).
    x_mean, x_scale : numpy.ndarray
        The feature standardisation, from the training part.
    y_mean, y_scale : numpy.ndarray or None
        The target standardisation (regression only).
    """

    name: str
    task: str
    target_names: tuple[str, ...]
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray | None = None
    y_scale: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """The number of feature columns."""
        return int(self.X_train.shape[1])

    @property
    def dtype(self) -> str:
        """The arrays' dtype, ``"float32"`` or ``"float64"``: a configuration's by default."""
        return self.X_train.dtype.name

    @property
    def n_classes(self) -> int:
        """The number of classes (0 for regression)."""
        return len(self.target_names) if self.task == "classification" else 0

    @property
    def metric(self) -> str:
        """What the scores are: ``"accuracy"`` or ``"r2"``."""
        return "accuracy" if self.task == "classification" else "r2"

    def __repr__(self) -> str:
        return (
            f"SweepData({self.name!r}, {self.task}, train {len(self.y_train)}, "
            f"val {len(self.y_val)}, test {len(self.y_test)}, {self.n_features} features)"
        )


def prepare_data(
    dataset: Dataset | str | os.PathLike[str],
    test_fraction: float = 0.2,
    validation_fraction: float = 0.2,
    seed: int = 0,
    *,
    target: str | os.PathLike[str] | None = None,
    dtype: str | None = None,
) -> SweepData:
    """Split a :class:`fastbp.datasets.Dataset` (or a name or path) for a sweep.

    The test part is ``test_fraction`` of the rows, and the validation part is
    ``validation_fraction`` of the rest.  Both splits are seeded and stratified for
    classification.  Features are standardised with the training part's statistics, and so is
    the regression target.  R² is unchanged by that, so the scores are in the original units.
    The parts are read into memory (a memory-mapped ``.npy`` X too, part by part, with no
    float64 copy of a float32 file), in ``dtype``.

    Parameters
    ----------
    dataset : fastbp.datasets.Dataset, str or os.PathLike
        The data, or what :func:`fastbp.datasets.load_named` loads: ``"digits"``,
        ``"diabetes"`` or the path of a ``.csv``/``.npz`` file, or of a ``.npy`` file of features
        with ``target``.
    test_fraction, validation_fraction : float
        The fractions held out for testing and for validation.
    seed : int
        Seed of the split.
    target : str, os.PathLike or None
        The ``.npy`` file of targets of a ``.npy`` ``dataset`` (see
        :func:`fastbp.datasets.load_named`).
    dtype : {"float32", "float64"} or None
        The parts' dtype, which configurations without a ``dtype`` train in; None follows the
        data (a ``.npy``/``.npz`` file's own, float64 otherwise).

    Returns
    -------
    SweepData
        The standardised training, validation and test parts.

    Raises
    ------
    ValueError
        If the name is unknown, the file is refused, or a fraction leaves a part empty.
    TypeError
        If ``dataset`` is neither a Dataset, a name nor a path.
    """
    if isinstance(dataset, (str, os.PathLike)):
        dataset = load_named(dataset, dtype=dtype, target=target)
    elif target is not None:
        raise ValueError("target= goes with a .npy dataset path, not with a Dataset")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a fastbp.datasets.Dataset, got {type(dataset).__name__}")
    dt = dataset.X.dtype if dtype is None else check_dtype(dtype)
    classification = dataset.task == "classification"
    X, y = dataset.X, dataset.y  # a memory map is indexed part by part, never copied whole
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_fraction, seed, classification)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, validation_fraction, seed + 1, classification
    )
    xs = Standardizer().fit(X_train)
    x_stats = xs.to_arrays()
    y_mean = y_scale = None
    if not classification:
        ys = Standardizer().fit(y_train)
        y_train, y_val, y_test = (ys.transform(v).astype(dt) for v in (y_train, y_val, y_test))
        y_stats = ys.to_arrays()
        y_mean, y_scale = y_stats["mean"], y_stats["scale"]

    def std(rows: np.ndarray) -> np.ndarray:  # in the wider of the two dtypes, then to dt
        wide = rows.astype(np.promote_types(rows.dtype, dt), copy=False)
        return np.ascontiguousarray(xs.transform(wide), dtype=dt)

    return SweepData(
        name=dataset.name, task=dataset.task, target_names=tuple(dataset.target_names),
        X_train=std(X_train), y_train=y_train, X_val=std(X_val), y_val=y_val,
        X_test=std(X_test), y_test=y_test, x_mean=x_stats["mean"],
        x_scale=x_stats["scale"],
        y_mean=y_mean, y_scale=y_scale,
    )  # fmt: skip


def spec_for(config: SweepConfig, data: SweepData) -> NetworkSpec:
    """The :class:`NetworkSpec` of ``config`` on ``data`` (the widths at both ends come from the
    data; the loss is inferred from the task when ``config.loss`` is None).

    Parameters
    ----------
    config : SweepConfig
        One configuration.
    data : SweepData
        The prepared splits (``config.dtype=None`` takes their dtype).

    Returns
    -------
    NetworkSpec
        The spec to train.

    Raises
    ------
    ValueError
        If the loss does not fit the task (or the number of classes).
    """
    if data.task == "classification":
        loss = config.loss or "softmax_cross_entropy"
        sigmoid = RECORDS[loss].output == "sigmoid"  # one output: 2 classes
        if RECORDS[loss].task == "regression":
            raise ValueError(f"loss {loss!r} needs a regression dataset")
        if sigmoid and data.n_classes != 2:
            raise ValueError(f"loss {loss!r} needs 2 classes, the dataset has {data.n_classes}")
        n_out = 1 if sigmoid else data.n_classes
    else:
        loss = config.loss or "squared"
        if RECORDS[loss].task == "classification":
            raise ValueError(f"loss {loss!r} needs a classification dataset")
        if not RECORDS[loss].specialised:  # the lanes kernels (fastbp.lanes) have the loss
            raise ValueError(
                f"fastbp sweep trains the losses the generated kernels have "
                f"({', '.join(sorted(SPECIALISED))}), not {loss!r}"
            )
        n_out = 1
    widths = [data.n_features, *config.hidden, n_out]
    dtype = config.dtype or data.dtype
    return NetworkSpec(widths, [config.activation] * len(config.hidden), loss, dtype)


def check_config(config: SweepConfig, data: SweepData, index: int | None = None) -> None:
    """Raise ValueError if ``config`` cannot be trained on ``data`` (before any work is sent);
    the message names the configuration (and its ``index`` in the grid when given).

    Parameters
    ----------
    config : SweepConfig
        One configuration.
    data : SweepData
        The prepared splits.
    index : int, optional
        Its position in the grid, for the error message.

    Raises
    ------
    ValueError
        If the configuration cannot be trained on ``data``.
    """
    where = "configuration" + ("" if index is None else f" {index}")
    try:
        spec_for(config, data)
    except ValueError as exc:
        raise ValueError(f"{where} ({config.to_dict()}): {exc}") from None
    n_train = len(data.y_train)
    if config.batch_size > n_train:
        raise ValueError(
            f"{where} ({config.to_dict()}): batch_size {config.batch_size} exceeds the "
            f"{n_train} training rows"
        )
