"""Spectra of the Hessian (or Gauss-Newton matrix) of the mean loss, from products alone.

Both tools run Lanczos with full reorthogonalisation on v ↦ H v (or v ↦ G v), one product per
step over all of X, and never form the N × N matrix:

* :func:`eigenvalues`: the k largest (algebraic) eigenvalues and their unit eigenvectors.
* :func:`spectral_density`: stochastic Lanczos quadrature (SLQ; Ghorbani, Krishnan and Xiao,
  "An investigation into neural net optimization via Hessian eigenvalue density", ICML 2019, as
  PyHessian's ``density``): quadrature nodes and weights per probe, a Gaussian-smoothed density
  on a grid, and the trace estimate that comes with it (:class:`SpectralDensity`).

``matrix="hessian"`` is H = ∇²J, the exact Hessian of J(θ) = (1/n) Σ_i J_i(θ) (symmetric, in
general indefinite; :func:`fastbp.hessian.hvp`); ``matrix="gauss_newton"`` is the generalised
Gauss-Newton matrix G (symmetric positive semidefinite; :func:`fastbp.hessian.gnvp`).
:mod:`fastbp.curvature` re-exports both functions and uses :func:`lanczos` and
:func:`operator` of this module for its own Lanczos and trace estimates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from fastbp.hessian import product_unchecked
from fastbp.lowered import LoweredNetwork, NetworkLike, lowered_with_data
from fastbp.validate import positive_float, positive_int

__all__ = [
    "MATRICES",
    "Eigenpairs",
    "SpectralDensity",
    "eigenvalues",
    "spectral_density",
]

#: ``matrix`` values: the exact Hessian or the generalised Gauss-Newton matrix.
MATRICES = ("hessian", "gauss_newton")

#: β_j ≤ BREAKDOWN · ‖T_j‖ counts as an invariant Krylov space (the start vector is restarted).
BREAKDOWN = 1e-12

#: The DGKS threshold: a Gram-Schmidt pass that leaves less than this fraction of ‖w‖ is repeated.
REORTH_ETA = 1.0 / np.sqrt(2.0)

TINY = float(np.finfo(np.float64).tiny)


def check_matrix(matrix: object) -> bool:
    """True for ``"gauss_newton"``, False for ``"hessian"``; ValueError for anything else.

    Parameters
    ----------
    matrix : str
        One of :data:`MATRICES`.

    Returns
    -------
    bool
        Whether G v products are meant (rather than H v).
    """
    if not isinstance(matrix, str) or matrix not in MATRICES:
        raise ValueError(f"matrix = {matrix!r} is unknown; allowed: {list(MATRICES)}")
    return matrix == "gauss_newton"


@contextmanager
def operator(
    net: LoweredNetwork, X: np.ndarray, Y: np.ndarray, matrix: str, what: str
) -> Iterator[Callable[[np.ndarray], np.ndarray]]:
    """Hold ``net`` alone and yield ``matvec(v) -> H v`` (or G v) as float64, validated once.

    X and Y must already be validated for ``net`` (``as_features``/``as_targets`` with
    ``lazy=False``).  The parameters are checked once on entry; each call casts v to the
    network's dtype and runs :func:`fastbp.hessian.product_unchecked`.

    Parameters
    ----------
    net : LoweredNetwork
        The network.
    X, Y : numpy.ndarray
        Validated rows and dense targets.
    matrix : {"hessian", "gauss_newton"}
        Which products.
    what : str
        The caller, named to another thread that finds the network busy.

    Yields
    ------
    callable
        ``matvec(v)``: a new float64 array, the product with v (N finite values).
    """
    gauss_newton = check_matrix(matrix)
    n, dtype = net.plan.n_params, net.spec.np_dtype
    v = np.empty(n, dtype=dtype)
    out = np.empty(n, dtype=dtype)

    def matvec(q: np.ndarray) -> np.ndarray:
        v[...] = q
        product_unchecked(net, X, Y, v, gauss_newton, out)
        return out.astype(np.float64)

    with net.exclusive(what):
        net.check_params()
        yield matvec


def lanczos(
    matvec: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    steps: int,
    rng: np.random.Generator,
    converged: Callable[[np.ndarray, np.ndarray, float], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lanczos with full reorthogonalisation: an orthonormal basis Q and the tridiagonal T.

    From q_0 = start/‖start‖, step j computes w = A q_j, α_j = q_jᵀ w, subtracts α_j q_j and
    β_{j−1} q_{j−1}, orthogonalises w against all of q_0..q_j (a second time when the first
    pass cancelled more than 1 − 1/√2 of ‖w‖, the DGKS test; twice is enough, Kahan) and
    sets β_j = ‖w‖, q_{j+1} = w/β_j.  If β_j ≤ :data:`BREAKDOWN` · ‖T_j‖ (an invariant Krylov
    space), β_j is set to 0 and q_{j+1} is a fresh Gaussian vector from ``rng`` orthogonalised
    against the basis, so T splits into blocks.  Stops after ``steps`` steps, at j + 1 = N, or
    when ``converged(theta, S, beta_j)`` (given the eigenvalues θ, ascending, and eigenvectors S
    of T_j and β_j) returns True.

    Parameters
    ----------
    matvec : callable
        v ↦ A v for a symmetric A, float64 in and out.
    start : numpy.ndarray
        Nonzero start vector (N values).
    steps : int
        At most this many steps (≤ N).
    rng : numpy.random.Generator
        Source of restart vectors.
    converged : callable, optional
        Stopping test after each step; None runs all ``steps``.

    Returns
    -------
    Q : numpy.ndarray
        (m, N) float64, orthonormal rows q_0..q_{m−1}; m steps were run.
    alpha : numpy.ndarray
        (m,), the diagonal of T.
    beta : numpy.ndarray
        (m,), β_0..β_{m−1}; the first m − 1 are T's off-diagonal, the last is the residual
        norm of the final step.
    """
    n = start.shape[0]
    steps = min(steps, n)
    Q = np.empty((steps, n), dtype=np.float64)
    alpha = np.zeros(steps)
    beta = np.zeros(steps)
    q: np.ndarray = np.asarray(start, dtype=np.float64)
    q = q / float(np.linalg.norm(q))
    for j in range(steps):
        Q[j] = q
        w = np.asarray(matvec(q), dtype=np.float64)
        alpha[j] = w @ q
        w -= alpha[j] * q
        if j > 0:
            w -= beta[j - 1] * Q[j - 1]
        # Classical Gram-Schmidt against the whole basis, repeated only when it cancelled most
        # of w (the DGKS test, ‖w'‖ < ‖w‖/√2); twice is enough (Kahan).
        norm_w = float(np.linalg.norm(w))
        for _ in range(2):
            w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
            beta[j] = np.linalg.norm(w)
            if beta[j] > REORTH_ETA * norm_w:
                break
            norm_w = float(beta[j])
        if converged is not None:
            theta, S = np.linalg.eigh(tridiagonal(alpha[: j + 1], beta[: j + 1]))
            if converged(theta, S, float(beta[j])):
                return Q[: j + 1], alpha[: j + 1], beta[: j + 1]
        if j + 1 == steps:
            break
        # ‖T_j‖₂ ≤ max_i |α_i| + 2 max_i β_i: the scale of the breakdown test.
        norm = max(np.abs(alpha[: j + 1]).max() + 2 * beta[:j].max(initial=0.0), TINY)
        if beta[j] <= BREAKDOWN * norm:
            beta[j] = 0.0
            w = np.asarray(rng.standard_normal(n), dtype=np.float64)
            for _ in range(2):
                w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
            q = w / float(np.linalg.norm(w))
        else:
            q = w / float(beta[j])
    return Q, alpha, beta


