"""Central finite differences against backpropagation.

For each checked parameter θ_q, the central difference

    g_fd[q] = (J(θ + h e_q) − J(θ − h e_q)) / 2h

has truncation error O(h²) and rounding error O(ε_mach |J| / h); h = 1e-6 balances the two in
float64.  Finite differences are always evaluated on a float64 copy of the network, so a float32
network's backprop gradient is checked against an accurate yardstick.  Each check costs two
forward passes, so a full check costs O(N) passes, O(N²) work, against O(N) for backprop: the
lecture's point.  Near a kink (ReLU at 0) the two may disagree legitimately.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fastbp.dropout import loss_and_gradient_with_masks
from fastbp.lowered import LoweredNetwork, NetworkLike, as_lowered
from fastbp.validate import as_features, as_targets, check_seed, positive_float, positive_int

#: Default (rtol, atol) per dtype of the network whose backprop gradient is checked.  float64:
#: backprop is exact up to rounding, and central differences with h = 1e-6 agree to ~1e-8
#: relative.  float32: the gradient itself carries ~1e-6 relative rounding per operation,
#: amplified through the layers.
TOLERANCES = {"float64": (1e-5, 1e-7), "float32": (1e-3, 1e-5)}


@dataclass(frozen=True)
class GradcheckReport:
    """Outcome of :func:`gradcheck`.

    ``max_abs_error`` = max_q ``|g_bp − g_fd|``; ``max_rel_error`` = max_q ``|g_bp − g_fd|`` /
    max(``|g_bp|``, ``|g_fd|``, atol); ``passed`` is True when every checked entry satisfies
    ``|g_bp − g_fd| ≤ atol + rtol·|g_fd|`` (numpy's ``allclose`` rule), i.e. when
    ``worst_ratio`` = max_q ``|g_bp − g_fd|`` / (atol + rtol·``|g_fd|``) ≤ 1.  The relative error
    alone may exceed rtol in a passing check (a small entry is then within atol); the printed
    report states the rule and the ratio, so that a PASS reads as one.

    Parameters
    ----------
    passed : bool
        Whether every checked entry is within the tolerances.
    max_abs_error, max_rel_error : float
        The largest absolute and relative errors, as defined above.
    n_checked, n_params : int
        The entries checked, out of the network's parameters.
    eps : float
        The step h of the central differences.
    rtol, atol : float
        The tolerances.
    worst_index : int
        The parameter index of the largest relative error.
    worst_ratio : float
        The largest ``|g_bp − g_fd|`` / (atol + rtol·``|g_fd|``): at most 1 when ``passed``.
    """

    passed: bool
    max_abs_error: float
    max_rel_error: float
    n_checked: int
    n_params: int
    eps: float
    rtol: float
    atol: float
    worst_index: int
    worst_ratio: float = math.nan

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        within = "all within" if self.passed else "not all within"
        return (
            f"gradcheck {verdict}: {self.n_checked}/{self.n_params} parameters, {within} "
            f"|g_bp - g_fd| <= atol + rtol*|g_fd| (atol {self.atol:g}, rtol {self.rtol:g}); "
            f"worst entry at {self.worst_ratio:.3g} x its bound (pass: <= 1) | max abs error "
            f"{self.max_abs_error:.3e}, max rel error {self.max_rel_error:.3e} (worst index "
            f"{self.worst_index}, h {self.eps:g})"
        )


#: The default step h of the central difference (float64: balances O(h²) truncation against
#: O(ε/h) rounding).
STEP = 1e-6


def central_differences(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = STEP
) -> np.ndarray:
    """∂f/∂x by central differences (f(x + h e_q) − f(x − h e_q)) / 2h, entry by entry.

    Parameters
    ----------
    f : callable
        A scalar function of an array of x's shape.  It is called 2·x.size times, on one float64
        array that is changed in place between calls (copy it if you keep it).
    x : array_like
        The point, any shape.
    h : float
        The step.

    Returns
    -------
    numpy.ndarray
        The float64 gradient, of x's shape.
    """
    v = np.array(x, dtype=np.float64)
    g = np.empty_like(v)
    flat, gflat = v.reshape(-1), g.reshape(-1)
    for q in range(flat.size):
        old = flat[q]
        flat[q] = old + h
        plus = f(v)
        flat[q] = old - h
        minus = f(v)
        flat[q] = old
        gflat[q] = (plus - minus) / (2 * h)
    return g


def finite_difference_gradient(
    net: NetworkLike, X: np.ndarray, Y: np.ndarray, indices: np.ndarray, h: float = STEP
) -> np.ndarray:
    """Central differences (J(θ + h e_q) − J(θ − h e_q)) / 2h for q in ``indices``.

    Each entry costs two forward passes over the batch; the parameters are restored exactly.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network (its parameters are perturbed one at a time and restored).
    X, Y : numpy.ndarray
        Rows and dense targets, already validated for ``net`` (``as_features``/``as_targets``).
    indices : numpy.ndarray
        The parameter indices q to difference.
    h : float
        The step.

    Returns
    -------
    numpy.ndarray
        float64 differences, one per index.
    """
    net = as_lowered(net)
    theta = net.params
    g = np.empty(indices.shape[0])
    for t, q in enumerate(indices):
        old = theta[q]
        theta[q] = old + h
        j_plus = net.loss(X, Y)
        theta[q] = old - h
        j_minus = net.loss(X, Y)
        theta[q] = old
        g[t] = (j_plus - j_minus) / (2 * h)
    return g


def gradcheck(
    net: NetworkLike,
    X: np.ndarray,
    Y: np.ndarray,
    eps: float = 1e-6,
    rtol: float | None = None,
    atol: float | None = None,
    max_params: int | None = 2000,
    seed: int = 0,
) -> GradcheckReport:
    """Compare ``net.loss_and_gradient(X, Y)`` with central finite differences.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network whose gradient is checked; it is not changed.
    X, Y : array_like
        Data in the forms accepted by ``net.loss``.
    eps : float
        The step h of the central difference.
    rtol, atol : float or None
        Tolerances; by default per dtype from ``TOLERANCES``.
    max_params : int or None
        Check at most this many parameters, drawn at random (seeded) when the network has more;
        ``None`` checks every parameter.
    seed : int
        Seed for that draw.

    Returns
    -------
    GradcheckReport
        The errors, the tolerances and whether every checked entry passed. The finite
        differences are always taken on a float64 copy of the network.
    """
    lowered = as_lowered(net)
    eps = positive_float(eps, "eps")
    seed = check_seed(seed)
    default_rtol, default_atol = TOLERANCES[lowered.spec.dtype]
    rtol = default_rtol if rtol is None else positive_float(rtol, "rtol", allow_zero=True)
    atol = default_atol if atol is None else positive_float(atol, "atol", allow_zero=True)
    spec = lowered.spec
    spec64 = dataclasses.replace(spec, dtype="float64")  # the loss's parameter kept
    # The float64 copies first: data too large to hold is refused before any pass runs over it.
    X64 = as_features(X, spec64, lazy=False)
    Y64 = as_targets(Y, spec64, X64.shape[0], lazy=False)
    Xd = as_features(X, spec, lazy=False)
    Yd = as_targets(Y, spec, Xd.shape[0], lazy=False)
    with lowered.shared():
        lowered.check_params()
        buffers = lowered.buffers()
        lowered.loss_and_gradient(Xd, Yd, buffers)
        g_bp = buffers.grad.astype(np.float64)
        probe = LoweredNetwork(spec64)
        probe.params[...] = lowered.params

    n = lowered.plan.n_params
    if max_params is None or n <= positive_int(max_params, "max_params"):
        indices = np.arange(n)
    else:
        indices = np.sort(np.random.default_rng(seed).choice(n, size=max_params, replace=False))
    g_fd = finite_difference_gradient(probe, X64, Y64, indices, eps)
    return _report(g_bp[indices], g_fd, indices, n, eps, rtol, atol)


def gradcheck_dropout(
    net: NetworkLike,
    X: np.ndarray,
    Y: np.ndarray,
    keep: list[np.ndarray],
    eps: float = 1e-6,
    rtol: float | None = None,
    atol: float | None = None,
) -> GradcheckReport:
    """:func:`gradcheck` of the training loss with dropout and a fixed mask, every parameter.

    The backprop gradient of the compiled training pass with the keep masks ``keep``
    (:func:`fastbp.dropout.loss_and_gradient_with_masks`) against central differences of that
    loss, with the same masks, on a float64 copy.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network (its spec's dropout rates); it is not changed.
    X, Y : numpy.ndarray
        Rows and dense targets.
    keep : list of numpy.ndarray
        One (m, n_k) 0/1 mask per hidden layer (:func:`fastbp.dropout.masks` draws training's).
    eps, rtol, atol : float
        As for :func:`gradcheck`.

    Returns
    -------
    GradcheckReport
    """
    lowered = as_lowered(net)
    spec = lowered.spec
    eps = positive_float(eps, "eps")
    default_rtol, default_atol = TOLERANCES[spec.dtype]
    rtol = default_rtol if rtol is None else positive_float(rtol, "rtol", allow_zero=True)
    atol = default_atol if atol is None else positive_float(atol, "atol", allow_zero=True)
    probe = LoweredNetwork(dataclasses.replace(spec, dtype="float64"))
    probe.params[...] = lowered.params
    g_bp = loss_and_gradient_with_masks(lowered, X, Y, keep)[1].astype(np.float64)

    def loss(theta: np.ndarray) -> float:
        probe.params[...] = theta
        return loss_and_gradient_with_masks(probe, X, Y, keep)[0]

    g_fd = central_differences(loss, probe.params.copy(), eps)
    n = probe.plan.n_params
    return _report(g_bp, g_fd, np.arange(n), n, eps, rtol, atol)


def _report(g: np.ndarray, g_fd: np.ndarray, indices: np.ndarray, n: int, eps: float,
            rtol: float, atol: float) -> GradcheckReport:  # fmt: skip
    abs_err = np.abs(g - g_fd)
    rel_err = abs_err / np.maximum(np.maximum(np.abs(g), np.abs(g_fd)), max(atol, 1e-300))
    worst = int(np.argmax(rel_err)) if rel_err.size else 0
    return GradcheckReport(
        passed=bool(np.all(abs_err <= atol + rtol * np.abs(g_fd))),
        max_abs_error=float(abs_err.max()),
        max_rel_error=float(rel_err.max()),
        n_checked=int(indices.shape[0]),
        n_params=n,
        eps=eps,
        rtol=rtol,
        atol=atol,
        worst_index=int(indices[worst]),
        worst_ratio=worst_ratio(abs_err, atol + rtol * np.abs(g_fd)),
    )


def worst_ratio(abs_err: np.ndarray, bound: np.ndarray) -> float:
    """max |error| / bound, with 0/0 counted as 0 and x/0 as inf (a zero bound: atol = 0).

    Parameters
    ----------
    abs_err : numpy.ndarray
        ``|g_bp − g_fd|`` per checked entry.
    bound : numpy.ndarray
        ``atol + rtol·|g_fd|`` per checked entry.

    Returns
    -------
    float
        The largest ratio (0 for no entries): at most 1 exactly when the check passes.
    """
    if abs_err.size == 0:
        return 0.0
    ratio = np.divide(abs_err, bound, out=np.zeros_like(abs_err), where=bound > 0)
    ratio[(bound <= 0) & (abs_err > 0)] = math.inf
    return float(ratio.max())
