"""The estimators' settings: the allowed values, the sparse-input switches, the boundary checks.

Nothing here imports scikit-learn or the rest of :mod:`fastbp.sklearn`; the other modules of the
package read these names at call time (``_params.SPARSE_TRAINING``), so that setting
``fastbp.sklearn.SPARSE_TRAINING`` changes what the next fit does.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from fastbp.activations import ACTIVATIONS, RECORDS
from fastbp.losses import RECORDS as LOSS_RECORDS
from fastbp.optim import ADAM_FAMILY, DEFAULT_WEIGHT_DECAY, Optimizer, check_toolbox
from fastbp.spec import check_dropout_rates

#: scikit-learn activation names → fastbp names (fastbp's own names are accepted as they are),
#: from the activation records' ``sklearn`` field.
SKLEARN_ACTIVATIONS = {r.sklearn: r.name for r in RECORDS.values() if r.sklearn is not None}

#: Solvers: scikit-learn's three plus fastbp's momentum methods and AdamW by name.
SOLVERS = ("lbfgs", "sgd", "adam", "momentum", "nesterov", "adamw")
#: The solvers that train epoch by epoch (and so have ``partial_fit``).
STOCHASTIC_SOLVERS = ("sgd", "adam", "momentum", "nesterov", "adamw")
#: MLPRegressor's losses → fastbp NetworkSpec losses (the records' ``sklearn`` names).
REGRESSION_LOSSES = {r.sklearn: r.name for r in LOSS_RECORDS.values() if r.sklearn is not None}
#: The values of the ``dtype`` parameter.
DTYPE_OPTIONS = ("auto", "float32", "float64")
#: The values of the ``learning_rate`` parameter.
LEARNING_RATES = ("constant", "invscaling", "adaptive")
#: Rows densified at a time when X is a scipy.sparse matrix (rounded to whole batches): for
#: predictions, L-BFGS, sample-weighted batches, and training when SPARSE_TRAINING = "densify".
SPARSE_CHUNK_ROWS = 2048
#: How sgd/adam epochs read a sparse X: "csr" (the default; the first layer multiplies the CSR
#: rows in :mod:`fastbp.sparse_kernels`) or "densify" (chunks of SPARSE_CHUNK_ROWS rows through
#: the dense epoch kernel).  Both are tested to give the same weights; scripts/bench_sparse.py
#: measures them.
SPARSE_TRAINING = "csr"
#: How fit runs its epochs on dense rows without sample weights, early stopping or verbose
#: output: "compiled" (the default; blocks of epochs with their losses and the stopping rule in
#: one compiled call, :mod:`fastbp.sklearn._loop`) or "python" (one compiled call per part of an
#: epoch, the rest in Python, as partial_fit and the other cases run).  Tested to agree to
#: rounding; scripts/bench_sklearn_fit.py measures the default.
EPOCH_LOOP = "compiled"

#: The dtypes ``validate_data`` converts X to (float64 unless X is float32).
FLOAT_DTYPES = (np.float64, np.float32)


def fastbp_activation(activation: object) -> str:
    """The fastbp name of a scikit-learn (or fastbp) activation name.

    Parameters
    ----------
    activation : object
        The ``activation`` parameter.

    Returns
    -------
    str
        A key of :data:`fastbp.activations.ACTIVATIONS`.

    Raises
    ------
    ValueError
        For anything else.
    """
    if isinstance(activation, str):
        if activation in SKLEARN_ACTIVATIONS:
            return SKLEARN_ACTIVATIONS[activation]
        if activation in ACTIVATIONS:
            return activation
    allowed = sorted(set(SKLEARN_ACTIVATIONS) | set(ACTIVATIONS))
    raise ValueError(f"activation={activation!r} is not supported; allowed: {allowed}")


def check_number(
    value: object, name: str, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False
) -> float:
    """A real number in the interval [lo, hi] (ends excluded where ``lo_open``/``hi_open``).

    Parameters
    ----------
    value : object
        The parameter's value.
    name : str
        The parameter's name, for the message.
    lo, hi : float
        The interval's ends.
    lo_open, hi_open : bool
        Whether the ends are excluded.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (bools are refused).
    ValueError
        If it lies outside the interval.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return v


