"""The L-BFGS driver: scipy's L-BFGS-B on the network's flat parameter vector.

The objective is scikit-learn's: the (weighted) mean loss, divided by the number of outputs for
the squared error, plus (α / 2 Σ s_i) Σ_k ‖W[k]‖², plus a constant offset (the z-free part of
the Poisson deviance).  For k > 1 squared-error outputs scikit-learn's gradient is k times that
of its reported loss; fastbp's is the gradient of the objective itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from fastbp.network import Network
from fastbp.validate import as_features, as_sample_weight


def minimize_lbfgs(
    net: Network, X: Any, Y: np.ndarray, sample_weight: np.ndarray | None, *, alpha: float,
    max_iter: int, max_fun: int, tol: float, verbose: bool, loss_offset: float,
) -> tuple[int, float, np.ndarray]:  # fmt: skip
    """Minimise scikit-learn's objective over the parameters of ``net`` with L-BFGS-B.

    For a float64 network the kernels read the optimizer's own vector x as the parameters (no
    copy per call); a float32 network casts x into one preallocated float32 buffer per call, as
    L-BFGS-B works in float64.  The network is held alone while scipy runs.  A run that stops
    short of convergence warns with scikit-learn's ``ConvergenceWarning``.

    Parameters
    ----------
    net : Network
        The network; its parameters are the starting point and are not changed.
    X : numpy.ndarray or scipy.sparse matrix
        (n, n_features) rows in the network's dtype (sparse ones are densified a chunk at a
        time).
    Y : numpy.ndarray
        (n, n_outputs) dense targets.
    sample_weight : numpy.ndarray or None
        Per-row weights.
    alpha : float
        The L2 strength α.
    max_iter, max_fun : int
        L-BFGS-B's limits on iterations and on objective evaluations.
    tol : float
        L-BFGS-B's ``gtol``.
    verbose : bool
        Print scikit-learn's ``Iteration N, loss = ...`` line per iteration.
    loss_offset : float
        A constant added to the objective (see ``_poisson_offset`` in the estimators).

    Returns
    -------
    n_iter : int
        The iterations run (at most ``max_iter``).
    loss : float
        The objective at the result.
    x : numpy.ndarray
        The float64 parameter vector found (not checked for finiteness).
    """
    spec = net.spec
    low = net.lowered
    Yd = np.ascontiguousarray(Y, dtype=spec.np_dtype)
    Xd = X if sp.issparse(X) else as_features(X, spec)
    sw = None if sample_weight is None else as_sample_weight(
        sample_weight, X.shape[0], spec.np_dtype)  # fmt: skip
    n_total = float(X.shape[0] if sw is None else sw.sum())
    per_output = float(spec.n_outputs) if spec.loss_record.mean_over_outputs else 1.0
    mask = low.plan.weight_mask.astype(np.float64)
    grad64 = np.empty(net.n_params, dtype=np.float64)
    masked = np.empty(net.n_params, dtype=np.float64)  # W-mask ⊙ x
    scratch = None if spec.np_dtype == np.float64 else np.empty(net.n_params, spec.np_dtype)

    def loss_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        if scratch is None and x.dtype == np.float64 and x.flags.c_contiguous:
            params = x
        else:
            params = scratch if scratch is not None else np.empty_like(low.params)
            np.copyto(params, x, casting="unsafe")
        with np.errstate(over="ignore", invalid="ignore"):
            J = low.loss_and_gradient(Xd, Yd, params=params, sw=sw) / per_output
            J += loss_offset
            np.multiply(mask, x, out=masked)
            J += 0.5 * alpha * float(np.dot(masked, x)) / n_total
            np.multiply(low.grad, 1.0 / per_output, out=grad64, casting="unsafe")
            np.multiply(masked, alpha / n_total, out=masked)
            np.add(grad64, masked, out=grad64)
        # A new array each call: scipy keeps the previous gradient while it evaluates.
        return J, grad64.copy()

    callback: Callable[[Any], None] | None = None
    if verbose:
        iteration = [0]

        def print_iteration(intermediate_result: Any) -> None:
            iteration[0] += 1
            print(f"Iteration {iteration[0]}, loss = {intermediate_result.fun:.8f}")

        callback = print_iteration

    x0 = low.params.astype(np.float64)
    with low.exclusive("fit"):
        result = scipy.optimize.minimize(
            loss_grad, x0, method="L-BFGS-B", jac=True, callback=callback,
            options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
        )  # fmt: skip
    n_iter = min(int(result.nit), max_iter)
    if result.status != 0:
        msg = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={result.status}):\n{result.message}\n"
        )
        if n_iter == max_iter:
            msg += (
                f"\nIncrease the number of iterations to improve the convergence "
                f"(max_iter={max_iter})."
            )
        warnings.warn(msg, ConvergenceWarning, stacklevel=5)
    return n_iter, float(result.fun), result.x
