"""AdamW, weight_decay, clip_norm and the linear warm-up (fastbp.toolbox_kernels, train.toolbox).

Three yardsticks:

* the pure-Python :func:`fastbp.reference.optimizer_step` (float64 lists) for the compiled
  :func:`fastbp.toolbox_kernels.toolbox_step`, every optimizer and option, and with
  :func:`fastbp.reference.loss_and_gradient` for the epoch kernel ``minibatch_epoch_toolbox``;
* PyTorch's optimizers, ``clip_grad_norm_`` and ``LinearLR``, fed the same gradients, for the
  same step (weights in a parameter group with ``weight_decay``, biases in one without: fastbp
  decays weights only);
* a PyTorch training loop (autograd on ``net.to_torch()``) for ``fit`` and ``partial_fit``.

Tolerances: float64 steps differ from the references only by rounding order (the norm's sum,
Adam's m̂/(√ŝ+ε) formed in another order): rtol 1e-12 as the issue asks, with a floor of
1e-14 for entries near 0.  float32 steps carry float32 rounding (eps 6e-8) of a few operations
per step over a few steps: rtol 1e-5 (the issue's).  End-to-end fits add the forward and
backward passes' summation order (compiled BLAS against torch's) over 2 epochs of small
batches: float64 rtol 1e-10, float32 rtol 1e-4 with the absolute floor of conftest's TOL.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import fastbp as fb
from fastbp import reference as ref
from fastbp.format_version import version_for as _version_for
from fastbp.io import read_header
from fastbp.optim import OPTIMIZERS, Optimizer
from fastbp.toolbox_kernels import toolbox_step
from fastbp.train import toolbox

torch = pytest.importorskip("torch")

STEP_TOL = {"float64": (1e-12, 1e-14), "float32": (1e-5, 1e-6)}
FIT_TOL = {"float64": (1e-10, 1e-12), "float32": (1e-4, 2e-5)}
DTYPES = ["float64", "float32"]
NAMES = list(OPTIMIZERS)
ACTS = ["tanh", "relu", "sigmoid", "identity"]


def close(actual, desired, tol, what=""):
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    rtol, atol = tol
    scale = max(1.0, float(np.max(np.abs(desired))))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol * scale, err_msg=what)


def random_spec(case: int, dtype: str) -> fb.NetworkSpec:
    """Depth 1-3, widths 1-9, activations cycled by ``case``."""
    rng = np.random.default_rng(100 + case)
    depth = 1 + case % 3
    widths = [int(w) for w in rng.integers(1, 10, size=depth + 1)]
    acts = [ACTS[(case + k) % len(ACTS)] for k in range(depth - 1)]
    return fb.NetworkSpec(widths, acts, "squared", dtype=dtype)


def layers(spec: fb.NetworkSpec, flat: np.ndarray) -> tuple[list, list]:
    """The weight and bias blocks of a flat buffer, as views (layout W[1], b[1], ...)."""
    Ws, bs, q = [], [], 0
    for k in range(1, len(spec.widths)):
        n_out, n_in = spec.widths[k], spec.widths[k - 1]
        Ws.append(flat[q : q + n_out * n_in].reshape(n_out, n_in))
        q += n_out * n_in
        bs.append(flat[q : q + n_out])
        q += n_out
    return Ws, bs


def torch_optimizer(name, groups, lr, mu, wd):
    """The torch optimizer fastbp's ``name`` follows; ``groups``: (weights, biases)."""
    weights, biases = groups
    params = [{"params": weights, "weight_decay": wd}, {"params": biases, "weight_decay": 0.0}]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, foreach=False)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=mu, nesterov=name == "nesterov",
                               foreach=False)  # fmt: skip
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return cls(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=False)


def warmup_scheduler(opt, warmup):
    """torch's LinearLR: factor (t+1)/W at scheduler step t, fastbp's min(1, t'/W) at t' = t+1."""
    if warmup < 2:
        return None
    return torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup, total_iters=warmup - 1)


# Options: (weight_decay, clip_norm, warmup); clip 0.3 is active on these gradients, 1e6 is not.
OPTIONS = [(0.0, None, 0), (0.05, None, 0), (0.05, 0.3, 0), (0.0, 1e6, 0), (0.1, 0.3, 4)]


