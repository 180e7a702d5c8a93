"""JAX on the CPU: a jitted SGD step called from Python per batch, or the whole epoch in one call.

``variant="jit"``: ``step = jax.jit(θ, x, y ↦ θ − α ∇J(θ; x, y))`` (θ donated), called once per
batch on batches put on the device beforehand.  ``variant="scan"``: ``lax.scan`` of the same step
over the epoch's batches inside one jitted call (for per-example SGD each scanned x is
``x[None]``, shape (1, n0)).  float64 runs with ``jax_enable_x64``.

Fastest formulation found: the weights are kept transposed, Vₖ = Wₖᵀ of shape (in, out), and
each layer is ``a @ V + b``.  With fastbp's (out, in) layout and ``x @ W.T`` the per-example scan
ran 0.56–0.78 M steps/s on W1 against 1.02–1.05 M for this one (issue 15); the parameters are
transposed once when the trainer is built and back when they are read, outside the timing.
W4 times ``jit(forward)`` and ``jit(value_and_grad(J))``; W5 times ``jit(jvp(grad(J)))``,
forward-over-reverse, against the same ``value_and_grad``, and G v = Jᵀ H_loss J v in one
``jax.jit``: ``z, Jv = jvp(f, (θ,), (v,))`` with f the forward on x, then the ``vjp`` of f at θ
applied to H_loss Jv (Jv / m for the squared loss; XLA merges the two forwards).
``jax.linearize`` + ``jax.linear_transpose`` compiled to the same 11 dots and timed within
±5 % of it (W2 network, batch 1 and 128, one core), so the plainer jvp + vjp is kept.

Hidden activations (:data:`ACTIVATIONS`): fastbp's, each as ``jax.nn`` writes it where it has
it (the same math as :mod:`fastbp.activations`; gelu exact, elu with α = 1, leaky_relu with
slope 0.01, mish as z tanh(softplus(z))), applied inside the same jitted step.
"""

from __future__ import annotations

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402  (after the x64 switch)
from jax import lax  # noqa: E402

from _peers.common import flatten, one_hot, unflatten  # noqa: E402

LIBRARY = "jax"

#: fastbp's hidden activations, name → the jax function (this peer does not import fastbp).
ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
    "leaky_relu": lambda z: jax.nn.leaky_relu(z, negative_slope=0.01),
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "silu": jax.nn.silu,
    "elu": lambda z: jax.nn.elu(z, alpha=1.0),
    "selu": jax.nn.selu,
    "mish": lambda z: z * jnp.tanh(jax.nn.softplus(z)),
}


def setup(threads: int) -> None:
    """Threads come from XLA_FLAGS, set by the parent before JAX loaded."""


def versions() -> dict:
    import jaxlib

    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "devices": [str(d) for d in jax.devices()]}  # fmt: skip


def loss_fn(job: dict):
    if job["activation"] not in ACTIVATIONS:
        raise NotImplementedError(f"the jax peer has no activation {job['activation']!r}")
    act = ACTIVATIONS[job["activation"]]
    softmax = job["loss"] == "softmax_cross_entropy"

    def forward(params, x):  # params: (V, b) with V = Wᵀ, shape (in, out)
        for V, b in params[:-1]:
            x = act(x @ V + b)
        V, b = params[-1]
        return x @ V + b

    def loss(params, x, y):
        z = forward(params, x)
        if softmax:
            return -jnp.sum(y * jax.nn.log_softmax(z, axis=1)) / x.shape[0]
        return 0.5 * jnp.sum((z - y) ** 2) / x.shape[0]

    return forward, loss


def output_hessian(job: dict):
    """u ↦ H_loss u at the outputs z, per example, of the mean loss (the 1/m included)."""
    if job["loss"] == "softmax_cross_entropy":

        def product(z, u):
            q = jax.nn.softmax(z, axis=1)
            return q * (u - jnp.sum(q * u, axis=1, keepdims=True)) / z.shape[0]

        return product
    return lambda z, u: u / z.shape[0]


