"""Bundled datasets, CSV / .npz loading, train/test splits and standardisation.

``load_digits`` and ``load_diabetes`` read small real datasets shipped inside the package (no
download); ``load_file`` reads user data from ``.csv`` or ``.npz``, and ``load_npy`` memory-maps
features from a ``.npy`` file. Sources and licences of the
bundled files: ``fastbp/datasets/data/README.md`` and ``LICENSE-NOTICE.txt``.
"""

from fastbp.datasets._bundled import load_diabetes, load_digits
from fastbp.datasets._dataset import Dataset
from fastbp.datasets._preprocessing import Standardizer, train_test_split
from fastbp.datasets._user import load_file, load_npy
from fastbp.datasets.named import load_named as load_named

__all__ = [
    "Dataset",
    "Standardizer",
    "load_diabetes",
    "load_digits",
    "load_file",
    "load_npy",
    "train_test_split",
]