def run_steps(name, dtype, wd, clip, warmup, case, n_steps=6):
    """The compiled steps, the reference's and torch's over the same random gradients."""
    spec = random_spec(case, dtype)
    rng = np.random.default_rng(case)
    n = spec.n_params
    theta0 = rng.normal(size=n).astype(dtype)
    grads = [rng.normal(scale=0.5, size=n).astype(dtype) for _ in range(n_steps)]
    mask = np.asarray(ref.weight_mask(spec.widths), dtype=dtype)
    lr, mu = 0.05, 0.9
    opt = Optimizer(name, momentum=mu, weight_decay=wd)
    opt.reset(n, np.dtype(dtype))
    theta = theta0.copy()
    ref_theta, state = list(map(float, theta0)), {}
    for g in grads:
        gc = g.copy()
        toolbox_step(opt.code, theta, gc, mask, lr, mu, opt.beta1, opt.beta2, opt.eps, wd,
                     0.0 if clip is None else clip, warmup, opt.s1, opt.s2, opt.step)  # fmt: skip
        ref_theta = ref.optimizer_step(name, ref_theta, list(map(float, g)), list(mask), state,
                                       lr, mu=mu, weight_decay=wd, clip_norm=clip,
                                       warmup=warmup)  # fmt: skip
    tdtype = getattr(torch, dtype)
    flat = torch.tensor(theta0, dtype=tdtype)
    Ws, bs = layers(spec, flat)
    tW = [w.clone().requires_grad_(True) for w in Ws]
    tb = [b.clone().requires_grad_(True) for b in bs]
    topt = torch_optimizer(name, (tW, tb), lr, mu, wd)
    sched = warmup_scheduler(topt, warmup)
    for g in grads:
        gW, gb = layers(spec, torch.tensor(g, dtype=tdtype))
        for p, gp in zip(tW + tb, gW + gb, strict=True):
            p.grad = gp.clone()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(tW + tb, clip, foreach=False)
        topt.step()
        if sched is not None:
            sched.step()
    torch_theta = np.concatenate(
        [
            np.concatenate([w.detach().numpy().ravel(), b.detach().numpy()])
            for w, b in zip(tW, tb, strict=True)
        ]
    )
    return theta, np.asarray(ref_theta), torch_theta, int(opt.step[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("name", NAMES)
def test_toolbox_step_matches_reference_and_torch(name, options, dtype) -> None:
    wd, clip, warmup = options
    for case in range(3):
        theta, ref_theta, torch_theta, steps = run_steps(name, dtype, wd, clip, warmup, case)
        assert steps == 6
        assert theta.dtype == np.dtype(dtype)
        close(theta, ref_theta, STEP_TOL[dtype], f"{name} {options} case {case}: reference")
        if warmup and name in ("momentum", "nesterov"):
            # torch's momentum buffer holds raw gradients (v ← μ v + g, θ ← θ − α v); fastbp's
            # holds steps (v ← μ v − α g), so the two agree only while α is constant.
            continue
        close(theta, torch_theta, STEP_TOL[dtype], f"{name} {options} case {case}: torch")


def test_clipping_is_exactly_torchs_factor() -> None:
    """An active clip scales by C/(‖g‖+1e-6); an inactive one (C ≥ ‖g‖) leaves g alone."""
    g = np.array([3.0, 4.0, 0.0, 0.0])
    mask = np.ones(4)
    for clip, want in ((1.0, 1.0 / (5.0 + 1e-6)), (10.0, 1.0)):
        params, grad = np.zeros(4), g.copy()
        opt = Optimizer("sgd")
        opt.reset(4, np.dtype("float64"))
        toolbox_step(opt.code, params, grad, mask, 1.0, 0.9, 0.9, 0.999, 1e-8, 0.0, clip, 0,
                     opt.s1, opt.s2, opt.step)  # fmt: skip
        np.testing.assert_array_equal(params, -g * want if want != 1.0 else -g)


def torch_fit(net0, X, Y, name, lr, l2, wd, clip, warmup, batch_size, epochs, mu=0.9):
    """The torch loop fastbp's fit(shuffle=False) runs: mean ½‖a − y‖² + (l2/2) Σ‖W‖² per batch,
    clipping, the optimizer (weights decayed only) and LinearLR stepped once per batch."""
    model = net0.to_torch()
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    tW = [m.weight for m in linears]
    topt = torch_optimizer(name, (tW, [m.bias for m in linears]), lr, mu, wd)
    sched = warmup_scheduler(topt, warmup)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(epochs):
        for lo in range(0, X.shape[0], batch_size):
            topt.zero_grad()
            out = model(Xt[lo : lo + batch_size])
            loss = 0.5 * ((out - Yt[lo : lo + batch_size]) ** 2).sum(dim=1).mean()
            loss = loss + 0.5 * l2 * sum((w**2).sum() for w in tW)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip, foreach=False)
            topt.step()
            if sched is not None:
                sched.step()
    return np.concatenate(
        [np.concatenate([m.weight.detach().numpy().ravel(), m.bias.detach().numpy()])
         for m in linears]
    )  # fmt: skip


FIT_CASES = [
    ("adamw", 0.0, 0.01, None, 0, 4),
    ("adamw", 0.01, 0.1, 0.5, 5, 3),
    ("adam", 0.0, 0.05, 0.2, 0, 1),
    ("sgd", 0.01, 0.1, 0.2, 3, 1),
    ("momentum", 0.0, 0.05, 0.3, 0, 5),
    ("nesterov", 0.02, 0.05, None, 0, 2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(FIT_CASES)))
def test_fit_matches_a_torch_loop(case, dtype) -> None:
    name, l2, wd, clip, warmup, batch_size = FIT_CASES[case]
    spec = random_spec(case, dtype)
    rng = np.random.default_rng(case)
    X = rng.normal(size=(13, spec.n_inputs)).astype(dtype)
    Y = rng.normal(size=(13, spec.n_outputs)).astype(dtype)
    net = fb.Network(spec, seed=case)
    want = torch_fit(net, X, Y, name, 0.05, l2, wd, clip, warmup, batch_size, epochs=2)
    net.fit(X, Y, epochs=2, batch_size=batch_size, optimizer=name, lr=0.05, l2=l2,
            weight_decay=wd, clip_norm=clip, warmup=warmup, shuffle=False,
            progress=False)  # fmt: skip
    close(net.params, want, FIT_TOL[dtype], f"{FIT_CASES[case]}")
    assert net.optimizer.step[0] == 2 * math.ceil(13 / batch_size)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 4])