def tridiagonal(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The symmetric tridiagonal T with diagonal ``alpha`` and off-diagonal ``beta[:-1]``.

    Parameters
    ----------
    alpha, beta : numpy.ndarray
        As returned by :func:`lanczos`.

    Returns
    -------
    numpy.ndarray
        (m, m) float64.
    """
    m = alpha.shape[0]
    return np.diag(alpha) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False, repr=False)
class Eigenpairs:
    """The k largest eigenvalues of H (or G) and their unit eigenvectors, from :func:`eigenvalues`.

    Unpacks as ``values, vectors = eigenvalues(...)``.  The arrays are read-only.

    Parameters
    ----------
    values : numpy.ndarray
        (k,) float64, largest algebraic first (descending); may be negative.
    vectors : numpy.ndarray
        (k, N) float64, ``vectors[i]`` a unit eigenvector of ``values[i]`` in the parameter
        layout (its sign is arbitrary).
    residuals : numpy.ndarray
        (k,) the Lanczos residual norms ‖A u_i − λ_i u_i‖ = β_j · abs(s_{j,i}) at the last step.
    steps : int
        Lanczos steps run (products computed).
    converged : bool
        Whether every residual met the tolerance (or the Krylov space was exhausted).
    """

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    steps: int
    converged: bool

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield ``values`` then ``vectors``, for tuple unpacking.

        Yields
        ------
        numpy.ndarray
            ``values``, then ``vectors``.
        """
        yield self.values
        yield self.vectors

    def __repr__(self) -> str:
        values = np.array2string(self.values, precision=6, threshold=8)
        return (
            f"Eigenpairs(k={self.values.shape[0]}, values={values}, n_params="
            f"{self.vectors.shape[1]}, steps={self.steps}, converged={self.converged})"
        )


def eigenvalues(
    net: NetworkLike,
    X: np.ndarray,
    Y: np.ndarray,
    k: int = 1,
    *,
    matrix: str = "hessian",
    iters: int | None = None,
    tol: float = 1e-6,
    seed: int = 0,
) -> Eigenpairs:
    """The k largest eigenvalues (algebraic, descending) of H or G and unit eigenvectors.

    Method: Lanczos iteration (:func:`lanczos`) on v ↦ A v, A = H or G of the mean loss
    J = (1/n) Σ_i J_i over X, Y, with full reorthogonalisation and a seeded Gaussian start
    vector.  After step j (j + 1 ≥ k) the tridiagonal T_j has Ritz pairs (θ_i, s_i); the k
    largest θ are accepted when every one of them has residual ``β_j |s_{j,i}| ≤ tol · ‖T_j‖₂``
    (‖T_j‖₂ = max abs(θ), an estimate of ‖A‖₂), when the Krylov space reaches N dimensions, or
    after ``iters`` steps (then ``converged`` is False; no warning is raised).  A start vector
    that spans an invariant subspace is continued with a fresh random vector.

    "Largest" is algebraic: for an indefinite H, a negative eigenvalue of larger magnitude is not
    among them (:func:`fastbp.curvature.sharpness` with ``which="magnitude"`` finds it).  Each
    step costs one H v (or G v) over all of X; the basis takes up to min(``iters``, N) float64
    vectors of N entries.  For a float32 network the products carry float32 rounding, so a
    ``tol`` below about 1e-5 is usually not reached and the loop runs ``iters`` steps.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.
    k : int
        How many eigenpairs, 1 ≤ k ≤ N (``net.n_params``).
    matrix : {"hessian", "gauss_newton"}
        The exact Hessian H or the generalised Gauss-Newton matrix G.
    iters : int, optional
        At most this many Lanczos steps (≥ k); default ``max(100, 4 k)``.  Capped at N.
    tol : float
        Relative residual at which the k Ritz pairs are accepted.
    seed : int
        Seed of the start vector (and of any restart).

    Returns
    -------
    Eigenpairs
        ``values`` (k,), ``vectors`` (k, N), ``residuals``, ``steps`` and ``converged``; it
        unpacks as ``values, vectors``.
    """
    check_matrix(matrix)
    lowered, X, Y = lowered_with_data(net, X, Y)
    n = lowered.plan.n_params
    k = positive_int(k, "k")
    if k > n:
        raise ValueError(f"k = {k} exceeds the number of parameters ({n})")
    iters = max(100, 4 * k) if iters is None else positive_int(iters, "iters")
    if iters < k:
        raise ValueError(f"iters = {iters} is below k = {k}: Lanczos needs at least k steps")
    tol = positive_float(tol, "tol")
    seed = positive_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    start = rng.standard_normal(n)

    def converged(theta: np.ndarray, S: np.ndarray, beta_j: float) -> bool:
        if theta.shape[0] < k:
            return False
        norm = max(float(np.max(np.abs(theta))), TINY)
        return bool(np.all(beta_j * np.abs(S[-1, -k:]) <= tol * norm))

    with operator(lowered, X, Y, matrix, "eigenvalues") as matvec:
        Q, alpha, beta = lanczos(matvec, start, iters, rng, converged)
    theta, S = np.linalg.eigh(tridiagonal(alpha, beta))
    top = np.arange(theta.shape[0] - 1, theta.shape[0] - k - 1, -1)
    vectors = (Q.T @ S[:, top]).T
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    steps = Q.shape[0]
    residuals = beta[-1] * np.abs(S[-1, top])
    norm = max(float(np.max(np.abs(theta))), TINY)
    done = steps == n or bool(np.all(residuals <= tol * norm))
    return Eigenpairs(
        _readonly(theta[top].copy()), _readonly(vectors), _readonly(residuals), steps, done
    )


@dataclass(frozen=True, eq=False, repr=False)
class SpectralDensity:
    """Stochastic Lanczos quadrature of a spectrum, from :func:`spectral_density`.

    For probe p the quadrature ``Σ_i weights[p, i] f(nodes[p, i])`` approximates
    ``q_pᵀ f(A) q_p`` for the unit start vector q_p, whose expectation is (1/N) Σ f(λ) over the
    N eigenvalues λ of A; ``density`` is its average over probes with f a Gaussian of width
    ``sigma``, evaluated on ``grid``.  The arrays are read-only.

    Parameters
    ----------
    nodes : numpy.ndarray
        (probes, steps) float64, the eigenvalues of each probe's tridiagonal T (ascending).
    weights : numpy.ndarray
        (probes, steps), the squared first components of T's unit eigenvectors; each row sums
        to 1.
    grid : numpy.ndarray
        (G,) the points where ``density`` is evaluated.
    density : numpy.ndarray
        (G,) the smoothed density: mean over probes of Σ_i w_i φ_σ(grid − θ_i), φ_σ the normal
        density of standard deviation ``sigma``.  It integrates to about 1 when the grid covers
        the nodes by several σ.
    sigma : float
        Width of the Gaussian kernel.
    n_params : int
        N, the dimension of A.
    """

    nodes: np.ndarray
    weights: np.ndarray
    grid: np.ndarray
    density: np.ndarray
    sigma: float
    n_params: int

    @property
    def trace_samples(self) -> np.ndarray:
        """Per-probe estimates N Σ_i nodes[p, i] weights[p, i] of trace(A).

        Each equals N q_pᵀ A q_p = z_pᵀ A z_p for the Rademacher probe z_p, i.e. Hutchinson's
        estimator.

        Returns
        -------
        numpy.ndarray
            (probes,) float64.
        """
        return self.n_params * np.sum(self.nodes * self.weights, axis=1)

    @property
    def trace(self) -> float:
        """The SLQ estimate of trace(A): the mean of :attr:`trace_samples`.

        Returns
        -------
        float
            The estimate.
        """
        return float(np.mean(self.trace_samples))

    @property
    def trace_std_error(self) -> float:
        """Standard error of :attr:`trace`: sample std (ddof = 1) over √probes; NaN for 1 probe.

        Returns
        -------
        float
            The standard error.
        """
        samples = self.trace_samples
        if samples.shape[0] < 2:
            return math.nan
        return float(samples.std(ddof=1) / math.sqrt(samples.shape[0]))

    def __repr__(self) -> str:
        probes, steps = self.nodes.shape
        return (
            f"SpectralDensity(probes={probes}, steps={steps}, n_params={self.n_params}, "
            f"nodes in [{self.nodes.min():.6g}, {self.nodes.max():.6g}], grid={self.grid.size} "
            f"points, sigma={self.sigma:.3g}, trace≈{self.trace:.6g})"
        )


def _grid(grid: object, sigma: object, nodes: np.ndarray) -> tuple[np.ndarray, float]:
    lo, hi = float(nodes.min()), float(nodes.max())
    if sigma is None:
        spread = hi - lo
        sigma = 0.01 * (spread if spread > 0 else max(abs(hi), 1.0))
    else:
        sigma = positive_float(sigma, "sigma")
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, (bool, np.bool_)):
        points = np.linspace(lo - 6 * sigma, hi + 6 * sigma, positive_int(grid, "grid", 2))
    else:
        try:
            points = np.array(grid, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            message = f"grid must be an integer or an array of numbers, got {grid!r}"
            raise TypeError(message) from exc
        if points.ndim != 1 or points.size < 2 or not np.all(np.isfinite(points)):
            raise ValueError("grid must be an integer ≥ 2 or a 1-D array of ≥ 2 finite values")
    return points, float(sigma)


def _check_grid_and_sigma(grid: object, sigma: object) -> None:
    """Refuse a bad grid or sigma before any product is computed."""
    probe = np.zeros(1)
    _grid(grid, sigma, probe)


def spectral_density(
    net: NetworkLike,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    probes: int = 1,
    steps: int | None = None,
    matrix: str = "hessian",
    seed: int = 0,
    grid: int | np.ndarray = 1000,
    sigma: float | None = None,
) -> SpectralDensity:
    """Eigenvalue density of H or G by stochastic Lanczos quadrature (SLQ).

    Per probe: a Rademacher vector z (entries ±1, seeded; PyHessian's choice), normalised, starts
    ``steps`` Lanczos steps with full reorthogonalisation (:func:`lanczos`); the eigenvalues θ_i
    of the tridiagonal T are the quadrature nodes and the squared first components s_{0,i}² of
    its unit eigenvectors the weights (Golub-Welsch), so Σ_i s_{0,i}² f(θ_i) ≈ qᵀ f(A) q and its
    expectation is (1/N) Σ_λ f(λ).  With ``steps = N`` the nodes are A's eigenvalues (to
    rounding).  The density on ``grid`` is the average over probes of Σ_i s_{0,i}² φ_σ(x − θ_i),
    φ_σ the normal density of standard deviation σ; it is not renormalised.  The trace estimate
    N Σ_i θ_i s_{0,i}² equals zᵀ A z (Hutchinson's estimator with the same probe).

    Costs ``probes × steps`` products over all of X, and ``steps`` float64 vectors of N entries.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters are not changed.
    X, Y : array_like
        The data, in the forms accepted by ``net.loss_and_gradient``.
    probes : int
        Number of Rademacher start vectors.
    steps : int, optional
        Lanczos steps per probe, 1 ≤ steps ≤ N (``net.n_params``); default min(90, N).
    matrix : {"hessian", "gauss_newton"}
        The exact Hessian H or the generalised Gauss-Newton matrix G.
    seed : int
        Seed of the probes (and of any restart after an invariant subspace).
    grid : int or array_like
        Number of evenly spaced points from min(nodes) − 6σ to max(nodes) + 6σ, or the points.
    sigma : float, optional
        Kernel width; default 1 % of max(nodes) − min(nodes) (1 % of max(abs(max node), 1) if all
        nodes coincide).

    Returns
    -------
    SpectralDensity
        ``nodes``, ``weights``, ``grid``, ``density`` and the trace estimate (``trace``,
        ``trace_std_error``).
    """
    check_matrix(matrix)
    lowered, X, Y = lowered_with_data(net, X, Y)
    n = lowered.plan.n_params
    probes = positive_int(probes, "probes")
    steps = min(90, n) if steps is None else positive_int(steps, "steps")
    if steps > n:
        raise ValueError(f"steps = {steps} exceeds the number of parameters ({n})")
    seed = positive_int(seed, "seed", minimum=0)
    _check_grid_and_sigma(grid, sigma)
    rng = np.random.default_rng(seed)
    nodes = np.zeros((probes, steps))
    weights = np.zeros((probes, steps))
    with operator(lowered, X, Y, matrix, "spectral_density") as matvec:
        for p in range(probes):
            z = 2.0 * rng.integers(0, 2, size=n) - 1.0
            _, alpha, beta = lanczos(matvec, z, steps, rng)
            theta, S = np.linalg.eigh(tridiagonal(alpha, beta))
            nodes[p], weights[p] = theta, S[0] ** 2
    points, width = _grid(grid, sigma, nodes)
    density = np.zeros(points.shape[0])
    norm = 1.0 / (width * math.sqrt(2.0 * math.pi))
    for p in range(probes):
        gap = (points[:, None] - nodes[p][None, :]) / width
        density += norm * np.exp(-0.5 * gap**2) @ weights[p]
    density /= probes
    return SpectralDensity(
        _readonly(nodes), _readonly(weights), _readonly(points), _readonly(density), width, n
    )
