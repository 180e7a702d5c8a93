"""Differentiable circuits: any function of + − × / sin cos exp log (and more), lowered to a tape
of static arrays, with compiled O(N) gradients, JVPs and Hessian-vector products.

    from fastbp import circuit as fc
    c = fc.record(lambda x1, x2, x3: fc.sin(x1 * x2) + fc.exp(x3) / x1, n_inputs=3)
    c.forward(x); c.value(x); c.gradient(x); c.value_and_gradient(x); c.jvp(x, v); c.hvp(x, v)

``trace`` is the deprecated name of :func:`record` (it warns; removed in the next release).
"""

from fastbp.circuit.bridge import from_network
from fastbp.circuit.generate import random_circuit
from fastbp.circuit.gradcheck import gradcheck
from fastbp.circuit.ops import OPS
from fastbp.circuit.recording import (
    Var,
    cos,
    exp,
    log,
    record,
    relu,
    sigmoid,
    sin,
    softplus,
    sqrt,
    tanh,
    trace,
)
from fastbp.circuit.tape import FORMAT_VERSION, Circuit

__all__ = [
    "FORMAT_VERSION",
    "OPS",
    "Circuit",
    "Var",
    "cos",
    "exp",
    "from_network",
    "gradcheck",
    "log",
    "random_circuit",
    "record",
    "relu",
    "sigmoid",
    "sin",
    "softplus",
    "sqrt",
    "tanh",
    "trace",
]
