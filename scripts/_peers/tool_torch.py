"""PyTorch: eager ``nn.Sequential`` + ``optim.SGD``, or a ``torch.compile``d ``torch.func`` step.

``variant=None`` (the "torch" row, eager): one zero_grad/forward/backward/step per batch.
``variant="compile"`` (the "torch compile" row): the whole SGD step θ ↦ θ − α ∇J(θ; x, y),
written functionally with ``torch.func.grad`` over a list of tensors and ``F.linear`` (W kept
(out, in), as ``nn.Linear`` stores it), compiled once with ``torch.compile(fullgraph=True)``
(inductor, mode from the job's ``compile_mode``, default ``"default"``) and called from Python
per batch.  Its first call, the compile, is reported as the first-step time.

The squared loss is written as ``mse_loss(reduction="sum") · ½ / m`` (the mean over the batch of
½‖a − y‖², fastbp's J; ``MSELoss()`` alone would be twice that for one output), the
classification loss is ``cross_entropy`` on the labels (mean over the batch).  W5 uses
``torch.func``: H v = jvp(grad(f), θ, v), forward-over-reverse; G v = Jᵀ H_loss J v as
``z, Jv = jvp(g, (θ,), (v,))`` with g the forward on x, then ``vjp(g, θ)`` applied to H_loss Jv
(Jv / m for the squared loss).  Both differentiate :func:`functional_forward`, ``F.linear``
over the parameter tuple: through ``functional_call`` on the ``nn.Sequential`` G v ran 25–30 %
slower at batch 1 and H v about 5 % slower (W2 network, one core).  Outside torch.func, a
dual-tensor forward (``torch.autograd.forward_ad``) and one ``torch.autograd.grad`` gave G v
about 2× faster at batch 1 and 1.4× at 128; that is not what this row measures.

Hidden activations (:data:`ACTIVATIONS`): fastbp's, each as the ``torch.nn`` module (eager) and
its ``torch.nn.functional`` form (compiled step, ``torch.func``) with the same math as
:mod:`fastbp.activations`: gelu exact (``approximate="none"``), elu with α = 1, leaky_relu with
slope 0.01, softplus with threshold 40 (as :func:`fastbp.interop.to_torch` builds it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from _peers.common import flatten, unflatten

LIBRARY = "torch"

#: fastbp's hidden activations, name → (the ``torch.nn`` module factory, the functional form);
#: this peer does not import fastbp.
ACTIVATIONS = {
    "identity": (nn.Identity, lambda z: z),
    "relu": (nn.ReLU, torch.relu),
    "sigmoid": (nn.Sigmoid, torch.sigmoid),
    "tanh": (nn.Tanh, torch.tanh),
    "softplus": (lambda: nn.Softplus(beta=1.0, threshold=40.0),
                 lambda z: F.softplus(z, beta=1.0, threshold=40.0)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.01), lambda z: F.leaky_relu(z, 0.01)),
    "gelu": (lambda: nn.GELU(approximate="none"), lambda z: F.gelu(z, approximate="none")),
    "silu": (nn.SiLU, F.silu),
    "elu": (lambda: nn.ELU(alpha=1.0), lambda z: F.elu(z, alpha=1.0)),
    "selu": (nn.SELU, F.selu),
    "mish": (nn.Mish, F.mish),
}  # fmt: skip


def activation(job: dict):
    """(module factory, functional form) of the job's hidden activation; a clear error if none."""
    if job["activation"] not in ACTIVATIONS:
        raise NotImplementedError(f"the torch peer has no activation {job['activation']!r}")
    return ACTIVATIONS[job["activation"]]