def test_partial_fit_continues_warmup_and_decay_as_one_torch_loop(dtype, batch_size) -> None:
    """Calls on consecutive blocks continue the step count (warm-up) and AdamW's state."""
    spec = random_spec(1, dtype)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(12, spec.n_inputs)).astype(dtype)
    Y = rng.normal(size=(12, spec.n_outputs)).astype(dtype)
    net = fb.Network(spec, seed=3)
    want = torch_fit(net, X, Y, "adamw", 0.05, 0.0, 0.1, 0.4, 5, batch_size, epochs=1)
    block = 2 * batch_size
    for lo in range(0, 12, block):
        kw = {"optimizer": "adamw", "lr": 0.05, "weight_decay": 0.1} if lo == 0 else {}
        net.partial_fit(X[lo : lo + block], Y[lo : lo + block], batch_size=batch_size,
                        clip_norm=0.4, warmup=5, **kw)  # fmt: skip
    close(net.params, want, FIT_TOL[dtype], f"batch_size {batch_size}")
    # With the defaults, a later call continues adamw with its decay (not the plain lean path).
    net2 = fb.Network(spec, seed=3)
    net2.partial_fit(X, Y, optimizer="adamw", lr=0.05, weight_decay=0.1, batch_size=12)
    net2.partial_fit(X, Y, batch_size=12)
    net3 = fb.Network(spec, seed=3)
    net3.fit(X, Y, epochs=2, batch_size=12, optimizer="adamw", lr=0.05, weight_decay=0.1,
             shuffle=False, progress=False)  # fmt: skip
    np.testing.assert_array_equal(net2.params, net3.params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_weight_path_applies_the_options(dtype) -> None:
    """Unit sample weights take the weighted (Python-driven) path and give the same steps."""
    spec = random_spec(2, dtype)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, spec.n_inputs)).astype(dtype)
    Y = rng.normal(size=(10, spec.n_outputs)).astype(dtype)
    kw = dict(epochs=2, batch_size=3, optimizer="adamw", lr=0.05, weight_decay=0.2,
              clip_norm=0.3, warmup=4, shuffle=False, progress=False)  # fmt: skip
    a, b = fb.Network(spec, seed=1), fb.Network(spec, seed=1)
    a.fit(X, Y, **kw)
    b.fit(X, Y, sample_weight=np.ones(10), **kw)
    close(b.params, a.params, FIT_TOL[dtype])


