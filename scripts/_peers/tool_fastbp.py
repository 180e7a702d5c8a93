"""fastbp itself: the public API (``Network.fit``), and the compiled epoch kernel called directly.

``variant="fit"`` (the headline) times ``net.fit(X, Y, epochs=1, ...)``, validation and the
divergence checks included.  ``variant="kernel"`` calls the epoch kernel ``fit`` runs (for
batch 1 the spec-specialised ``fastbp.specialise.sgd_example_epoch``, else
``fastbp.epochs.minibatch_epoch``) with arrays prepared once, so the difference between the two
rows is the Python overhead of ``fit``.  The kernel variant uses private names (plan, workspace,
optimizer state) exactly as ``fastbp.train`` does.  W4/W5 call the public ``Network`` methods:
``forward``, ``loss_and_gradient``, ``hvp`` and ``gnvp`` (G v, the Gauss-Newton product).
"""

from __future__ import annotations

import numpy as np

import fastbp
from fastbp import epochs as ek
from fastbp import specialise
from fastbp.optim import Optimizer
from fastbp.validate import as_features, as_targets

LIBRARY = "fastbp"


def setup(threads: int) -> None:
    """Nothing to set: fastbp's kernels are serial and BLAS threads come from the environment."""


def versions() -> dict:
    import numba

    return {"fastbp": fastbp.__version__, "numba": numba.__version__}


def network(job: dict, layers) -> fastbp.Network:
    widths = job["widths"]
    spec = fastbp.NetworkSpec(widths, [job["activation"]] * (len(widths) - 2), job["loss"],
                              job["dtype"])  # fmt: skip
    net = fastbp.Network(spec, init="zeros")
    for k, (W, b) in enumerate(layers, start=1):
        Wk, bk = net.layer(k)
        Wk[...] = W
        bk[...] = b
    return net


class Trainer:
    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray) -> None:
        self.net = network(job, layers)
        self.X, self.Y = X, Y
        self.bs, self.lr = job["batch_size"], job["lr"]
        self.kernel = job.get("variant") == "kernel"
        if self.kernel:
            self._prepare()

    def _prepare(self) -> None:
        net = self.net
        spec, dtype = net.spec, net.spec.np_dtype
        self.Xk = as_features(self.X, spec)
        self.Yk = as_targets(self.Y, spec, self.X.shape[0])
        self.order = np.arange(self.X.shape[0], dtype=np.int64)
        net.lowered.ws.ensure(self.bs)
        self.Xb = np.zeros((self.bs, spec.n_inputs), dtype=dtype)
        self.Yb = np.zeros((self.bs, spec.n_outputs), dtype=dtype)
        self.opt = Optimizer("sgd")
        self.opt.reset(net.n_params, dtype)
        self.info = np.zeros(3, dtype=np.float64)

    def epoch(self) -> None:
        if not self.kernel:
            self.net.fit(self.X, self.Y, epochs=1, batch_size=self.bs, optimizer="sgd",
                         lr=self.lr, shuffle=False, progress=False)  # fmt: skip
            return
        net, p, ws, opt = self.net, self.net.plan, self.net.lowered.ws, self.opt
        if self.bs == 1:
            specialise.sgd_example_epoch(net.spec, self.Xk, self.Yk, self.order, net.params, p,
                                         ws, self.lr, 0.0, self.info)  # fmt: skip
        else:
            ek.minibatch_epoch(
                self.Xk, self.Yk, self.order, self.bs, net.params, p.widths, p.acts, p.out_kind,
                p.loss_param, p.w_off, p.b_off, p.u_off, self.Xb, self.Yb, ws.Z, ws.A, ws.dZ, ws.dA,
                net.lowered.grad, p.weight_mask, 0.0, net.lowered.blas_min_rows, opt.code, self.lr,
                opt.momentum, opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2, opt.step, self.info,
            )  # fmt: skip

    def params(self):
        r = len(self.net.spec.widths) - 1
        return [tuple(a.copy() for a in self.net.layer(k)) for k in range(1, r + 1)]


class GradOps:
    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> None:
        self.net = network(job, layers)
        # Converted once to the network's dtype and layout, outside the timing, as every peer
        # prepares its own arrays (X (m, n0) C-ordered, Y (m, nr)): the calls then take
        # fastbp's one-row fast paths where they apply.
        spec = self.net.spec
        self.X = as_features(X, spec, lazy=False)
        self.Y = as_targets(Y, spec, X.shape[0], lazy=False)
        self.v = v.astype(job["dtype"])
        self.g = self.hv = self.gv = None

    def forward(self) -> None:
        self.net.forward(self.X)

    def loss_and_grad(self) -> None:
        self.J, self.g = self.net.loss_and_gradient(self.X, self.Y)

    def hvp(self) -> None:
        self.hv = self.net.hvp(self.X, self.Y, self.v)

    def gnvp(self) -> None:
        self.gv = self.net.gnvp(self.X, self.Y, self.v)

    def grad_flat(self) -> np.ndarray:
        return self.g

    def hvp_flat(self) -> np.ndarray:
        return self.hv

    def gnvp_flat(self) -> np.ndarray:
        return self.gv