def setup(threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already set (or parallel work has started)
        pass


def versions() -> dict:
    return {"torch": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available(),
            "mkl": torch.backends.mkl.is_available(),
            "torch_threads": torch.get_num_threads()}  # fmt: skip


def model(job: dict, layers) -> nn.Sequential:
    module = activation(job)[0]
    dtype = getattr(torch, job["dtype"])
    mods = []
    for k, (W, b) in enumerate(layers):
        lin = nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
            lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
        mods.append(lin)
        if k < len(layers) - 1:
            mods.append(module())
    return nn.Sequential(*mods)


def loss_fn(job: dict):
    if job["loss"] == "softmax_cross_entropy":
        return F.cross_entropy
    return lambda out, y: F.mse_loss(out, y, reduction="sum") * (0.5 / out.shape[0])


def targets(job: dict, Y: np.ndarray) -> torch.Tensor:
    if job["loss"] == "softmax_cross_entropy":
        return torch.from_numpy(np.ascontiguousarray(Y, dtype=np.int64))
    return torch.from_numpy(np.ascontiguousarray(Y).reshape(Y.shape[0], -1))


def functional_forward(p, x, act=torch.relu):
    """The network on x as a function of its parameters p = (W1, b1, W2, b2, ...): ``act`` on
    the hidden layers, ``F.linear`` per layer (what the compiled step and ``torch.func``
    differentiate)."""
    r = len(p) // 2
    a = x
    for k in range(r - 1):
        a = act(F.linear(a, p[2 * k], p[2 * k + 1]))
    return F.linear(a, p[2 * r - 2], p[2 * r - 1])


def layer_params(net: nn.Sequential):
    return [(m.weight, m.bias) for m in net if isinstance(m, nn.Linear)]


class CompiledStep:
    """The ``variant="compile"`` trainer: a functional SGD step through ``torch.compile``."""

    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray) -> None:
        from torch.func import grad

        act = activation(job)[1]
        softmax = job["loss"] == "softmax_cross_entropy"
        lr = job["lr"]

        def loss(p, x, y):
            z = functional_forward(p, x, act)
            if softmax:
                return F.cross_entropy(z, y)
            return ((z - y) ** 2).sum() * (0.5 / x.shape[0])

        g = grad(loss)

        def step(p, x, y):
            return [q - lr * d for q, d in zip(p, g(p, x, y), strict=True)]

        self.p = [torch.from_numpy(np.array(a, copy=True)) for W, b in layers for a in (W, b)]
        self.step = torch.compile(step, mode=job.get("compile_mode", "default"), fullgraph=True)
        bs = job["batch_size"]
        self.xs = torch.from_numpy(np.ascontiguousarray(X)).split(bs)
        self.ys = targets(job, Y).split(bs)

    def epoch(self) -> None:
        p, step = self.p, self.step
        for x, y in zip(self.xs, self.ys, strict=True):
            p = step(p, x, y)
        self.p = p

    def params(self):
        return [(self.p[i].numpy().copy(), self.p[i + 1].numpy().copy())
                for i in range(0, len(self.p), 2)]  # fmt: skip


class Trainer:
    def __new__(cls, job: dict, layers, X: np.ndarray, Y: np.ndarray):
        if job.get("variant") == "compile":
            return CompiledStep(job, layers, X, Y)
        return super().__new__(cls)

    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray) -> None:
        self.net = model(job, layers)
        self.loss = loss_fn(job)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=job["lr"], momentum=0.0)
        bs = job["batch_size"]
        self.xs = torch.from_numpy(np.ascontiguousarray(X)).split(bs)
        self.ys = targets(job, Y).split(bs)

    def epoch(self) -> None:
        net, opt, loss = self.net, self.opt, self.loss
        for x, y in zip(self.xs, self.ys, strict=True):
            opt.zero_grad()
            loss(net(x), y).backward()
            opt.step()

    def params(self):
        return [(W.detach().numpy().copy(), b.detach().numpy().copy())
                for W, b in layer_params(self.net)]  # fmt: skip


class GradOps:
    def __init__(self, job: dict, layers, X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> None:
        from torch.func import grad, jvp, vjp

        self.net = model(job, layers)
        self.loss = loss_fn(job)
        self.x = torch.from_numpy(np.ascontiguousarray(X))
        self.y = targets(job, Y)
        self.params = tuple(self.net.parameters())
        theta = tuple(p.detach() for p in self.params)
        tangent = tuple(torch.from_numpy(a) for pair in unflatten(v, job["widths"])
                        for a in pair)  # fmt: skip
        x, m = self.x, self.x.shape[0]
        softmax = job["loss"] == "softmax_cross_entropy"
        act = activation(job)[1]

        def g(p):  # the forward on x, a function of the parameters
            return functional_forward(p, x, act)

        grad_f = grad(lambda p: self.loss(g(p), self.y))
        self._hvp = lambda: jvp(grad_f, (theta,), (tangent,))[1]

        def gnvp():
            z, Jv = jvp(g, (theta,), (tangent,))
            if softmax:  # H_loss u = (diag(q) − q qᵀ) u / m, q = softmax(z)
                q = torch.softmax(z, dim=1)
                Jv = q * (Jv - (q * Jv).sum(dim=1, keepdim=True))
            return vjp(g, theta)[1](Jv / m)[0]

        self._gnvp = gnvp
        self.g = self.hv = self.gv = None

    def forward(self) -> None:
        with torch.no_grad():
            self.net(self.x)

    def loss_and_grad(self) -> None:
        J = self.loss(self.net(self.x), self.y)
        self.g = torch.autograd.grad(J, self.params)

    def hvp(self) -> None:
        self.hv = self._hvp()

    def gnvp(self) -> None:
        self.gv = self._gnvp()

    def _flat(self, tensors) -> np.ndarray:
        arrays = [t.detach().numpy() for t in tensors]
        return flatten(list(zip(arrays[0::2], arrays[1::2], strict=True)))

    def grad_flat(self) -> np.ndarray:
        return self._flat(self.g)

    def hvp_flat(self) -> np.ndarray:
        return self._flat(self.hv)

    def gnvp_flat(self) -> np.ndarray:
        return self._flat(self.gv)