def test_defaults_keep_the_fast_paths() -> None:
    """All options off: no toolbox (the fused and specialised kernels run as before)."""
    assert toolbox(Optimizer("sgd"), None, 0, False) is None
    assert toolbox(Optimizer("adam"), None, 0, False) is None
    assert toolbox(Optimizer("adamw"), None, 0, False) == (0.01, 0.0, 0)
    assert toolbox(Optimizer("sgd", weight_decay=0.0), 2.0, 0, False) == (0.0, 2.0, 0)
    assert Optimizer("adamw").weight_decay == 0.01 and Optimizer("momentum").weight_decay == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"clip_norm": 0.0}, ValueError, "clip_norm"),
        ({"clip_norm": -1.0}, ValueError, "clip_norm"),
        ({"clip_norm": math.nan}, ValueError, "clip_norm"),
        ({"clip_norm": "1"}, TypeError, "clip_norm"),
        ({"clip_norm": True}, TypeError, "clip_norm"),
        ({"warmup": -1}, ValueError, "warmup"),
        ({"warmup": 2.5}, TypeError, "warmup"),
        ({"warmup": True}, TypeError, "warmup"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
        ({"weight_decay": math.inf}, ValueError, "weight_decay"),
        ({"weight_decay": "0.1"}, TypeError, "weight_decay"),
        ({"weight_decay": 0.1, "optimizer": Optimizer("adam")}, TypeError, "weight_decay"),
        ({"clip_norm": 1.0, "max_grad_norm": 1.0}, ValueError, "DP-SGD"),
        ({"optimizer": "adamw", "max_grad_norm": 1.0}, ValueError, "DP-SGD"),
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_settings_are_refused_before_training(kwargs, error, match, method) -> None:
    spec = random_spec(0, "float64")
    net = fb.Network(spec, seed=0)
    net.fit(np.zeros((4, spec.n_inputs)), np.zeros((4, spec.n_outputs)), epochs=1,
            optimizer="momentum", progress=False)  # fmt: skip
    before, opt = net.params.copy(), net.optimizer
    X, Y = np.ones((4, spec.n_inputs)), np.ones((4, spec.n_outputs))
    extra = {"progress": False} if method == "fit" else {}
    with pytest.raises(error, match=match):
        getattr(net, method)(X, Y, **kwargs, **extra)
    np.testing.assert_array_equal(net.params, before)
    assert net.optimizer is opt


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_saved_networks_keep_weight_decay(tmp_path, name) -> None:
    spec = random_spec(1, "float64")
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, spec.n_inputs)), rng.normal(size=(8, spec.n_outputs))
    net = fb.Network(spec, seed=0)
    net.fit(X, Y, epochs=1, batch_size=4, optimizer=name, weight_decay=0.03, progress=False)
    path = net.save(tmp_path / "m.fastbp")
    assert read_header(path)["format_version"] == 2
    back = fb.Network.load(path)
    assert back.optimizer.name == name and back.optimizer.weight_decay == 0.03
    np.testing.assert_array_equal(back.optimizer.s1, net.optimizer.s1)
    # Continuing after the load equals continuing in memory.
    net.fit(X, Y, epochs=1, batch_size=4, optimizer=net.optimizer, warm_start=True, progress=False)
    back.fit(X, Y, epochs=1, batch_size=4, optimizer=back.optimizer, warm_start=True,
             progress=False)  # fmt: skip
    np.testing.assert_array_equal(back.params, net.params)


def test_plain_settings_write_format_version_1(tmp_path) -> None:
    """Files without the new settings stay readable by fastbp before them (version 1)."""
    assert _version_for(Optimizer("adam").settings()) == 1
    assert _version_for(None) == 1
    assert _version_for(Optimizer("adamw", weight_decay=0.0).settings()) == 2
    assert Optimizer.from_record(Optimizer("adamw", weight_decay=0.0).settings(), None, 3,
                                 np.dtype("float64")).weight_decay == 0.0  # fmt: skip
    assert "weight_decay" not in Optimizer("momentum").settings()


