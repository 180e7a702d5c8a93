"""The two datasets shipped inside the package: UCI digits and the diabetes data of Efron et al.

Each file is verified against its SHA-256 before it is parsed, so a damaged or replaced file is
refused with an OSError.  Sources and licences: ``fastbp/datasets/data/README.md``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from importlib import resources

import numpy as np

from fastbp.datasets._dataset import Dataset, check_dtype

#: Where the bundled files live (a Traversable, so zipped installs work too).
_DATA_DIR = resources.files("fastbp.datasets") / "data"

#: SHA-256 of each bundled file: a damaged or replaced file is refused before it is parsed.
_SHA256 = {
    "digits.csv.gz": "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
    "diabetes_data_raw.csv.gz": "7fc0ded571454b1982210d3bb43f0aca44eae01a0b8654a3b24022bdb6b38009",
    "diabetes_target.csv.gz": "8e53f65eb811df43c206f3534bb3af0e5fed213bc37ed6ba36310157d6023803",
}

_DIGITS_DESCRIPTION = (
    "Optical recognition of handwritten digits: 1,797 images of 8x8 pixels, 10 classes (the "
    "digits 0-9, 174 to 183 images each). Each pixel is the number of set pixels (0-16) in one "
    "4x4 block of a 32x32 bitmap produced by NIST preprocessing of a scanned form; the images are "
    "the test partition of the data, written by 13 people. Source: E. Alpaydin and C. Kaynak "
    "(1998), Optical Recognition of Handwritten Digits, UCI Machine Learning Repository, "
    "https://doi.org/10.24432/C50P49 (CC BY 4.0), as distributed by scikit-learn (BSD-3-Clause)."
)

_DIABETES_DESCRIPTION = (
    "Diabetes: ten raw baseline measurements for each of 442 patients (age in years; sex coded "
    "1/2; body mass index; average blood pressure; serum measurements s1 total cholesterol, s2 "
    "LDL, s3 HDL, s4 total/HDL cholesterol, s5 log triglycerides, s6 blood sugar) and the target, "
    "a quantitative measure of disease progression one year after baseline (25 to 346). The "
    "features are not centred or scaled. Source: B. Efron, T. Hastie, I. Johnstone and R. "
    "Tibshirani (2004), Least Angle Regression, Annals of Statistics 32(2):407-499, data from "
    "https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html, as distributed by scikit-learn "
    "(BSD-3-Clause)."
)

_DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def load_digits(dtype: str | type | np.dtype = "float64") -> Dataset:
    """The UCI optical handwritten digits: 1,797 8x8 images, 10 classes.

    Returns a :class:`Dataset` with X of shape (1797, 64) in ``dtype`` (``"float32"`` or
    ``"float64"``) holding the raw pixel counts 0..16 row by row (``feature_names`` are
    ``"pixel_<row>_<col>"``), y the int64 digit 0..9 and ``target_names`` ``"0"`` to ``"9"``.
    Raises OSError if the bundled file is missing or damaged.

    Parameters
    ----------
    dtype : str or numpy dtype
        ``"float32"`` or ``"float64"``: the dtype of X.

    Returns
    -------
    Dataset
        The data and its description.

    Raises
    ------
    OSError
        If the bundled file is missing or damaged.
    """
    dt = check_dtype(dtype)
    table = _read_bundled("digits.csv.gz", delimiter=",", shape=(1797, 65))
    X, labels = table[:, :64], table[:, 64]
    if X.min() < 0 or X.max() > 16 or not np.array_equal(labels, np.round(labels)):
        raise OSError(_damaged("digits.csv.gz", "pixel values outside 0..16 or fractional labels"))
    if labels.min() < 0 or labels.max() > 9:
        raise OSError(_damaged("digits.csv.gz", "labels out of range"))
    return Dataset(
        X=np.ascontiguousarray(X, dtype=dt),
        y=labels.astype(np.int64),
        feature_names=tuple(f"pixel_{i}_{j}" for i in range(8) for j in range(8)),
        target_names=tuple(str(k) for k in range(10)),
        task="classification",
        name="digits",
        description=_DIGITS_DESCRIPTION,
    )


def load_diabetes(dtype: str | type | np.dtype = "float64") -> Dataset:
    """The diabetes regression data of Efron et al. (2004): 442 patients, 10 features.

    Returns a :class:`Dataset` with X of shape (442, 10) in ``dtype`` (``"float32"`` or
    ``"float64"``): the raw, unscaled features ``age, sex, bmi, bp, s1..s6`` (sex coded 1/2); y
    is the disease progression one year after baseline (25..346, mean ≈ 152.1) in the same dtype;
    ``target_names`` is ``("progression",)``. Raises OSError if a bundled file is missing or
    damaged.

    Parameters
    ----------
    dtype : str or numpy dtype
        ``"float32"`` or ``"float64"``: the dtype of X.

    Returns
    -------
    Dataset
        The data and its description.

    Raises
    ------
    OSError
        If the bundled file is missing or damaged.
    """
    dt = check_dtype(dtype)
    X = _read_bundled("diabetes_data_raw.csv.gz", delimiter=None, shape=(442, 10))
    y = _read_bundled("diabetes_target.csv.gz", delimiter=None, shape=(442, 1))
    return Dataset(
        X=np.ascontiguousarray(X, dtype=dt),
        y=np.ascontiguousarray(y[:, 0], dtype=dt),
        feature_names=_DIABETES_FEATURES,
        target_names=("progression",),
        task="regression",
        name="diabetes",
        description=_DIABETES_DESCRIPTION,
    )


def _damaged(file_name: str, why: str) -> str:
    return (
        f"the bundled data file fastbp/datasets/data/{file_name} is damaged ({why}); "
        f"reinstall fastbp"
    )


def _read_bundled(file_name: str, delimiter: str | None, shape: tuple[int, int]) -> np.ndarray:
    """Verify the file's SHA-256, then parse the gzipped text table and check its shape."""
    try:
        raw = (_DATA_DIR / file_name).read_bytes()
    except OSError as exc:
        raise OSError(
            f"the bundled data file fastbp/datasets/data/{file_name} cannot be read ({exc}); "
            f"reinstall fastbp"
        ) from None
    if hashlib.sha256(raw).hexdigest() != _SHA256[file_name]:
        raise OSError(_damaged(file_name, "SHA-256 mismatch"))
    try:
        text = gzip.decompress(raw).decode("ascii")
        table = np.loadtxt(io.StringIO(text), delimiter=delimiter, ndmin=2, dtype=np.float64)
    except (OSError, EOFError, ValueError) as exc:
        raise OSError(_damaged(file_name, str(exc))) from None
    if table.shape != shape:
        raise OSError(_damaged(file_name, f"shape {table.shape}, expected {shape}"))
    if not np.isfinite(table).all():
        raise OSError(_damaged(file_name, "NaN or inf values"))
    return table
