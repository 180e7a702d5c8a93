"""Central finite differences against a circuit's compiled reverse sweep.

For each checked input x_q the central difference

    g_fd[q] = (F(x + h e_q) − F(x − h e_q)) / 2h,     F = Σ_k weights[k] output_k

has truncation error O(h²) and rounding error O(ε_mach |F| / h); h = 1e-6 balances the two in
float64.  Each entry costs two forward sweeps of the whole circuit, so checking all l inputs costs
O(N·l) against O(N) for the reverse sweep: the lecture's theorem.  Near a kink (relu at 0) the two
may disagree legitimately.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fastbp.circuit.tape import Circuit
from fastbp.gradcheck import GradcheckReport, worst_ratio
from fastbp.validate import positive_float, positive_int

#: Default tolerances: the reverse sweep is exact up to rounding, and central differences with
#: h = 1e-6 agree with it to ~1e-8 relative on smooth circuits.
RTOL, ATOL = 1e-5, 1e-7


def finite_difference_gradient(
    circuit: Circuit, x: ArrayLike, weights: np.ndarray, indices: np.ndarray, eps: float
) -> np.ndarray:
    """Central differences of Σ_k weights[k] output_k at the point x for the inputs ``indices``.

    All 2·len(indices) shifted points go through one batch forward sweep
    (:meth:`Circuit.value <fastbp.circuit.Circuit.value>` on the batch).

    Parameters
    ----------
    circuit : Circuit
        The circuit.
    x : array_like
        One point, shape (l,).
    weights : numpy.ndarray
        (n_out,) weights of the differentiated scalar.
    indices : numpy.ndarray
        The inputs q to difference (int).
    eps : float
        The step h.

    Returns
    -------
    numpy.ndarray
        (len(indices),) estimates of ∂F/∂x_q.
    """
    x = np.asarray(x, dtype=np.float64)
    P = np.repeat(x[None, :], 2 * indices.shape[0], axis=0)
    rows = np.arange(indices.shape[0])
    P[2 * rows, indices] += eps
    P[2 * rows + 1, indices] -= eps
    F = np.asarray(circuit.value(P, weights=weights))
    return (F[0::2] - F[1::2]) / (2 * eps)


def gradcheck(
    circuit: Circuit,
    x: ArrayLike,
    *,
    output: int | None = None,
    weights: ArrayLike | None = None,
    eps: float = 1e-6,
    rtol: float = RTOL,
    atol: float = ATOL,
    max_inputs: int | None = 2000,
    seed: int = 0,
) -> GradcheckReport:
    """Compare ``circuit.gradient(x)`` with central finite differences at one point x (l,).

    ``output``/``weights`` choose the scalar as in :meth:`Circuit.value
    <fastbp.circuit.Circuit.value>`.  At most ``max_inputs`` inputs are checked, drawn at random
    (seeded) when there are more; ``None`` checks all.  The report's ``n_params`` is l, the
    number of inputs.

    Parameters
    ----------
    circuit : Circuit
        The circuit to check.
    x : array_like
        One point, shape (l,).
    output : int, optional
        Which output to check (default: the only one).
    weights : array_like, optional
        Check Σ_k weights[k] output_k instead, shape (n_out,).
    eps : float
        The finite-difference step h.
    rtol, atol : float
        Entry q passes when ``|g_bp − g_fd| ≤ atol + rtol·|g_fd|``.
    max_inputs : int or None
        How many inputs to check at most (None: all).
    seed : int
        Seed of the random choice of inputs when there are more than ``max_inputs``.

    Returns
    -------
    GradcheckReport
        Pass/fail, the largest absolute and relative errors and where the worst one is.

    Raises
    ------
    TypeError
        If ``circuit`` is not a Circuit, or an argument has the wrong type.
    ValueError
        If x is not one point of shape (l,), or an argument is out of range.
    """
    if not isinstance(circuit, Circuit):
        raise TypeError(f"circuit must be a fastbp.circuit.Circuit, got {type(circuit).__name__}")
    eps = positive_float(eps, "eps")
    rtol = positive_float(rtol, "rtol", allow_zero=True)
    atol = positive_float(atol, "atol", allow_zero=True)
    l = circuit.n_inputs
    if max_inputs is not None:
        max_inputs = positive_int(max_inputs, "max_inputs")
    if not isinstance(x, (str, bytes)) and np.ndim(x) > 1:  # a batch: refused before any sweep
        raise ValueError(f"gradcheck takes one point of shape ({l},)")
    g_bp = circuit.gradient(x, output=output, weights=weights)  # validates x, output, weights
    if weights is None:
        w = np.zeros(circuit.n_outputs)
        w[0 if output is None else int(output)] = 1.0
    else:
        w = np.asarray(weights, dtype=np.float64)
    if max_inputs is None or l <= max_inputs:
        indices = np.arange(l)
    else:
        indices = np.sort(np.random.default_rng(seed).choice(l, size=max_inputs, replace=False))
    g_fd = finite_difference_gradient(circuit, np.asarray(x), w, indices, eps)
    g = g_bp[indices]
    abs_err = np.abs(g - g_fd)
    rel_err = abs_err / np.maximum(np.maximum(np.abs(g), np.abs(g_fd)), max(atol, 1e-300))
    worst = int(np.argmax(rel_err)) if rel_err.size else 0
    return GradcheckReport(
        passed=bool(np.all(abs_err <= atol + rtol * np.abs(g_fd))),
        max_abs_error=float(abs_err.max()) if abs_err.size else 0.0,
        max_rel_error=float(rel_err.max()) if rel_err.size else 0.0,
        n_checked=int(indices.shape[0]),
        n_params=l,
        eps=eps,
        rtol=rtol,
        atol=atol,
        worst_index=int(indices[worst]) if indices.size else 0,
        worst_ratio=worst_ratio(abs_err, atol + rtol * np.abs(g_fd)),
    )