# ----------------------------------------------------------------------------- estimators
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("solver", "wd", "clip", "sparse", "weighted"),
    [("sgd", 0.1, 0.2, False, False), ("adam", 0.05, None, False, False),
     ("adam", 0.0, 0.3, True, False), ("sgd", 0.2, 0.5, False, True),
     ("adamw", None, 0.3, False, False), ("adamw", 0.1, None, True, False)],
)  # fmt: skip
@pytest.mark.parametrize("warmup", [0, 7])
def test_estimator_steps_equal_the_core_fit(dtype, solver, wd, clip, sparse, weighted,
                                            warmup) -> None:  # fmt: skip
    """The regressor (shuffle=False, alpha=0, constant rate) trains as Network.fit does with
    the same options, from the same parameters: dense, sparse (densified chunks) and unit
    sample weights (the weighted per-batch path); ``solver="adamw"`` with its default
    weight decay (None: 0.01) and given; with and without a warm-up."""
    import warnings

    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning

    from fastbp.sklearn import MLPRegressor

    rng = np.random.default_rng(5)
    X = rng.normal(size=(24, 5))
    y = rng.normal(size=24)
    est = MLPRegressor((6,), activation="tanh", solver=solver, alpha=0.0, batch_size=5,
                       learning_rate_init=0.05, momentum=0.0, shuffle=False, max_iter=1,
                       random_state=0, dtype=dtype, tol=0.0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        net = est.network_.copy()
        est.set_params(warm_start=True, max_iter=3, weight_decay=wd, clip_norm=clip,
                       warmup=warmup)  # fmt: skip
        est.fit(sp.csr_matrix(X) if sparse else X, y,
                sample_weight=np.ones(24) if weighted else None)  # fmt: skip
    assert est.n_iter_ == 3
    net.fit(X.astype(dtype), y.reshape(-1, 1).astype(dtype), epochs=3, batch_size=5,
            optimizer=solver, lr=0.05, weight_decay=wd, clip_norm=clip, warmup=warmup,
            shuffle=False, progress=False)  # fmt: skip
    close(est.network_.params, net.params, FIT_TOL[dtype], f"{solver} {wd} {clip} {warmup}")
    assert est.network_.optimizer.weight_decay == (0.01 if wd is None else wd)
    assert est.network_.optimizer.name == solver


@pytest.mark.parametrize("dtype", DTYPES)
def test_estimator_partial_fit_continues_the_warmup(dtype) -> None:
    """Three partial_fit calls of the regressor (solver="adamw", a warm-up of 6 steps that
    spans them, clipping) equal one call on the same rows: the step count and AdamW's state
    carry over; without the warm-up the result differs."""
    from fastbp.sklearn import MLPRegressor

    rng = np.random.default_rng(8)
    X = rng.normal(size=(24, 4))
    y = rng.normal(size=24)

    def make(warmup):
        return MLPRegressor((5,), activation="gelu", solver="adamw", alpha=0.0, batch_size=4,
                            learning_rate_init=0.02, shuffle=False, random_state=0,
                            dtype=dtype, warmup=warmup, clip_norm=0.5)  # fmt: skip

    blocks, whole, plain = make(6), make(6), make(0)
    for lo in (0, 8, 16):
        blocks.partial_fit(X[lo : lo + 8], y[lo : lo + 8])
    whole.partial_fit(X, y)
    plain.partial_fit(X, y)
    close(blocks.network_.params, whole.network_.params, FIT_TOL[dtype], "blocks")
    assert blocks.network_.optimizer.step[0] == 6
    assert not np.allclose(plain.network_.params, whole.network_.params)


def test_estimator_adamw_without_decay_is_adam() -> None:
    """solver="adamw" with weight_decay=0 trains as "adam" (the compiled epoch loop too, where
    the sgd solvers' schedules must not apply): learning_rate="invscaling" is ignored."""
    from fastbp.sklearn import MLPClassifier

    X = np.random.default_rng(1).normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    kw = {"max_iter": 5, "random_state": 0, "learning_rate": "invscaling", "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MLPClassifier((6,), solver="adam", **kw).fit(X, y)
        b = MLPClassifier((6,), solver="adamw", weight_decay=0.0, **kw).fit(X, y)
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    assert a._lr == b._lr == 1e-3


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"weight_decay": -1.0}, ValueError), ({"weight_decay": math.nan}, ValueError),
     ({"weight_decay": "0.1"}, TypeError), ({"clip_norm": 0.0}, ValueError),
     ({"clip_norm": "1"}, TypeError), ({"clip_norm": 1.0, "solver": "lbfgs"}, ValueError),
     ({"weight_decay": 0.1, "max_grad_norm": 1.0}, ValueError),
     ({"warmup": -1}, ValueError), ({"warmup": 2.5}, TypeError),
     ({"warmup": 5, "solver": "lbfgs"}, ValueError),
     ({"solver": "adamw", "max_grad_norm": 1.0}, ValueError)],
)  # fmt: skip
def test_estimators_refuse_bad_toolbox_settings(kwargs, error) -> None:
    from fastbp.sklearn import MLPClassifier

    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(error):
        MLPClassifier((4,), max_iter=1, **kwargs).fit(X, np.arange(10) % 2)