def device_params(layers):
    """(V, b) per layer with V = Wᵀ contiguous, (in, out); copies, as the step donates them."""
    return tuple((jnp.array(np.ascontiguousarray(np.asarray(W).T), copy=True),
                  jnp.array(b, copy=True)) for W, b in layers)  # fmt: skip


def host_params(params):
    """Back to fastbp's (W, b) with W = Vᵀ of shape (out, in)."""
    return [(np.ascontiguousarray(np.asarray(V).T), np.array(b)) for V, b in params]


def targets(job: dict, Y: np.ndarray, dtype) -> np.ndarray:
    if job["loss"] == "softmax_cross_entropy":
        return one_hot(Y, job["widths"][-1], dtype)
    return np.ascontiguousarray(Y, dtype=dtype).reshape(Y.shape[0], -1)


class Trainer:
    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray) -> None:
        _, loss = loss_fn(job)
        lr, bs = job["lr"], job["batch_size"]
        Y = targets(job, Y, X.dtype)
        if X.shape[0] % bs:
            raise ValueError("the jax peer needs n to be a multiple of the batch size")

        def sgd(params, x, y):
            g = jax.grad(loss)(params, x, y)
            return jax.tree.map(lambda p, d: p - lr * d, params, g)

        self.params_ = device_params(layers)
        self.scan = job.get("variant") == "scan"
        if self.scan:
            nb = X.shape[0] // bs
            self.Xb = jnp.asarray(X.reshape(nb, bs, X.shape[1]))
            self.Yb = jnp.asarray(Y.reshape(nb, bs, Y.shape[1]))

            def run(params, Xb, Yb):
                return lax.scan(lambda p, xy: (sgd(p, *xy), None), params, (Xb, Yb))[0]

            self.run = jax.jit(run, donate_argnums=0)
        else:
            self.batches = [(jnp.asarray(X[lo : lo + bs]), jnp.asarray(Y[lo : lo + bs]))
                            for lo in range(0, X.shape[0], bs)]  # fmt: skip
            self.step = jax.jit(sgd, donate_argnums=0)

    def epoch(self) -> None:
        p = self.params_
        if self.scan:
            p = self.run(p, self.Xb, self.Yb)
        else:
            step = self.step
            for x, y in self.batches:
                p = step(p, x, y)
        self.params_ = jax.block_until_ready(p)

    def params(self):
        return host_params(self.params_)


class GradOps:
    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> None:
        forward, loss = loss_fn(job)
        self.p = device_params(layers)
        self.v = device_params(unflatten(v, job["widths"]))
        self.x = jnp.asarray(X)
        self.y = jnp.asarray(targets(job, Y, X.dtype))
        self._forward = jax.jit(forward)
        self._vg = jax.jit(jax.value_and_grad(loss))

        def hvp(p, v, x, y):
            return jax.jvp(lambda q: jax.grad(loss)(q, x, y), (p,), (v,))[1]

        out_hess = output_hessian(job)

        def gnvp(p, v, x):
            f = lambda q: forward(q, x)
            z, Jv = jax.jvp(f, (p,), (v,))
            return jax.vjp(f, p)[1](out_hess(z, Jv))[0]

        self._hvp = jax.jit(hvp)
        self._gnvp = jax.jit(gnvp)
        self.g = self.hv = self.gv = None

    def forward(self) -> None:
        jax.block_until_ready(self._forward(self.p, self.x))

    def loss_and_grad(self) -> None:
        self.J, self.g = jax.block_until_ready(self._vg(self.p, self.x, self.y))

    def hvp(self) -> None:
        self.hv = jax.block_until_ready(self._hvp(self.p, self.v, self.x, self.y))

    def gnvp(self) -> None:
        self.gv = jax.block_until_ready(self._gnvp(self.p, self.v, self.x))

    def grad_flat(self) -> np.ndarray:
        return flatten(host_params(self.g))

    def hvp_flat(self) -> np.ndarray:
        return flatten(host_params(self.hv))

    def gnvp_flat(self) -> np.ndarray:
        return flatten(host_params(self.gv))
