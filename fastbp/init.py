"""Weight initialisers.  Each takes a seeded ``np.random.Generator`` and draws in float64.

Biases always start at 0.  Variances are stated so they can be checked:

* ``xavier_normal``  (default, the lecture's): W ~ N(0, 2 / (n_in + n_out))
* ``xavier_uniform``: W ~ U(−√(6/(n_in + n_out)), +√(6/(n_in + n_out))), same variance
* ``he_normal``: W ~ N(0, 2 / n_in);  ``he_uniform``: U(±√(6/n_in)), same variance
* ``normal``: W ~ N(0, 1), the naive choice, kept to show why it is bad in deep networks
* ``zeros``: all zeros, kept to show that it fails by symmetry
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def xavier_normal(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=(n_out, n_in))


def xavier_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    bound = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-bound, bound, size=(n_out, n_in))


def he_normal(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))


def he_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    bound = np.sqrt(6.0 / n_in)
    return rng.uniform(-bound, bound, size=(n_out, n_in))


def normal(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.normal(0.0, 1.0, size=(n_out, n_in))


def zeros(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return np.zeros((n_out, n_in))


#: name -> initialiser(rng, n_in, n_out) returning W[k] of shape (n_out, n_in) in float64.
INITIALISERS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "normal": normal,
    "zeros": zeros,
}