# Ensembles: member i runs the very kernel a single fit runs (toolbox_kernels'
# minibatch_epoch_toolbox), on its own row, so it equals the solo fit bit for bit.
ENSEMBLE_TOOLS = [
    ("adamw", {"weight_decay": 0.05, "clip_norm": 0.3, "warmup": 5}, 1),
    ("adamw", {"clip_norm": 0.3}, 8),
    ("momentum", {"weight_decay": 0.02, "warmup": 3}, 8),
    ("sgd", {"clip_norm": 0.3}, 1),
]


@pytest.mark.parametrize(("optimizer", "tools", "batch_size"), ENSEMBLE_TOOLS)
def test_ensemble_members_equal_solo_fits_with_the_options(optimizer, tools, batch_size) -> None:
    spec = random_spec(3, "float64")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, spec.n_inputs))
    Y = rng.normal(size=(40, spec.n_outputs))
    lrs = np.array([0.01, 0.03, 0.02])
    ens = fb.Ensemble(spec, 3, seed=4)
    ens.fit(X, Y, epochs=2, batch_size=batch_size, optimizer=optimizer, lr=lrs, seed=9,
            progress=False, **tools)  # fmt: skip
    for i in range(3):
        net = fb.Network(spec, seed=4 + i)
        net.fit(X, Y, epochs=2, batch_size=batch_size, optimizer=optimizer, lr=float(lrs[i]),
                seed=9 + i, progress=False, **tools)  # fmt: skip
        np.testing.assert_array_equal(ens.params[i], net.params, err_msg=f"member {i}")
        assert ens.histories[i].loss == net.history.loss


def test_ensemble_partial_fit_members_equal_network_partial_fit() -> None:
    spec = random_spec(1, "float32")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(24, spec.n_inputs)).astype("float32")
    Y = rng.normal(size=(24, spec.n_outputs)).astype("float32")
    lrs = np.array([0.01, 0.05])
    ens = fb.Ensemble(spec, 2, seed=1)
    nets = [fb.Network(spec, seed=1 + i) for i in range(2)]
    calls = [
        {"optimizer": "adamw", "weight_decay": 0.1, "clip_norm": 0.5, "warmup": 4, "lr": lrs},
        {"clip_norm": 0.5},  # continues adamw with its λ_wd and the warm-up's step count
        {"weight_decay": 0.2},  # another λ_wd continues the state
    ]
    for lo, kw in zip(range(0, 24, 8), calls, strict=True):
        losses = ens.partial_fit(X[lo : lo + 8], Y[lo : lo + 8], batch_size=3, **kw)
        for i, net in enumerate(nets):
            kwi = {k: (float(v[i]) if k == "lr" else v) for k, v in kw.items()}
            loss = net.partial_fit(X[lo : lo + 8], Y[lo : lo + 8], batch_size=3, **kwi)
            assert losses[i] == loss
            np.testing.assert_array_equal(ens.params[i], net.params)
    assert ens.state is not None and ens.state.settings.weight_decay == 0.2


