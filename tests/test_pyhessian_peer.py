"""fastbp.spectra beside PyHessian 0.1 (Yao, Gholami, Keutzer, Mahoney) on one network and data.

The network goes to torch with :func:`fastbp.interop.to_torch` (float64).  PyHessian
differentiates ``torch.nn.MSELoss()``, the mean of (a − y)² over all elements; fastbp's squared
loss is the mean over rows of ½‖a − y‖², so with one output PyHessian's loss, Hessian,
eigenvalues and trace are exactly twice fastbp's, and the test halves them.

What is compared: the top-k eigenvalues (PyHessian: power iteration with deflation) and the
Hutchinson trace (PyHessian: ``trace``).  PyHessian's ``density`` is not used: it calls
``torch.eig``, which torch 2.x removed.  Torch and PyHessian are in the dev extra: never skipped.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_network
from pyhessian import hessian as pyhessian_hessian

import fastbp as fb
from fastbp import spectra
from fastbp.hessian import hvp
from fastbp.interop import to_torch

#: PyHessian's ``utils.normalization`` divides by ‖v‖ + 1e-6, so its unit vectors are short.
PYHESSIAN_EPS = 1e-6
#: Agreement asked of the top-k eigenvalues once that known bias is undone (see below).
EIG_RTOL = 1e-6
#: Hutchinson estimates are means of i.i.d. probe values: 4 standard errors (p ≈ 6e-5).
TRACE_SIGMAS = 4.0


def pyhessian_norm(lam: float) -> float:
    """‖v‖ of the vector whose Rayleigh quotient PyHessian's power iteration reports.

    Each of its iterations sets w = H v / (‖H v‖ + ε), then v = w / (‖w‖ + ε) (``orthnormal``
    normalises again) and reports vᵀ H v = λ ‖v‖².  At convergence ‖H v‖ = |λ| ‖v‖, so ‖v‖ is the
    fixed point c = r / (r + ε), r = |λ| c / (|λ| c + ε); about 1 − ε, i.e. a relative bias of
    about −2ε = −2e-6 in every eigenvalue it returns.
    """
    c = 1.0
    for _ in range(50):
        s = abs(lam) * c
        r = s / (s + PYHESSIAN_EPS)
        c = r / (r + PYHESSIAN_EPS)
    return c


@pytest.fixture()
def float64_torch():
    """PyHessian draws its vectors with ``torch.randn(p.size())``: make them float64, seeded."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


@pytest.fixture(scope="module")
def problem():
    # Targets near the network's own output: small residuals keep H close to the (PSD) Gauss-
    # Newton matrix, so its largest-magnitude eigenvalues (what power iteration finds) are its
    # largest algebraic ones (what fastbp.spectra.eigenvalues returns); the test checks it.
    rng = np.random.default_rng(1)
    net = random_network(fb.NetworkSpec([3, 6, 1], ["tanh"], "squared"), rng)
    X = rng.normal(size=(40, 3))
    Y = net.predict(X).reshape(-1, 1) + 0.1 * rng.normal(size=(40, 1))
    H = np.column_stack([hvp(net, X, Y, e) for e in np.eye(net.n_params)])
    return net, X, Y, (H + H.T) / 2


def pyhessian_of(net: fb.Network, X: np.ndarray, Y: np.ndarray):
    model = to_torch(net)
    data = (torch.from_numpy(X), torch.from_numpy(Y))
    return pyhessian_hessian(model, torch.nn.MSELoss(), data=data, cuda=False)


# PyHessian calls loss.backward(create_graph=True), about which torch warns.
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
def test_top_k_eigenvalues_agree_with_pyhessian(problem, float64_torch) -> None:
    net, X, Y, H = problem
    lam = np.linalg.eigvalsh(H)
    k = 3
    assert lam[-k] > 2 * abs(lam[0]), "top-k by magnitude must be the top-k algebraic"
    ours = spectra.eigenvalues(net, X, Y, k=k, tol=1e-12)
    np.testing.assert_allclose(ours.values, lam[::-1][:k], rtol=1e-10)

    values, _ = pyhessian_of(net, X, Y).eigenvalues(maxIter=5000, tol=1e-13, top_n=k)
    theirs = np.array(values) / 2  # MSELoss = 2 × fastbp's ½ (a − y)²
    # As reported, PyHessian's values are short by its normalisation epsilon (≈ 2e-6 relative),
    # more than EIG_RTOL: the bias is asserted, then undone.
    bias = np.array([pyhessian_norm(2 * v) ** 2 for v in ours.values])
    np.testing.assert_allclose(theirs / ours.values, bias, rtol=1e-9)
    np.testing.assert_allclose(theirs / bias, ours.values, rtol=EIG_RTOL)
    assert np.all(np.abs(theirs / ours.values - 1) < 3e-6)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
def test_trace_agrees_with_pyhessian(problem, float64_torch) -> None:
    net, X, Y, H = problem
    exact = np.trace(H)
    # PyHessian's trace returns the probe values zᵀ H z; tol=0 runs all maxIter probes.
    samples = np.array(pyhessian_of(net, X, Y).trace(maxIter=300, tol=0.0)) / 2
    assert samples.shape == (300,)
    theirs, their_se = samples.mean(), samples.std(ddof=1) / np.sqrt(samples.size)
    ours = spectra.spectral_density(net, X, Y, probes=300, steps=3, seed=0)
    assert abs(theirs - exact) <= TRACE_SIGMAS * their_se
    assert abs(ours.trace - exact) <= TRACE_SIGMAS * ours.trace_std_error
    both = np.hypot(their_se, ours.trace_std_error)
    assert abs(theirs - ours.trace) <= TRACE_SIGMAS * both
    # Same probe law (Rademacher): the standard errors estimate the same quantity.
    np.testing.assert_allclose(their_se, ours.trace_std_error, rtol=0.3)
