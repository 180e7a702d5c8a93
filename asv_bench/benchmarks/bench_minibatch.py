"""W3's minibatch epoch kernel called directly (no ``fit`` around it), SGD and Adam.

``fastbp.epochs.minibatch_epoch`` on 1,024 rows of W3 (784-512-512-10 ReLU, softmax
cross-entropy, batch 128).  It tracks the fused elementwise passes of the BLAS path (bias +
activation, the 1/m folded into the seed, the row-wise bias sums) and the optimizer update; the
per-op profile is ``scripts/profile_w3.py``.
"""

from __future__ import annotations

import numpy as np

from .common import loss_args, warm, workload_setup


class MinibatchKernel:
    """One W3 epoch of the compiled minibatch kernel on arrays prepared once."""

    params = (["float32", "float64"], ["sgd", "adam"])
    param_names = ["dtype", "optimizer"]
    timeout = 180

    def setup(self, dtype: str, optimizer: str) -> None:
        from fastbp.optim import Optimizer
        from fastbp.validate import as_features, as_targets

        self.w, self.net, X, y = workload_setup("W3", dtype, n=1024)
        spec = self.net.spec
        self.X = as_features(X, spec)
        self.Y = as_targets(y, spec, X.shape[0])
        self.order = np.arange(X.shape[0], dtype=np.int64)
        bs = self.w.batch_size
        low = self.net.lowered
        low.ws.ensure(bs)
        self.Xb = np.zeros((bs, spec.n_inputs), dtype=spec.np_dtype)
        self.Yb = np.zeros((bs, spec.n_outputs), dtype=spec.np_dtype)
        self.opt = Optimizer(optimizer)
        self.opt.reset(self.net.n_params, spec.np_dtype)
        self.info = np.zeros(3, dtype=np.float64)
        warm(self.epoch, times=1)

    def epoch(self) -> None:
        from fastbp import epochs

        low, opt = self.net.lowered, self.opt
        p, ws = low.plan, low.ws
        epochs.minibatch_epoch(
            self.X, self.Y, self.order, self.w.batch_size, low.params, p.widths, p.acts,
            *loss_args(p), p.w_off, p.b_off, p.u_off, self.Xb, self.Yb, ws.Z, ws.A, ws.dZ, ws.dA,
            low.grad, p.weight_mask, 0.0, low.blas_min_rows, opt.code, 1e-4, opt.momentum,
            opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2, opt.step, self.info,
        )  # fmt: skip

    def time_epoch(self, dtype: str, optimizer: str) -> None:
        self.epoch()