def check_integer(value: object, name: str, minimum: int) -> int:
    """An integer of at least ``minimum``.

    Parameters
    ----------
    value : object
        The parameter's value.
    name : str
        The parameter's name, for the message.
    minimum : int
        The smallest allowed value.

    Returns
    -------
    int
        ``value`` as an int.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (bools are refused).
    ValueError
        If it is below ``minimum``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_hidden_layer_sizes(hidden: object) -> list[int]:
    """The hidden widths from ``hidden_layer_sizes`` (an integer or a sequence of them).

    Parameters
    ----------
    hidden : object
        The ``hidden_layer_sizes`` parameter.

    Returns
    -------
    list of int
        The widths, each > 0 (empty for no hidden layer).

    Raises
    ------
    TypeError
        If it is neither an integer nor a sequence.
    ValueError
        If a width is not a positive integer.
    """
    sizes = hidden
    if isinstance(sizes, (numbers.Integral, np.integer)) and not isinstance(sizes, bool):
        sizes = [sizes]
    try:
        sizes = list(sizes)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"hidden_layer_sizes must be an integer or a sequence of integers, got {hidden!r}"
        ) from None
    for h in sizes:
        if isinstance(h, (bool, np.bool_)) or not isinstance(h, numbers.Integral) or h <= 0:
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}")
    return [int(h) for h in sizes]


def make_optimizer(est: Any) -> Optimizer:
    """The fastbp optimizer for the estimator's ``solver`` (the :mod:`fastbp.sklearn` mapping).

    ``weight_decay`` λ_wd is PyTorch's coupled one for the SGD family and Adam (torch.optim.SGD's
    and Adam's): λ_wd W is added to each step's gradient after ``clip_norm``, on the weights
    only; ``solver="adamw"`` decouples it (torch.optim.AdamW: θ ← θ (1 − α λ_wd) on the weights).

    Parameters
    ----------
    est : fastbp.sklearn.MLPClassifier or MLPRegressor
        The estimator, its settings checked.

    Returns
    -------
    Optimizer
    """
    wd = weight_decay(est)
    if est.solver in ADAM_FAMILY:
        return Optimizer(est.solver, beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon,
                         weight_decay=wd)  # fmt: skip
    if est.solver == "sgd":
        if est.momentum == 0:
            return Optimizer("sgd", weight_decay=wd)
        name = "nesterov" if est.nesterovs_momentum else "momentum"
        return Optimizer(name, momentum=est.momentum, weight_decay=wd)
    return Optimizer(est.solver, momentum=est.momentum, weight_decay=wd)


def weight_decay(est: Any) -> float:
    """The estimator's λ_wd: ``weight_decay``, or for None the solver's default (0.01 for
    ``adamw``, torch.optim.AdamW's; else 0).

    Parameters
    ----------
    est : fastbp.sklearn.MLPClassifier or MLPRegressor
        The estimator.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        A value of the wrong type, negative or not finite.
    """
    if est.weight_decay is None:
        return DEFAULT_WEIGHT_DECAY.get(est.solver, 0.0)
    return check_number(est.weight_decay, "weight_decay", 0, np.inf, hi_open=True)


def check_toolbox_params(est: Any, dp: bool) -> tuple[float, float, int] | None:
    """The estimator's ``weight_decay``, ``clip_norm`` (None or > 0) and ``warmup`` (steps, an
    int ≥ 0), checked.

    Parameters
    ----------
    est : fastbp.sklearn.MLPClassifier or MLPRegressor
        The estimator.
    dp : bool
        Whether DP-SGD (``max_grad_norm``) is on: it does not take them.

    Returns
    -------
    tuple of (float, float, int) or None
        (λ_wd, C or 0, W), the arguments :func:`fastbp.toolbox_kernels.toolbox_step` takes after
        ``eps``; None when all three are off (the epochs then run exactly as before).

    Raises
    ------
    TypeError, ValueError
        A value of the wrong type or range, or one of them with DP-SGD or ``solver="lbfgs"``.
    """
    check_dropout_param(est, dp)
    clip, warmup = check_toolbox(est.clip_norm, est.warmup)
    if dp and est.solver == "adamw":
        raise ValueError("DP-SGD (max_grad_norm) does not take solver='adamw'")
    wd = weight_decay(est)
    if wd == 0.0 and clip == 0.0 and warmup == 0:
        return None
    if dp or est.solver == "lbfgs":
        raise ValueError(
            "weight_decay, clip_norm and warmup need a stochastic solver and no DP-SGD"
        )
    return wd, clip, warmup


def check_dropout_param(est: Any, dp: bool) -> tuple[float, ...]:
    """The estimator's ``dropout`` (fastbp only), checked after ``hidden_layer_sizes``.

    Parameters
    ----------
    est : fastbp.sklearn.MLPClassifier or MLPRegressor
        The estimator (``est._hidden`` set by its settings check).
    dp : bool
        Whether DP-SGD is on: it does not take dropout.

    Returns
    -------
    tuple of float
        One rate per hidden layer (:func:`fastbp.spec.check_dropout_rates`).

    Raises
    ------
    ValueError
        A bad rate, or dropout with ``solver="lbfgs"`` or DP-SGD.
    """
    rates = check_dropout_rates(est.dropout, len(est._hidden))
    if any(p > 0 for p in rates) and (dp or est.solver == "lbfgs"):
        raise ValueError("dropout needs a stochastic solver (not lbfgs) and no DP-SGD")
    return rates
