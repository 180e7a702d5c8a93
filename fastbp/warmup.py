"""Ahead-of-time compilation of every kernel the public API can reach, for both dtypes.

Kernels are compiled on first use and cached on disk, in the per-user cache directory of
:mod:`fastbp._cache`, so only the very first run on a machine pays the compile cost.
:func:`warmup` pays it up front (in a Docker build step, say, or before timing anything): it
drives each public entry point once on a tiny network, so that every generic kernel lands in the
cache for both dtypes, with the argument layouts the public methods pass:

* ``Network``: ``forward``/``predict``/``predict_proba``/``score``/``loss`` and
  ``loss_and_gradient``/``gradient``/``trace`` on one row, on small batches (the packed
  small-batch kernels of :mod:`fastbp.row_kernels`) and on more rows than those take, on
  both paths (explicit loops and BLAS), with and without sample weights, on writeable and
  read-only inputs;
  ``hvp`` and ``gnvp`` on both paths; ``fit`` per example and by minibatch with every
  optimizer, with L2 and with sample weights, and with AdamW, clipping and warm-up (the toolbox
  kernels); ``partial_fit`` on one row and on batches;
* the scikit-learn estimators on dense and sparse (CSR) inputs when scikit-learn is installed,
  the curvature tools when SciPy is; differentiable circuits.

Kernels *specialised to a spec* (:mod:`fastbp.specialise`: per-example SGD, i.e. ``fit`` with
``batch_size=1`` and SGD, and ``partial_fit`` of one row with SGD) are compiled once per
combination of activations, loss, depth and dtype, not per width.  :func:`warmup` compiles them
for ReLU networks of one and two hidden layers and every loss by default (``fastbp train``'s
network among them); ``activations``, ``depths`` and ``specs`` add others.  Any other
combination compiles on its first per-example SGD call (about a second).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from fastbp.compiling import CompileWatch
from fastbp.progress import Progress

if TYPE_CHECKING:
    from fastbp.network import Network
    from fastbp.spec import NetworkSpec

#: The dtypes :func:`warmup` compiles for by default.
DTYPES = ("float32", "float64")


#: The activations and depths (hidden layers) whose specialised kernels warmup compiles by default.
ACTIVATIONS = ("relu",)
DEPTHS = (1, 2)


def default_specs(
    dtype: str, activations: Sequence[str] = ACTIVATIONS, depths: Sequence[int] = DEPTHS
) -> list[NetworkSpec]:
    """Networks of every kind whose specialised kernels :func:`warmup` compiles.

    A specialised kernel serves every network with the same activations, loss, depth and dtype,
    whatever its widths: one spec per kind is enough.

    Parameters
    ----------
    dtype : str
        ``"float32"`` or ``"float64"``.
    activations : sequence of str
        Hidden activations (the same in every hidden layer); ReLU by default.
    depths : sequence of int
        Numbers of hidden layers; 1 and 2 by default (``fastbp train``'s network has 2).

    Returns
    -------
    list of NetworkSpec
        One spec per activation, depth and loss the generator covers
        (:data:`fastbp.specialise.SPECIALISED_LOSSES`).
    """
    from fastbp.losses import LOSSES
    from fastbp.spec import NetworkSpec
    from fastbp.specialise import SPECIALISED_LOSSES

    return [
        NetworkSpec(
            [4, *[5] * depth, 3 if LOSSES[loss][1] == "softmax" else 1], act, loss, dtype
        )  # fmt: skip
        for act in activations
        for depth in depths
        for loss in sorted(SPECIALISED_LOSSES)
    ]


def _both_paths(net: Network) -> Iterator[None]:
    """Loop twice: with every batch on the BLAS products, then on the explicit loops; the
    network's own threshold is restored afterwards."""
    saved = net.lowered.blas_min_rows
    try:
        for rows in (1, 10**9):
            net.lowered.blas_min_rows = rows
            yield
    finally:
        net.lowered.blas_min_rows = saved


def _network_steps(dtype: str) -> list[tuple[str, Callable[[], Any]]]:
    """The calls that load or compile the ``Network`` kernels of one dtype."""
    from fastbp.network import Network
    from fastbp.spec import NetworkSpec

    rng = np.random.default_rng(0)
    nets = [
        Network(NetworkSpec([3, 4, 4, 2], "relu", loss, dtype), seed=0)
        for loss in ("squared", "softmax_cross_entropy")
    ]
    X = rng.normal(size=(40, 3)).astype(dtype)
    X_ro = X.copy()
    X_ro.flags.writeable = False
    Y_reg = rng.normal(size=(40, 2)).astype(dtype)
    Y_cls = np.eye(2, dtype=dtype)[rng.integers(0, 2, size=40)]
    sw = rng.uniform(0.5, 1.5, size=40)
    # More rows than the small-batch kernels take (online.SMALL_MAX_ROWS): the chunked path.
    many = np.concatenate([X] * 8)

    def passes() -> None:
        for net, Y in zip(nets, (Y_reg, Y_cls), strict=True):
            for _ in _both_paths(net):
                for A in (X, X_ro):
                    net.forward(A)
                    net.predict(A)
                    net.score(A, Y)
                    net.loss(A, Y)
                    net.loss(A, Y, sample_weight=sw)
                    net.loss_and_gradient(A, Y)
                    net.loss_and_gradient(A, Y, sample_weight=sw)
                net.forward(many)
                net.loss_and_gradient(many, np.concatenate([Y] * 8))
                net.trace(X[:2], Y[:2])
            if net.spec.loss_record.output == "softmax":
                net.predict_proba(X)
            net.forward(X[:1])  # the one-row fast paths
            net.predict(X[:1])
            net.loss_and_gradient(X[:1], Y[:1])

    def second_order() -> None:
        for net, Y in zip(nets, (Y_reg, Y_cls), strict=True):
            v = np.ones(net.n_params, dtype=dtype)
            for _ in _both_paths(net):
                net.hvp(X, Y, v)
                net.gnvp(X, Y, v)
            net.hvp(X[:1], Y[:1], v)
            net.gnvp(X[:1], Y[:1], v)

    def fits() -> None:
        for net, Y in zip(nets, (Y_reg, Y_cls), strict=True):
            common: dict[str, Any] = dict(epochs=1, progress=False, lr=1e-3)
            net.fit(X, Y, batch_size=1, optimizer="sgd", **common)  # the generic per-example
            net.fit(X, Y, batch_size=1, optimizer="sgd", l2=1e-3, **common)
            for _ in _both_paths(net):
                for opt in ("sgd", "momentum", "nesterov", "adam"):
                    net.fit(X, Y, batch_size=8, optimizer=opt, **common)
                net.fit(X, Y, batch_size=8, optimizer="sgd", l2=1e-3, **common)
                net.fit(X, Y, batch_size=8, optimizer="adam", sample_weight=sw, **common)
            net.fit(X, Y, batch_size=1, optimizer="sgd", sample_weight=sw, **common)
            net.fit(X, Y, batch_size=8, optimizer="sgd", validation_fraction=0.25, **common)
            # The toolbox kernels (fastbp.toolbox_kernels): AdamW, clipping, warm-up.
            net.fit(X, Y, batch_size=8, optimizer="adamw", clip_norm=1.0, warmup=2, **common)
            net.fit(X, Y, batch_size=8, optimizer="adamw", sample_weight=sw, **common)

    def partial_fits() -> None:
        for net, Y in zip(nets, (Y_reg, Y_cls), strict=True):
            for opt in ("sgd", "momentum", "nesterov", "adam"):
                for _ in range(2):  # the first call sets the state up; the second is lean
                    net.partial_fit(X[:1], Y[:1], optimizer=opt, lr=1e-3)
                net.partial_fit(X[:8], Y[:8], optimizer=opt, lr=1e-3, batch_size=4)
                net.partial_fit(X[:8], Y[:8], optimizer=opt, lr=1e-3)

    return [
        ("forward, loss and gradient", passes),
        ("H v and G v", second_order),
        ("fit", fits),
        ("partial_fit", partial_fits),
    ]


def _generic_per_example(dtype: str) -> None:
    """The generic per-example SGD kernel (losses the generator does not cover: poisson)."""
    from fastbp.network import Network
    from fastbp.spec import NetworkSpec

    rng = np.random.default_rng(0)
    net = Network(NetworkSpec([3, 4, 1], "relu", "poisson", dtype), seed=0)
    X = rng.normal(size=(16, 3)).astype(dtype)
    Y = rng.poisson(1.0, size=(16, 1)).astype(dtype)
    net.fit(X, Y, epochs=1, batch_size=1, lr=1e-3, progress=False)
    net.fit(X, Y, epochs=1, batch_size=1, lr=1e-3, l2=1e-3, progress=False)


def _specialised(specs: Iterable[NetworkSpec]) -> None:
    """Per-example SGD fits, which compile the kernels specialised to each spec."""
    from fastbp.network import Network

    rng = np.random.default_rng(0)
    for spec in specs:
        net = Network(spec, seed=0)
        X = rng.normal(size=(8, spec.n_inputs)).astype(spec.np_dtype)
        Y = np.zeros((8, spec.n_outputs), dtype=spec.np_dtype)
        Y[:, 0] = 1.0  # a valid target of every loss (one-hot, 0/1, any real)
        for l2 in (0.0, 1e-3):
            net.fit(X, Y, epochs=1, batch_size=1, lr=1e-3, l2=l2, progress=False)


def _sparse_and_sklearn(dtype: str) -> None:
    """The scikit-learn estimators, on dense and CSR inputs (scikit-learn installed)."""
    import warnings

    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(dtype)
    y = rng.integers(0, 3, size=40)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    from sklearn.exceptions import ConvergenceWarning

    from fastbp.sklearn import MLPClassifier, MLPRegressor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for solver in ("adam", "sgd", "lbfgs"):
            for data in (X, Xs):
                clf = MLPClassifier((4,), solver=solver, max_iter=2, dtype=dtype, random_state=0)
                clf.fit(data, y).predict_proba(data)
                reg = MLPRegressor((4,), solver=solver, max_iter=2, dtype=dtype, random_state=0)
                reg.fit(data, X[:, 0]).predict(data)
            if solver != "lbfgs":
                clf = MLPClassifier((4,), solver=solver, dtype=dtype, random_state=0)
                for _ in range(2):
                    clf.partial_fit(X, y, classes=np.arange(3))
                    clf.partial_fit(X[:1], y[:1])
                    clf.partial_fit(Xs, y)


def _curvature(dtype: str) -> None:
    """The curvature tools (Lanczos, Hutchinson), which run H v on the network."""
    from fastbp import curvature
    from fastbp.network import Network
    from fastbp.spec import NetworkSpec

    rng = np.random.default_rng(0)
    net = Network(NetworkSpec([3, 4, 1], "tanh", "squared", dtype), seed=0)
    X = rng.normal(size=(20, 3)).astype(dtype)
    Y = rng.normal(size=(20, 1)).astype(dtype)
    curvature.sharpness(net, X, Y, iters=3, seed=0)
    curvature.hutchinson_trace(net, X, Y, samples=2, seed=0)


def _circuits() -> None:
    """Differentiable circuits (float64 only)."""
    from fastbp import circuit as fc

    c = fc.record(lambda a, b: fc.sin(a * b) + fc.exp(b) / a, n_inputs=2)
    x = np.array([1.0, 2.0])
    xs = np.array([[1.0, 2.0], [0.5, 1.5]])
    c.value(x)
    c.value_and_gradient(x)
    c.gradient(xs)
    c.jvp(x, x)
    c.hvp(x, x)


def steps(
    dtypes: Sequence[str] = DTYPES,
    specs: Iterable[NetworkSpec] = (),
    activations: Sequence[str] = ACTIVATIONS,
    depths: Sequence[int] = DEPTHS,
    parts: Sequence[str] | None = None,
) -> list[tuple[str, Callable[[], Any]]]:
    """The steps :func:`warmup` runs, as ``(description, call)`` pairs.

    Parameters
    ----------
    dtypes : sequence of str
        The dtypes to compile for.
    specs : iterable of NetworkSpec
        More networks whose specialised per-example kernels to compile.
    activations, depths : sequence
        As in :func:`default_specs`.
    parts : sequence of str, optional
        Keep only the steps of these names (the text after ``"<dtype>: "``, e.g. ``"fit"``);
        all by default.

    Returns
    -------
    list of (str, callable)
    """
    have_scipy = importlib.util.find_spec("scipy") is not None
    have_sklearn = importlib.util.find_spec("sklearn") is not None
    out: list[tuple[str, Callable[[], Any]]] = []
    for dtype in dtypes:
        for name, call in _network_steps(dtype):
            out.append((f"{dtype}: {name}", call))
        chosen = default_specs(dtype, activations, depths)
        chosen += [s for s in specs if s.dtype == dtype]
        out.append((f"{dtype}: per-example SGD, generic", partial(_generic_per_example, dtype)))
        out.append((f"{dtype}: per-example SGD, specialised", partial(_specialised, chosen)))
        if have_sklearn:
            out.append((f"{dtype}: estimators", partial(_sparse_and_sklearn, dtype)))
        if have_scipy:
            out.append((f"{dtype}: curvature", partial(_curvature, dtype)))
    out.append(("circuits", _circuits))
    if parts is not None:
        out = [(name, call) for name, call in out if name.split(": ", 1)[-1] in parts]
    return out


def warmup(
    dtypes: Sequence[str] = DTYPES,
    *,
    activations: Sequence[str] = ACTIVATIONS,
    depths: Sequence[int] = DEPTHS,
    specs: Iterable[NetworkSpec] = (),
    parts: Sequence[str] | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Compile (or load from the disk cache) every kernel the public API reaches.

    Parameters
    ----------
    dtypes : sequence of str
        The dtypes to compile for, ``("float32", "float64")`` by default.
    activations : sequence of str
        Hidden activations whose spec-specialised per-example SGD kernels to compile, for every
        depth in ``depths`` and every loss (:func:`default_specs`); ReLU by default.
    depths : sequence of int
        Numbers of hidden layers for those kernels; 1 and 2 by default.
    specs : iterable of NetworkSpec
        More networks whose specialised kernels to compile (mixed activations, say).  Only
        their activations, loss, depth and dtype matter, not their widths.
    parts : sequence of str, optional
        Only these steps (see :func:`steps`); all by default.
    progress : bool
        Show a progress display over the steps on stderr.

    Returns
    -------
    dict of str to float
        Seconds per dtype (``"circuits"`` for the circuit kernels), and ``"compile"`` and
        ``"load"``: the seconds spent compiling and loading kernels, and ``"total"``.

    Notes
    -----
    Warm the cache from another process when results must match other processes to the last
    bit.  A kernel loaded from the cache calls the helpers compiled into it, unless the process
    loaded a helper of the same name on its own before (a public call that runs it directly,
    as warmup makes): Numba then binds the call to that earlier copy, which LLVM may have
    vectorised differently.  Both are correct to rounding; a sweep's Dask workers therefore
    warm the cache in a child process (:func:`fastbp.sweep.backends.warm_cache`).

    Examples
    --------
    >>> import fastbp
    >>> seconds = fastbp.warmup(("float64",))   # doctest: +SKIP
    """
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise ValueError(f"dtypes: {dtype!r} is not one of {list(DTYPES)}")
    plan = steps(tuple(dtypes), list(specs), tuple(activations), tuple(depths), parts)
    seconds: dict[str, float] = {}
    t_all = time.perf_counter()
    with (
        CompileWatch() as watch,
        Progress(len(plan), progress, unit="step", desc="warmup") as bar,
    ):
        for name, call in plan:
            t0 = time.perf_counter()
            call()
            key = name.split(":")[0]
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
            bar.update()
    seconds["compile"] = watch.compile_seconds
    seconds["load"] = watch.load_seconds
    seconds["total"] = time.perf_counter() - t_all
    return seconds