def test_ensemble_with_adamw_saves_and_continues(tmp_path) -> None:
    spec = random_spec(0, "float64")
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(16, spec.n_inputs)), rng.normal(size=(16, spec.n_outputs))
    ens = fb.Ensemble(spec, 2, seed=0)
    kw = dict(batch_size=4, optimizer="adamw", lr=0.01, weight_decay=0.03, progress=False)
    ens.fit(X, Y, epochs=1, **kw)
    back = fb.Ensemble.load(ens.save(tmp_path / "e.fastbp"))
    assert back.state is not None and back.state.settings.weight_decay == 0.03
    ens.fit(X, Y, epochs=1, warm_start=True, **kw)
    back.fit(X, Y, epochs=1, warm_start=True, **kw)
    np.testing.assert_array_equal(back.params, ens.params)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"clip_norm": 0.0}, ValueError), ({"warmup": -1}, ValueError),
     ({"weight_decay": -1.0}, ValueError),
     ({"weight_decay": 0.1, "optimizer": Optimizer("adam")}, TypeError)],
)  # fmt: skip
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_ensembles_refuse_bad_toolbox_settings(kwargs, error, method) -> None:
    spec = random_spec(0, "float64")
    ens = fb.Ensemble(spec, 2, seed=0)
    before = ens.params.copy()
    X, Y = np.ones((4, spec.n_inputs)), np.ones((4, spec.n_outputs))
    extra = {"progress": False} if method == "fit" else {}
    with pytest.raises(error):
        getattr(ens, method)(X, Y, **kwargs, **extra)
    np.testing.assert_array_equal(ens.params, before)


def test_partial_fit_weight_decay_defaults() -> None:
    """None keeps λ_wd while the name stays (as momentum=None keeps μ); a new name's default."""
    spec = random_spec(0, "float64")
    X, Y = np.ones((4, spec.n_inputs)), np.ones((4, spec.n_outputs))
    net = fb.Network(spec, seed=0)
    net.partial_fit(X, Y, optimizer="adamw", weight_decay=0.05, lr=0.01)
    for optimizer, want in ((None, 0.05), ("adamw", 0.05), ("adam", 0.0), ("adamw", 0.01)):
        net.partial_fit(X, Y, optimizer=optimizer)
        assert (net.optimizer.name, net.optimizer.weight_decay) == (optimizer or "adamw", want)
    step = int(net.optimizer.step[0])
    net.partial_fit(X, Y, weight_decay=0.2)  # another λ_wd continues the state
    assert net.optimizer.weight_decay == 0.2 and net.optimizer.step[0] == step + 4


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(FIT_CASES)))
def test_minibatch_epoch_toolbox_matches_reference(case, dtype) -> None:
    """fit with the options (minibatch_epoch_toolbox) against the pure-Python reference's
    batches: loss_and_gradient + (l2 term) + optimizer_step, in order."""
    name, l2, wd, clip, warmup, batch_size = FIT_CASES[case]
    spec = random_spec(case + 3, dtype)
    rng = np.random.default_rng(case + 3)
    X = rng.normal(size=(11, spec.n_inputs)).astype(dtype)
    Y = rng.normal(size=(11, spec.n_outputs)).astype(dtype)
    net = fb.Network(spec, seed=case)
    theta, state = [float(v) for v in net.params], {}
    mask = ref.weight_mask(spec.widths)
    for lo in range(0, 11, batch_size):
        Xb, Yb = X[lo : lo + batch_size].tolist(), Y[lo : lo + batch_size].tolist()
        g = ref.loss_and_gradient(theta, spec.widths, spec.activations, "squared", Xb, Yb).grad
        g = [g[q] + l2 * mask[q] * theta[q] for q in range(len(g))]
        theta = ref.optimizer_step(name, theta, g, mask, state, 0.05, weight_decay=wd,
                                   clip_norm=clip, warmup=warmup)  # fmt: skip
    net.fit(X, Y, epochs=1, batch_size=batch_size, optimizer=name, lr=0.05, l2=l2,
            weight_decay=wd, clip_norm=clip, warmup=warmup, shuffle=False,
            progress=False)  # fmt: skip
    close(net.params, theta, FIT_TOL[dtype], f"{FIT_CASES[case]}")
