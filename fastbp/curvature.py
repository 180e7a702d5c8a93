"""The curvature tools: sharpness, Hessian trace and a SciPy adapter, all from H v in O(N).

None of them forms the N × N Hessian.  Each is built on :func:`fastbp.hessian.hvp`, whose cost is
a small constant number of gradient evaluations, so

* :func:`sharpness` (Lanczos) costs one H v per iteration,
* :func:`hutchinson_trace` costs one H v per probe,
* :func:`eigenvalues` (top k by Lanczos) and :func:`spectral_density` (stochastic Lanczos
  quadrature), defined in :mod:`fastbp.spectra` and re-exported here, cost one H v per step,
* :func:`per_example_gradients`, :func:`per_example_norms`, :func:`gradient_variance` and
  :func:`gauss_newton_diagonal`, defined in :mod:`fastbp.per_example` and re-exported here,
  cost one forward and one backward pass over the rows (the diagonal one per output unit),
* :func:`scipy_objective` gives ``fun``, ``jac`` and ``hessp`` for the second-order methods of
  ``scipy.optimize.minimize`` (``"Newton-CG"``, ``"trust-ncg"``, ``"trust-krylov"``), and
  :func:`minimize` runs one of them on a network.

All of them refer to the mean loss J(θ) = (1/n) Σ_i J_i(θ) over the X, Y they are given.  SciPy is
optional: only :func:`minimize` imports it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from fastbp.hessian import hvp
from fastbp.lowered import NetworkLike, as_lowered, lowered_with_data
from fastbp.per_example import (
    gauss_newton_diagonal,
    gradient_variance,
    per_example_gradients,
    per_example_norms,
)
from fastbp.spectra import (
    check_matrix,
    eigenvalues,
    lanczos,
    operator,
    spectral_density,
    tridiagonal,
)
from fastbp.validate import as_params, positive_float, positive_int

__all__ = [
    "WHICH",
    "curvature_report",
    "eigenvalues",
    "gauss_newton_diagonal",
    "gradient_variance",
    "hutchinson_trace",
    "minimize",
    "per_example_gradients",
    "per_example_norms",
    "scipy_objective",
    "sharpness",
    "spectral_density",
]

#: ``which`` values of :func:`sharpness`.
WHICH = ("magnitude", "largest")


def sharpness(
    net: NetworkLike,
    X: np.ndarray,
    Y: np.ndarray,
    iters: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
    *,
    which: str = "magnitude",
) -> tuple[float, np.ndarray]:
    """Extreme eigenvalue of the Hessian of the mean loss, and its unit eigenvector.

    Method: Lanczos iteration on v ↦ H v with full reorthogonalisation, from a seeded Gaussian
    start vector.  After step j the tridiagonal T_j has Ritz pairs (θ, s); the one selected by
    ``which`` is accepted when its residual ``‖H u − θ u‖ = β_j |s_j| ≤ tol · |θ|``, when the
    Krylov space is exhausted (j = N), or after ``iters`` steps (then the best Ritz pair so far is
    returned; no warning is raised).

    ``which="magnitude"`` (default) returns the eigenvalue of largest magnitude, with its sign: H is
    symmetric but indefinite away from a minimum, and when its most negative eigenvalue is larger
    in magnitude than its largest positive one the result is that negative eigenvalue.
    ``which="largest"`` returns the largest algebraic eigenvalue λ_max (the "sharpness" of the
    edge-of-stability literature: gradient descent with step α is locally stable only if
    λ_max < 2/α), which may be negative or zero.

    Returns ``(eigenvalue, eigenvector)``: a Python float and a float64 unit vector in the
    parameter layout (its sign is arbitrary).  Each step costs one :func:`fastbp.hessian.hvp`
    over all of X; the Lanczos basis takes ``min(iters, N)`` float64 vectors of N entries.  For a
    float32 network the H v products carry float32 rounding, so a ``tol`` below about 1e-5 is
    usually not reached and the loop runs ``iters`` steps.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.
    iters : int
        At most this many Lanczos steps.
    tol : float
        Relative residual at which a Ritz pair is accepted.
    seed : int
        Seed of the start vector.
    which : {"magnitude", "largest"}
        The eigenvalue of largest magnitude (with its sign) or the largest algebraic one.

    Returns
    -------
    eigenvalue : float
        The selected eigenvalue.
    eigenvector : numpy.ndarray
        A float64 unit vector in the parameter layout (its sign is arbitrary).
    """
    net, X, Y = lowered_with_data(net, X, Y)
    iters = positive_int(iters, "iters")
    tol = positive_float(tol, "tol")
    if which not in WHICH:
        raise ValueError(f"which = {which!r} is unknown; allowed: {list(WHICH)}")
    rng = np.random.default_rng(seed)
    start = rng.standard_normal(net.plan.n_params)

    def pick(theta: np.ndarray) -> int:
        return int(np.argmax(np.abs(theta))) if which == "magnitude" else int(np.argmax(theta))

    def converged(theta: np.ndarray, S: np.ndarray, beta_j: float) -> bool:
        scale = max(float(np.max(np.abs(theta))), np.finfo(np.float64).tiny)
        return beta_j * abs(S[-1, pick(theta)]) <= tol * scale

    with operator(net, X, Y, "hessian", "sharpness") as matvec:
        Q, alpha, beta = lanczos(matvec, start, iters, rng, converged)
    theta, S = np.linalg.eigh(tridiagonal(alpha, beta))
    vector = Q.T @ S[:, pick(theta)]
    return float(theta[pick(theta)]), vector / np.linalg.norm(vector)


def hutchinson_trace(
    net: NetworkLike,
    X: np.ndarray,
    Y: np.ndarray,
    samples: int = 100,
    seed: int = 0,
    *,
    matrix: str = "hessian",
) -> tuple[float, float]:
    """Hutchinson's estimate of trace(H), H the Hessian of the mean loss, and its standard error.

    With ``matrix="gauss_newton"`` the same estimate of trace(G), G the generalised Gauss-Newton
    matrix (:func:`fastbp.hessian.gnvp`).

    With Rademacher probes z (entries ±1 with probability ½, seeded), E[zᵀ H z] = trace(H) and
    Var[zᵀ H z] = 2 Σ_{p≠q} H_pq²; the estimate is the mean of ``samples`` values zᵀ H z, and the
    standard error is their sample standard deviation (ddof = 1) divided by √samples.  Costs
    ``samples`` products H z (or G z) over all of X, with X, Y and the parameters validated once.
    Returns two Python floats.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.
    samples : int
        Number of Rademacher probes (at least 2).
    seed : int
        Seed of the probes.
    matrix : {"hessian", "gauss_newton"}
        The exact Hessian H or the generalised Gauss-Newton matrix G.

    Returns
    -------
    trace : float
        The estimate of trace(H) (or trace(G)).
    std_error : float
        Its standard error.
    """
    check_matrix(matrix)
    net, X, Y = lowered_with_data(net, X, Y)
    samples = positive_int(samples, "samples", minimum=2)
    rng = np.random.default_rng(seed)
    values = np.empty(samples)
    with operator(net, X, Y, matrix, "hutchinson_trace") as matvec:
        for s in range(samples):
            z = 2.0 * rng.integers(0, 2, size=net.plan.n_params) - 1.0
            values[s] = z @ matvec(z)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(samples))


def curvature_report(
    net: NetworkLike,
    X: np.ndarray,
    Y: np.ndarray,
    iters: int = 100,
    samples: int = 100,
    seed: int = 0,
) -> dict:
    """Sharpness and Hessian trace of the mean loss over X, Y, for printing (``fastbp curvature``).

    Returns a dict with ``sharpness`` (largest-magnitude eigenvalue of H, from :func:`sharpness`
    with ``iters`` Lanczos steps), ``trace`` and ``trace_std_error`` (from
    :func:`hutchinson_trace` with ``samples`` probes), ``n_params``, ``n_examples`` and
    ``seconds`` (wall time of both computations).  ``seed`` seeds both.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.
    iters : int
        Lanczos steps for :func:`sharpness`.
    samples : int
        Probes for :func:`hutchinson_trace`.
    seed : int
        Seeds both.

    Returns
    -------
    dict
        ``sharpness``, ``trace``, ``trace_std_error``, ``n_params``, ``n_examples``, ``seconds``.
    """
    net, X, Y = lowered_with_data(net, X, Y)
    start = time.perf_counter()
    value, _ = sharpness(net, X, Y, iters=iters, seed=seed)
    trace, std_error = hutchinson_trace(net, X, Y, samples=samples, seed=seed)
    return {
        "sharpness": value,
        "trace": trace,
        "trace_std_error": std_error,
        "n_params": net.plan.n_params,
        "n_examples": int(X.shape[0]),
        "seconds": time.perf_counter() - start,
    }


def scipy_objective(
    net: NetworkLike, X: np.ndarray, Y: np.ndarray
) -> tuple[
    Callable[[np.ndarray], float],
    Callable[[np.ndarray], np.ndarray],
    Callable[[np.ndarray, np.ndarray], np.ndarray],
]:
    """``(fun, jac, hessp)`` on flat float64 parameter vectors, for ``scipy.optimize.minimize``.

    ``fun(theta)`` is the mean loss J(θ), ``jac(theta)`` its gradient and ``hessp(theta, p)`` the
    exact Hessian-vector product H(θ) p, all as float64 (a Python float for ``fun``).  Use them
    as ``minimize(fun, net.params.astype(float), jac=jac, hessp=hessp, method="Newton-CG")``
    (also ``"trust-ncg"`` and ``"trust-krylov"``).

    Each call loads θ into the network, evaluates, and restores the previous parameters before it
    returns, so the network is unchanged afterwards; copy the result into ``net.params`` yourself
    (or use :func:`minimize`).  X and Y are validated once here.  ``fun`` and ``jac`` share one
    ``loss_and_gradient`` call when asked about the same θ one after the other.  For a float32
    network θ is rounded to float32 and the results carry float32 rounding; prefer float64 for
    Newton-type methods.  The callables use the network's workspaces: do not call them from
    several threads at once.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network whose mean loss is minimised; it is left unchanged.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.

    Returns
    -------
    fun : callable
        ``fun(theta) -> float``, the mean loss.
    jac : callable
        ``jac(theta) -> numpy.ndarray``, its gradient (float64).
    hessp : callable
        ``hessp(theta, p) -> numpy.ndarray``, the exact Hessian-vector product (float64).
    """
    net, X, Y = lowered_with_data(net, X, Y)
    n = net.plan.n_params
    last: dict = {"theta": None, "loss": 0.0, "grad": None}

    @contextmanager
    def loaded(theta: np.ndarray) -> Iterator[None]:
        theta = as_params(theta, n, net.spec.np_dtype, name="theta")
        saved = net.params.copy()
        net.params[...] = theta
        try:
            yield
        finally:
            net.params[...] = saved

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.asarray(theta)
        if last["theta"] is None or not np.array_equal(last["theta"], theta):
            with loaded(theta):
                with net.shared():
                    net.check_params()
                    loss, grad = net.loss_and_gradient(X, Y), net.grad
            last.update(theta=theta.copy(), loss=float(loss), grad=grad.astype(np.float64))
        return last["loss"], last["grad"]

    def fun(theta: np.ndarray) -> float:
        return loss_and_gradient(theta)[0]

    def jac(theta: np.ndarray) -> np.ndarray:
        return loss_and_gradient(theta)[1].copy()

    def hessp(theta: np.ndarray, p: np.ndarray) -> np.ndarray:
        p = as_params(p, n, net.spec.np_dtype, name="p")
        with loaded(theta):
            return hvp(net, X, Y, p).astype(np.float64)

    return fun, jac, hessp


def _scipy_optimize():
    try:
        import scipy.optimize
    except ImportError as exc:
        raise ImportError(
            "fastbp.curvature.minimize needs SciPy, which fastbp does not install by default; "
            "install it with `pip install scipy`"
        ) from exc
    return scipy.optimize


def minimize(
    net: NetworkLike,
    X: np.ndarray,
    Y: np.ndarray,
    method: str = "Newton-CG",
    **kwargs,
):
    """Minimise the mean loss with ``scipy.optimize.minimize`` and exact H v products.

    ``method`` is one that uses ``hessp``: ``"Newton-CG"``, ``"trust-ncg"`` or ``"trust-krylov"``;
    ``kwargs`` go to ``scipy.optimize.minimize`` (e.g. ``options={"maxiter": 50}``, ``callback``).
    Starts from the current ``net.params``, sets ``net.params`` to the result's ``x`` and returns
    SciPy's ``OptimizeResult``.  Needs SciPy (``pip install scipy``).

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are set to the result.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.
    method : {"Newton-CG", "trust-ncg", "trust-krylov"}
        A SciPy method that uses ``hessp``.
    **kwargs
        Passed on to ``scipy.optimize.minimize``.

    Returns
    -------
    scipy.optimize.OptimizeResult
        SciPy's result; ``result.x`` is now in ``net.params``.
    """
    allowed = ("Newton-CG", "trust-ncg", "trust-krylov")
    if method not in allowed:
        raise ValueError(f"method = {method!r} does not use Hessian products; allowed: {allowed}")
    optimize = _scipy_optimize()
    lowered = as_lowered(net)
    fun, jac, hessp = scipy_objective(lowered, X, Y)
    result = optimize.minimize(
        fun, lowered.params.astype(np.float64), jac=jac, hessp=hessp, method=method, **kwargs
    )
    x = as_params(result.x, lowered.plan.n_params, lowered.dtype, name="the result")
    with lowered.exclusive("minimize"):
        lowered.params[...] = x
    return result
