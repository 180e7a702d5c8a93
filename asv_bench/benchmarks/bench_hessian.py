"""Hessian- and Gauss-Newton-vector products beside the gradient they are measured against.

The lecture's corollary: once a gradient costs O(N), so does H v.  ``track_hvp_over_gradient``
records the constant, time(hvp) / time(loss_and_gradient), on the W2 network 64-256-256-1 ReLU
with squared loss.  Data is built and every kernel compiled in ``setup``; only the calls are timed.
"""

from __future__ import annotations

import numpy as np

import fastbp as fb
from fastbp.hessian import gnvp, hvp

from .common import median_ratio

WIDTHS = [64, 256, 256, 1]


class Hessian:
    params = ([1, 128], ["float32", "float64"])
    param_names = ["batch", "dtype"]

    def setup(self, batch: int, dtype: str) -> None:
        rng = np.random.default_rng(0)
        spec = fb.NetworkSpec(WIDTHS, ["relu", "relu"], "squared", dtype)
        self.net = fb.Network(spec, seed=0)
        self.X = rng.normal(size=(batch, WIDTHS[0])).astype(dtype)
        self.Y = rng.normal(size=(batch, WIDTHS[-1])).astype(dtype)
        self.v = rng.normal(size=spec.n_params).astype(dtype)
        # Compile (or load from cache) and grow the workspaces before anything is timed.
        self.net.loss_and_gradient(self.X, self.Y)
        hvp(self.net, self.X, self.Y, self.v)
        gnvp(self.net, self.X, self.Y, self.v)

    def time_hvp(self, batch: int, dtype: str) -> None:
        hvp(self.net, self.X, self.Y, self.v)

    def time_gnvp(self, batch: int, dtype: str) -> None:
        gnvp(self.net, self.X, self.Y, self.v)

    def time_gradient(self, batch: int, dtype: str) -> None:
        self.net.loss_and_gradient(self.X, self.Y)

    def track_hvp_over_gradient(self, batch: int, dtype: str) -> float:
        return median_ratio(
            lambda: hvp(self.net, self.X, self.Y, self.v),
            lambda: self.net.loss_and_gradient(self.X, self.Y),
        )

    track_hvp_over_gradient.unit = "ratio"


class HessianJaxPeer:
    """W5 beside JAX: H v (jitted ``jvp(grad)``) and G v (``jvp`` of the forward, then its
    ``vjp``, in one jit) on the same W2 network, data and direction, and fastbp's speed-up over
    each as tracked ratios (JAX time / fastbp time, above 1 when fastbp is faster).

    JAX's fastest formulation (as ``scripts/_peers/tool_jax.py``): weights kept transposed,
    (in, out), each layer ``a @ V + b``; float64 with ``jax_enable_x64``.  Both sides run with
    their default threads (XLA's and OpenBLAS's pools); ``scripts/bench_peers.py --workloads W5``
    is the pinned one-core comparison, and adds ``torch.func``.  Skipped (NotImplementedError in
    setup) where JAX is not installed.
    """

    params = ([1, 128], ["float32", "float64"])
    param_names = ["batch", "dtype"]
    timeout = 300

    def setup(self, batch: int, dtype: str) -> None:
        try:
            import jax
        except ImportError:
            raise NotImplementedError("jax is not installed") from None
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        Hessian.setup(self, batch, dtype)  # type: ignore[arg-type]
        r = len(WIDTHS) - 1

        def as_jax(flat: np.ndarray):
            layers, off = [], 0
            for k in range(1, r + 1):
                n_out, n_in = WIDTHS[k], WIDTHS[k - 1]
                W = flat[off : off + n_out * n_in].reshape(n_out, n_in)
                off += n_out * n_in
                layers.append((jnp.asarray(np.ascontiguousarray(W.T)),
                               jnp.asarray(flat[off : off + n_out])))  # fmt: skip
                off += n_out
            return tuple(layers)

        def forward(p, x):
            for V, b in p[:-1]:
                x = jax.nn.relu(x @ V + b)
            V, b = p[-1]
            return x @ V + b

        def loss(p, x, y):
            return 0.5 * jnp.sum((forward(p, x) - y) ** 2) / x.shape[0]

        def gnvp_jax(p, v, x):
            f = lambda q: forward(q, x)  # noqa: E731
            z, Jv = jax.jvp(f, (p,), (v,))
            return jax.vjp(f, p)[1](Jv / x.shape[0])[0]

        hvp_jit = jax.jit(lambda p, v, x, y: jax.jvp(lambda q: jax.grad(loss)(q, x, y), (p,),
                                                      (v,))[1])  # fmt: skip
        gnvp_jit = jax.jit(gnvp_jax)
        p, v = as_jax(self.net.params), as_jax(self.v)
        x, y = jnp.asarray(self.X), jnp.asarray(self.Y)
        self.jax_hvp = lambda: jax.block_until_ready(hvp_jit(p, v, x, y))
        self.jax_gnvp = lambda: jax.block_until_ready(gnvp_jit(p, v, x))
        # The same product on both sides (compiles JAX's before anything is timed).
        for ours, theirs in ((hvp, self.jax_hvp), (gnvp, self.jax_gnvp)):
            got = np.concatenate([np.concatenate([np.asarray(V).T.ravel(), np.asarray(b)])
                                  for V, b in theirs()])  # fmt: skip
            want = ours(self.net, self.X, self.Y, self.v)
            np.testing.assert_allclose(got, want, rtol=1e-3 if dtype == "float32" else 1e-6,
                                       atol=1e-3 * float(np.abs(want).max()))  # fmt: skip

    def time_jax_hvp(self, batch: int, dtype: str) -> None:
        self.jax_hvp()

    def time_jax_gnvp(self, batch: int, dtype: str) -> None:
        self.jax_gnvp()

    def track_hvp_speedup_vs_jax(self, batch: int, dtype: str) -> float:
        return median_ratio(self.jax_hvp, lambda: hvp(self.net, self.X, self.Y, self.v))

    track_hvp_speedup_vs_jax.unit = "ratio"

    def track_gnvp_speedup_vs_jax(self, batch: int, dtype: str) -> float:
        return median_ratio(self.jax_gnvp, lambda: gnvp(self.net, self.X, self.Y, self.v))

    track_gnvp_speedup_vs_jax.unit = "ratio"
