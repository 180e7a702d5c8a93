"""Gradient and activation diagnostics per layer, read off one compiled forward/backward pass.

Everything here is computed from :meth:`fastbp.Network.trace` (the compiled passes' own z[k],
a[k], dJ/dz[k] and gradient); nothing re-implements backpropagation.  For a batch of n rows and
layers k = 1..r (index k − 1 in every list):

* ``grad_W_norm[k]`` = ‖dJ/dW[k]‖_F and ``grad_b_norm[k]`` = ‖dJ/db[k]‖₂, for the mean loss
  J = (1/n) Σ_i J_i (the gradient that ``loss_and_gradient`` returns);
* ``grad_z_norm[k]`` = sqrt((1/n) Σ_i ‖dJ_i/dz_i[k]‖²), the root-mean-square over the batch of
  each example's backward signal, so it does not shrink as the batch grows;
* ``z_mean[k]``, ``z_std[k]`` and ``a_std[k]``: mean and standard deviation of all n·n_k entries
  of z[k] (pre-activations) and a[k] (activations);
* ``dead_fraction[k]`` (ReLU layers): the fraction of the n_k units whose input z is ≤ 0 on
  every row of the batch.  Such a unit outputs 0 and passes no gradient for any example;
* ``saturated_fraction[k]`` (sigmoid and tanh layers): the fraction of the n·n_k entries where
  σ'(z) < :data:`SATURATION_FRACTION` · max σ' (max σ' is ¼ for the sigmoid and 1 for tanh, so
  this is |z| > 5.99 and |z| > 2.99 respectively).  Such entries pass less than 1 % of the
  largest possible gradient back.

Layers where a statistic does not apply (the output layer, other activations) hold NaN.
``gradient_ratio`` = ‖dJ/dW[1]‖ / ‖dJ/dW[r]‖ summarises vanishing (≪ 1) or exploding (≫ 1)
gradients; :func:`check_gradient_ratio` compares it with :data:`GRADIENT_RATIO_BAND`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

#: Saturation threshold: an entry is saturated when σ'(z) < SATURATION_FRACTION · max σ'.
SATURATION_FRACTION = 0.01

#: Largest value of σ' per saturating activation (sigmoid at 0: ¼; tanh at 0: 1).
MAX_DERIVATIVE = {"sigmoid": 0.25, "tanh": 1.0}

#: ``fit(..., diagnostics=True)`` and the vanishing/exploding check warn when
#: ‖dJ/dW[1]‖ / ‖dJ/dW[r]‖ falls outside this closed band.  Three decades either way: a healthy
#: network's layers differ by far less (with two hidden tanh or ReLU layers the ratio stays in
#: 1e-1..1e1, and ReLU keeps it below 1e1 even 20 layers deep), while ten sigmoid layers at Xavier
#: initialisation give 1e-8 to 1e-5.
GRADIENT_RATIO_BAND = (1e-3, 1e3)

#: ``fit(..., diagnostics=True)`` measures on at most this many training rows (a fixed, seeded
#: subsample drawn once per fit).
DIAGNOSTIC_ROWS = 512

#: The per-layer keys of a diagnostics dict (each a list of r floats).
LAYER_KEYS = (
    "grad_W_norm",
    "grad_b_norm",
    "grad_z_norm",
    "z_mean",
    "z_std",
    "a_std",
    "dead_fraction",
    "saturated_fraction",
)


class GradientWarning(UserWarning):
    """The first-to-last layer gradient norm ratio left :data:`GRADIENT_RATIO_BAND`."""


def gradient_diagnostics(net, X: np.ndarray, Y: np.ndarray) -> dict:
    """Per-layer gradient norms and activation statistics of ``net`` on the batch (X, Y).

    Runs one compiled forward and backward pass (:meth:`fastbp.Network.trace`) and returns the
    dict described in the module docstring: the lists in :data:`LAYER_KEYS` (one float per layer
    k = 1..r), ``gradient_ratio`` and ``loss`` (the mean loss on the batch), all plain Python
    floats, so the dict is JSON-ready.  Parameters are not changed.

    Parameters
    ----------
    net : fastbp.Network
        The network; its parameters are not changed.
    X, Y : array_like
        The batch.

    Returns
    -------
    dict
        Per-layer lists of floats (see :func:`diagnostics_from_trace`).
    """
    return diagnostics_from_trace(net, net.trace(X, Y))


def diagnostics_from_trace(net, trace) -> dict:
    """The diagnostics dict of :func:`gradient_diagnostics` from an existing ``Trace``."""
    spec, plan = net.spec, net.plan
    r = spec.n_layers
    grad = np.asarray(trace.grad, dtype=np.float64)
    out: dict[str, list[float]] = {key: [] for key in LAYER_KEYS}
    for k in range(1, r + 1):
        n_out, n_in = int(plan.widths[k]), int(plan.widths[k - 1])
        w0, b0 = int(plan.w_off[k - 1]), int(plan.b_off[k - 1])
        z = np.asarray(trace.z[k], dtype=np.float64)
        a = np.asarray(trace.a[k], dtype=np.float64)
        dz = np.asarray(trace.dJ_dz[k], dtype=np.float64)
        out["grad_W_norm"].append(float(np.linalg.norm(grad[w0 : w0 + n_out * n_in])))
        out["grad_b_norm"].append(float(np.linalg.norm(grad[b0 : b0 + n_out])))
        out["grad_z_norm"].append(float(np.sqrt(np.mean(np.sum(dz * dz, axis=1)))))
        out["z_mean"].append(float(z.mean()))
        out["z_std"].append(float(z.std()))
        out["a_std"].append(float(a.std()))
        act = spec.activations[k - 1] if k < r else None
        dead = saturated = math.nan
        if act == "relu":
            dead = float(np.mean(np.all(z <= 0, axis=0)))
        elif act in MAX_DERIVATIVE:
            slope = a * (1.0 - a) if act == "sigmoid" else 1.0 - a * a
            saturated = float(np.mean(slope < SATURATION_FRACTION * MAX_DERIVATIVE[act]))
        out["dead_fraction"].append(dead)
        out["saturated_fraction"].append(saturated)
    result: dict = dict(out)
    result["gradient_ratio"] = gradient_ratio(result)
    result["loss"] = float(trace.loss)
    return result


def gradient_ratio(diag: dict) -> float:
    """‖dJ/dW[1]‖ / ‖dJ/dW[r]‖ from a diagnostics dict.

    ``inf`` when only the last layer's gradient is 0, NaN when both are (a stationary point, or a
    network whose hidden units are all off): there is then no signal to compare.

    Parameters
    ----------
    diag : dict
        A diagnostics dict from :func:`gradient_diagnostics`.

    Returns
    -------
    float
        The ratio of the first layer's weight-gradient norm to the last layer's.
    """
    first, last = float(diag["grad_W_norm"][0]), float(diag["grad_W_norm"][-1])
    if last == 0.0:
        return math.nan if first == 0.0 else math.inf
    return first / last


def check_gradient_ratio(diag: dict, band: tuple[float, float] = GRADIENT_RATIO_BAND) -> str | None:
    """A message when ``gradient_ratio`` is outside ``band`` (vanishing or exploding), else None.

    A NaN ratio (no gradient anywhere) is not judged.
    """
    ratio = float(diag["gradient_ratio"])
    lo, hi = band
    if math.isnan(ratio) or lo <= ratio <= hi:
        return None
    if ratio < lo:
        return (
            f"vanishing gradients: ‖dJ/dW[1]‖ / ‖dJ/dW[r]‖ = {ratio:.3g} is below {lo:g}; the "
            f"first layers barely learn (sigmoid/tanh chains shrink the gradient at every layer: "
            f"try relu, fewer layers, or check the initialisation)"
        )
    return (
        f"exploding gradients: ‖dJ/dW[1]‖ / ‖dJ/dW[r]‖ = {ratio:.3g} is above {hi:g}; try a "
        f"smaller initialisation scale (xavier/he) or a smaller learning rate"
    )


def warn_gradient_ratio(
    diag: dict, band: tuple[float, float] = GRADIENT_RATIO_BAND, where: str = "", stacklevel=2
) -> bool:
    """Issue a :class:`GradientWarning` when :func:`check_gradient_ratio` objects; True if so."""
    message = check_gradient_ratio(diag, band)
    if message is None:
        return False
    warnings.warn(f"{where}{message}", GradientWarning, stacklevel=stacklevel + 1)
    return True


def diagnostic_rows(n: int, seed: int | None, rows: int = DIAGNOSTIC_ROWS) -> np.ndarray:
    """Sorted indices of a fixed subsample of at most ``rows`` of n rows (all of them if n ≤ rows).

    Drawn from its own generator seeded with ``seed``, so that taking it does not change the
    random stream used for training.
    """
    if n <= rows:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False))
