"""Activation registry: one record per activation; everything else is derived from the records.

An :class:`Activation` record holds what fastbp needs to know about one hidden activation: its
integer code (what kernels switch on), its value σ(z), derivative σ'(z) and second derivative
σ''(z) as scalar ``@jit`` helpers, the same rules as source expressions for the kernels
:mod:`fastbp.specialise` and :mod:`fastbp.lanes` generate, whether σ' needs z (not only a = σ(z)),
whether σ' jumps (a kink) and whether σ'' vanishes, and its ONNX, PyTorch, circuit and
scikit-learn mappings.  From :data:`RECORDS` come :data:`ACTIVATIONS` (name → code), the compiled
switches :func:`act`, :func:`act_prime`, :func:`act_second`, :func:`piecewise_linear` and the
vector forms :func:`act_vec`, :func:`act_prime_vec` (their
source is written from the records when this module is imported and compiled like any kernel),
the generators' expressions, the exporters, the CLI's and the estimators' choices, the docs'
table and the tests' parameter lists.  Adding an activation is one record here plus its formulas
in :mod:`fastbp.reference`, which stays hand-written on purpose.

The generated kernels evaluate σ and σ' with :mod:`fastbp.fastmath`'s vectorisable functions
(``fast_tanh``, ``fast_sigmoid`` and the ``*_pair`` helpers, inlined); the run-time switches, which
every generic kernel inlines for all activations at once, call libm (inlining the vectorised
forms of every activation there tripled the compile time of a first minibatch fit, 5 s → 14 s,
for loops that a run-time code keeps scalar anyway).

No silent fallback: an unknown code makes every switch return NaN, never another activation's
value.  ReLU has one rule (:func:`relu`, :func:`relu_gate`), used by every path: relu(NaN) = NaN,
relu(−inf) = 0, and the backward pass passes dJ/da where z > 0 and 0 elsewhere (PyTorch's rule;
NaN or inf arriving from above has already made the loss non-finite, which the divergence checks
see).  An earlier ``0 · dJ/da`` for z ≤ 0 cost the generated ReLU epoch 10-20 %: the row-skip test
that follows it could no longer fold into the z > 0 branch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fastbp import fastmath
from fastbp._jit import jit, jit_inline
from fastbp.fastmath import sigmoid as fast_sigmoid  # noqa: F401  (the generated kernels call it)
from fastbp.fastmath import tanh as fast_tanh  # noqa: F401  (the generated kernels call it)

#: Slope of ``leaky_relu`` for negative inputs (PyTorch's default).
LEAKY_SLOPE = 0.01
#: α of ``elu`` (PyTorch's default).
ELU_ALPHA = 1.0
#: λ and α of ``selu`` (Klambauer et al. 2017; the constants PyTorch uses).
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
_SQRT1_2 = 0.70710678118654752440  # 1/√2
_INV_SQRT_2PI = 0.39894228040143267794  # 1/√(2π)


# ------------------------------------------------------------------------------ scalar helpers
@jit_inline
def relu(z):
    """max(z, 0) with the one NaN rule: relu(NaN) = NaN, relu(−inf) = 0, relu(−0) = 0."""
    return 0.0 if z <= 0 else z


@jit_inline
def relu_gate(z, g):
    """g · relu'(z) as PyTorch's backward: g where z > 0, else 0 (also for NaN or inf in g)."""
    return g if z > 0 else 0.0


@jit
def sigmoid(z):
    """Numerically stable logistic function 1 / (1 + exp(−z))."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@jit
def softplus(z):
    """Numerically stable log(1 + exp(z))."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@jit
def gelu(z):
    """GELU, exact: z Φ(z), Φ(z) = ½ erfc(−z/√2) (erfc keeps it accurate for z ≪ 0)."""
    return 0.5 * z * math.erfc(-z * _SQRT1_2)


@jit
def gelu_prime(z):
    """GELU's σ'(z) = Φ(z) + z φ(z)."""
    return 0.5 * math.erfc(-z * _SQRT1_2) + z * _INV_SQRT_2PI * math.exp(-0.5 * z * z)


@jit
def gelu_second(z):
    """GELU's σ''(z) = φ(z) (2 − z²)."""
    return _INV_SQRT_2PI * math.exp(-0.5 * z * z) * (2.0 - z * z)


@jit
def silu_prime(z):
    """SiLU's σ'(z) = s (1 + z (1 − s)), s = sigmoid(z)."""
    s = sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


@jit
def silu_second(z):
    """SiLU's σ''(z) = s (1 − s) (2 + z (1 − 2 s))."""
    s = sigmoid(z)
    return s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s))


@jit
def elu(z):
    """ELU with α = 1: z for z > 0, exp(z) − 1 otherwise."""
    return z if z > 0 else ELU_ALPHA * math.expm1(z)


@jit
def elu_prime(z):
    """ELU's σ'(z): 1 for z > 0, α exp(z) otherwise (from z, not a + α, for accuracy at z ≪ 0)."""
    return 1.0 if z > 0 else ELU_ALPHA * math.exp(z)


@jit
def elu_second(z):
    """ELU's σ''(z): 0 for z > 0, α exp(z) otherwise."""
    return 0.0 if z > 0 else ELU_ALPHA * math.exp(z)


@jit
def selu(z):
    """SELU: λ z for z > 0, λ α (exp(z) − 1) otherwise."""
    return SELU_SCALE * z if z > 0 else SELU_SCALE * SELU_ALPHA * math.expm1(z)


@jit
def selu_prime(z):
    """SELU's σ'(z): λ for z > 0, λ α exp(z) otherwise."""
    return SELU_SCALE if z > 0 else SELU_SCALE * SELU_ALPHA * math.exp(z)


@jit
def selu_second(z):
    """SELU's σ''(z): 0 for z > 0, λ α exp(z) otherwise."""
    return 0.0 if z > 0 else SELU_SCALE * SELU_ALPHA * math.exp(z)


@jit
def mish(z):
    """Mish: z tanh(softplus(z))."""
    return z * math.tanh(softplus(z))


@jit
def mish_prime(z):
    """Mish's σ'(z) = t + z s (1 − t²), t = tanh(softplus(z)), s = sigmoid(z)."""
    t = math.tanh(softplus(z))
    return t + z * sigmoid(z) * (1.0 - t * t)


@jit
def mish_second(z):
    """Mish's σ''(z) = (1 − t²) s (2 + z (1 − s) − 2 z t s)."""
    t = math.tanh(softplus(z))
    s = sigmoid(z)
    return (1.0 - t * t) * s * (2.0 + z * (1.0 - s) - 2.0 * z * t * s)


@jit_inline
def softplus_pair(z):
    """(σ(z), σ'(z)) of softplus, sharing exp(−|z|): (log(1 + e^z), sigmoid(z))."""
    e = fastmath.exp(-abs(z))
    s = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
    return max(z, 0.0) + fastmath.log1p(e), s


@jit_inline
def gelu_pair(z):
    """(σ(z), σ'(z)) of GELU, sharing Φ(z)."""
    cdf = 0.5 * (1.0 + fastmath.erf(z * _SQRT1_2))
    return z * cdf, cdf + z * _INV_SQRT_2PI * fastmath.exp(-0.5 * z * z)


@jit_inline
def silu_pair(z):
    """(σ(z), σ'(z)) of SiLU, sharing sigmoid(z)."""
    s = fastmath.sigmoid(z)
    return z * s, s * (1.0 + z * (1.0 - s))


@jit_inline
def elu_pair(z):
    """(σ(z), σ'(z)) of ELU, both sides computed (no branch: vectorises); NaN stays NaN."""
    zn = 0.0 if z > 0 else z
    em = ELU_ALPHA * fastmath.expm1(zn)
    e = ELU_ALPHA * fastmath.exp(zn)
    return (z if z > 0 else em), (1.0 if z > 0 else e)


@jit_inline
def selu_pair(z):
    """(σ(z), σ'(z)) of SELU, both sides computed (no branch: vectorises); NaN stays NaN."""
    zn = 0.0 if z > 0 else z
    em = SELU_SCALE * SELU_ALPHA * fastmath.expm1(zn)
    e = SELU_SCALE * SELU_ALPHA * fastmath.exp(zn)
    return (SELU_SCALE * z if z > 0 else em), (SELU_SCALE if z > 0 else e)


@jit_inline
def mish_pair(z):
    """(σ(z), σ'(z)) of Mish, sharing exp(−|z|), softplus(z), tanh(softplus(z)), sigmoid(z)."""
    e = fastmath.exp(-abs(z))
    t = fastmath.tanh(max(z, 0.0) + fastmath.log1p(e))
    s = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
    return z * t, t + z * s * (1.0 - t * t)


# ------------------------------------------------------------------------------ the records
#: ONNX mapping: a list of nodes (op, inputs, attributes); an input is "z", the output of an
#: earlier node by its index ("$0", "$1", ...) or a float constant.  The last node is σ(z).
OnnxNodes = tuple[tuple[str, tuple[str | float, ...], dict], ...]

_ONNX_SOFTPLUS: OnnxNodes = (  # max(z, 0) + log(1 + exp(−|z|)): no overflow for large z
    ("Relu", ("z",), {}),
    ("Abs", ("z",), {}),
    ("Neg", ("$1",), {}),
    ("Exp", ("$2",), {}),
    ("Add", ("$3", 1.0), {}),
    ("Log", ("$4",), {}),
    ("Add", ("$0", "$5"), {}),
)


def _onnx_exp_branch(alpha: float, scale: float) -> OnnxNodes:
    """scale · (relu(z) + α (exp(−relu(−z)) − 1)): ELU and SELU from operators onnxruntime has in
    float64 too (its ``Elu`` and ``Selu`` kernels are float32 only)."""
    return (
        ("Relu", ("z",), {}),
        ("Neg", ("z",), {}),
        ("Relu", ("$1",), {}),
        ("Neg", ("$2",), {}),
        ("Exp", ("$3",), {}),
        ("Sub", ("$4", 1.0), {}),
        ("Mul", ("$5", alpha), {}),
        ("Add", ("$0", "$6"), {}),
        ("Mul", ("$7", scale), {}),
    )


@dataclass(frozen=True)
class Activation:
    """What fastbp knows about one hidden activation; see the module docstring.

    Parameters
    ----------
    name : str
        The public name (``NetworkSpec(activations=...)``, the CLI, the estimators).
    code : int
        The integer the compiled switches compare against (unique).
    formula : str
        σ(z) in words, for the docs and the CLI's help.
    value, prime, second : str
        σ(z), σ'(z) and σ''(z) as Python expressions in ``z`` and ``a`` (= σ(z)) that call only
        :mod:`math` and the helpers of this module; compiled into :func:`act`,
        :func:`act_prime`, :func:`act_second`.
    value_source, grad_source : str
        The same rules for the generated kernels (:mod:`fastbp.specialise`, :mod:`fastbp.lanes`):
        σ(z) and g · σ'(z), with ``{z}``, ``{a}``, ``{g}`` placeholders and the generated
        module's constants ZERO, ONE, SLOPE and DT (its dtype).
    needs_z : bool
        Whether ``grad_source`` reads z (the generated kernels then store z[k]).
    kink : bool
        Whether σ' jumps (at z = 0): finite differences straddling it are not derivatives.
    curved : bool
        Whether σ'' is not identically 0 (H v then has a σ'' term at this layer).
    onnx : tuple
        The ONNX nodes computing σ(z) (:data:`OnnxNodes`).
    torch : tuple of (str, dict)
        The ``torch.nn`` module class name and the arguments :func:`fastbp.interop.to_torch`
        builds it with; :func:`~fastbp.interop.from_torch` accepts a module of that class whose
        attributes equal them (those in ``torch_at_least`` may be larger).
    torch_at_least : dict
        Attributes that :func:`~fastbp.interop.from_torch` accepts at or above a floor instead
        of equal to ``torch``'s (softplus' threshold: from 20 on, exact in float64).
    circuit : callable or None
        ``circuit(z, c)``: σ(z) built from the ops of :mod:`fastbp.circuit.recording` (passed
        as ``c``), or None where the circuit has no op to build it from.
    sklearn : str or None
        scikit-learn's ``MLP*`` name for it, if scikit-learn has it.
    pair : str or None
        For an activation whose σ' needs z: a helper of this module returning (σ(z), σ'(z))
        with their shared work done once.  The specialised per-example kernels
        (:mod:`fastbp.specialise`) call it in a loop of its own after the layer's products and
        store σ'(z) (instead of z) for the backward pass.
    """

    name: str
    code: int
    formula: str
    value: str
    prime: str
    second: str
    value_source: str
    grad_source: str
    needs_z: bool
    kink: bool
    curved: bool
    onnx: OnnxNodes
    torch: tuple[str, dict] = field(default=("Identity", {}))
    torch_at_least: dict = field(default_factory=dict)
    circuit: Callable | None = None
    sklearn: str | None = None
    pair: str | None = None


RECORDS: dict[str, Activation] = {
    r.name: r
    for r in (
        Activation(
            "identity", 0, "z", "z", "1.0", "0.0", "{z}", "{g}", False, False, False,
            (("Identity", ("z",), {}),), ("Identity", {}), {}, lambda z, c: z, "identity",
        ),
        Activation(
            "relu", 1, "max(z, 0)", "relu(z)", "1.0 if z > 0 else 0.0", "0.0",
            "ZERO if {z} <= ZERO else {z}", "{g} if {a} > ZERO else ZERO", False, True, False,
            (("Relu", ("z",), {}),), ("ReLU", {}), {}, lambda z, c: c.relu(z), "relu",
        ),
        Activation(
            "sigmoid", 2, "1 / (1 + exp(−z))", "sigmoid(z)", "a * (1.0 - a)",
            "a * (1.0 - a) * (1.0 - 2.0 * a)",
            "fast_sigmoid({z})", "{g} * {a} * (ONE - {a})", False, False, True,
            (("Sigmoid", ("z",), {}),), ("Sigmoid", {}), {}, lambda z, c: c.sigmoid(z), "logistic",
        ),
        Activation(
            "tanh", 3, "tanh(z)", "math.tanh(z)", "1.0 - a * a", "-2.0 * a * (1.0 - a * a)",
            "fast_tanh({z})", "{g} * (ONE - {a} * {a})", False, False, True,
            (("Tanh", ("z",), {}),), ("Tanh", {}), {}, lambda z, c: c.tanh(z), "tanh",
        ),
        Activation(
            "softplus", 4, "log(1 + exp(z))", "softplus(z)", "sigmoid(z)",
            "sigmoid(z) * (1.0 - sigmoid(z))",
            "DT(softplus_pair({z})[0])", "{g} * DT(softplus_pair({z})[1])", True, False, True,
            _ONNX_SOFTPLUS, ("Softplus", {"beta": 1.0, "threshold": 40.0}), {"threshold": 20.0},
            lambda z, c: c.softplus(z), pair="softplus_pair",
        ),
        Activation(
            "leaky_relu", 5, "z if z > 0 else 0.01 z", "z if z > 0 else LEAKY_SLOPE * z",
            "1.0 if z > 0 else LEAKY_SLOPE", "0.0",
            "{z} if {z} > ZERO else SLOPE * {z}", "{g} if {a} > ZERO else SLOPE * {g}",
            False, True, False,
            (("Mul", ("z", LEAKY_SLOPE), {}), ("Max", ("z", "$0"), {})),
            ("LeakyReLU", {"negative_slope": LEAKY_SLOPE}), {},
            # slope·z + (1 − slope)·relu(z): z for z > 0, slope·z below.
            lambda z, c: LEAKY_SLOPE * z + (1.0 - LEAKY_SLOPE) * c.relu(z),
        ),
        Activation(
            "gelu", 6, "z Φ(z) (exact, with erf)", "gelu(z)", "gelu_prime(z)", "gelu_second(z)",
            "DT(gelu_pair({z})[0])", "{g} * DT(gelu_pair({z})[1])", True, False, True,
            (
                ("Mul", ("z", _SQRT1_2), {}),
                ("Erf", ("$0",), {}),
                ("Add", ("$1", 1.0), {}),
                ("Mul", ("z", "$2"), {}),
                ("Mul", ("$3", 0.5), {}),
            ),
            ("GELU", {"approximate": "none"}), pair="gelu_pair",
        ),
        Activation(
            "silu", 7, "z sigmoid(z)", "z * sigmoid(z)", "silu_prime(z)", "silu_second(z)",
            "DT(silu_pair({z})[0])", "{g} * DT(silu_pair({z})[1])", True, False, True,
            (("Sigmoid", ("z",), {}), ("Mul", ("z", "$0"), {})),
            ("SiLU", {}), {}, lambda z, c: z * c.sigmoid(z), pair="silu_pair",
        ),
        Activation(
            "elu", 8, "z if z > 0 else exp(z) − 1", "elu(z)", "elu_prime(z)", "elu_second(z)",
            "DT(elu_pair({z})[0])", "{g} * DT(elu_pair({z})[1])", True, False, True,
            _onnx_exp_branch(ELU_ALPHA, 1.0), ("ELU", {"alpha": ELU_ALPHA}), {},
            # relu(z) + exp(−relu(−z)) − 1: z for z > 0, exp(z) − 1 below.
            lambda z, c: c.relu(z) + c.exp(-c.relu(-z)) - 1.0, pair="elu_pair",
        ),
        Activation(
            "selu", 9, "λ z if z > 0 else λ α (exp(z) − 1)", "selu(z)", "selu_prime(z)",
            "selu_second(z)", "DT(selu_pair({z})[0])", "{g} * DT(selu_pair({z})[1])", True, True,
            True,
            _onnx_exp_branch(SELU_ALPHA, SELU_SCALE), ("SELU", {}), {},
            lambda z, c: SELU_SCALE * (c.relu(z) + SELU_ALPHA * (c.exp(-c.relu(-z)) - 1.0)),
            pair="selu_pair",
        ),
        Activation(
            "mish", 10, "z tanh(softplus(z))", "mish(z)", "mish_prime(z)", "mish_second(z)",
            "DT(mish_pair({z})[0])", "{g} * DT(mish_pair({z})[1])", True, False, True,
            _ONNX_SOFTPLUS + (("Tanh", ("$6",), {}), ("Mul", ("z", "$7"), {})),
            ("Mish", {}), {}, lambda z, c: z * c.tanh(c.softplus(z)), pair="mish_pair",
        ),
    )
}  # fmt: skip

#: name -> integer code used inside kernels.
ACTIVATIONS: dict[str, int] = {r.name: r.code for r in RECORDS.values()}
#: Codes the kernels test for their ReLU fast branches.
IDENTITY, RELU, SIGMOID, TANH, SOFTPLUS, LEAKY_RELU = (
    ACTIVATIONS[n] for n in ("identity", "relu", "sigmoid", "tanh", "softplus", "leaky_relu")
)

#: The helpers ``value_source``/``grad_source`` may call; the generated modules import them.
GENERATED_HELPERS = (
    "fast_sigmoid", "fast_tanh", "sigmoid", "softplus",
    *(r.pair for r in RECORDS.values() if r.pair is not None),
)  # fmt: skip

#: name -> (σ(z), g · σ'(z)) source expressions for the generated kernels (from the records).
EXPRESSIONS: dict[str, tuple[str, str]] = {
    r.name: (r.value_source, r.grad_source) for r in RECORDS.values()
}


# ------------------------------------------------------------------------------ the switches
def _switch_source() -> str:
    """The source of the compiled switches, one explicit branch per record, NaN for the rest."""

    def switch(name: str, args: str, doc: str, body: Callable[[Activation], str]) -> list[str]:
        lines = [f"def {name}({args}):", f'    """{doc}"""']
        for r in RECORDS.values():
            lines += [f"    if code == {r.code}:  # {r.name}", f"        return {body(r)}"]
        return lines + ["    return math.nan  # an unknown code: never another function's value"]

    given = "given ``z`` and ``a = σ(z)``"
    parts = [
        switch("act", "code, z", "σ(z) for the activation ``code``.", lambda r: r.value),
        switch("act_prime", "code, z, a", f"σ'(z), {given}.", lambda r: r.prime),
        switch("act_second", "code, z, a", f"σ''(z), {given}.", lambda r: r.second),
    ]
    parts += [_vector_switch("act_vec", "out[j] = σ(zs[j])", lambda r: r.value, backward=False)]
    parts += [_vector_switch(
        "act_prime_vec", "dzs[j] = das[j] σ'(zs[j]) (given avals = σ(zs))",
        lambda r: "relu_gate(z, g)" if r.code == RELU else f"g * ({r.prime})", backward=True,
    )]  # fmt: skip
    flat = [r.code for r in RECORDS.values() if not r.curved]
    parts.append([
        "def piecewise_linear(code):",
        '    """Whether σ\'\' ≡ 0 (H v then has no σ\'\' term at this layer)."""',
        "    return " + " or ".join(f"code == {c}" for c in flat),
    ])  # fmt: skip
    return "\n\n".join("\n".join(p) for p in parts) + "\n"


def _vector_switch(
    name: str, doc: str, body: Callable[[Activation], str], *, backward: bool
) -> list[str]:
    """A switch over the records with one loop per activation: ``code`` is tested once per call,
    not per unit, and each loop inlines its rule (a per-unit call of :func:`act`, whose eleven
    branches LLVM no longer inlines, cost the generic kernels' tanh layers about 20 %).  Inside
    the loop z, a and g are unit j's z, σ(z) and dJ/da; the rules are the scalar switches'
    expressions, so both give the same values, to an ulp where the fastmath flags regroup a
    product once it is inlined (tests/test_activations.py)."""
    args, out = ("zs, avals, das, dzs", "dzs") if backward else ("zs, out", "out")
    lines = [f"def {name}(code, {args}):", f'    """{doc} for every j."""', "    n = zs.shape[0]"]
    unit = ["        z = zs[j]"]
    if backward:
        unit += ["        a = avals[j]", "        g = das[j]"]
    for r in RECORDS.values():
        lines += [f"    if code == {r.code}:  # {r.name}", "        for j in range(n):"]
        lines += ["    " + u for u in unit]
        lines += [f"            {out}[j] = {body(r)}", "        return"]
    return lines + ["    for j in range(n):  # an unknown code", f"        {out}[j] = math.nan"]


def _compile_switches() -> dict[str, Callable]:
    # Compiled with this file's name, so that Numba caches them on disk like any kernel (the
    # cache's key hashes this file's source, records included).
    namespace: dict = {}
    exec(compile(_switch_source(), __file__, "exec"), globals(), namespace)  # noqa: S102
    return {name: jit(fn) for name, fn in namespace.items()}


_SWITCHES = _compile_switches()
act = _SWITCHES["act"]
act_prime = _SWITCHES["act_prime"]
act_second = _SWITCHES["act_second"]
piecewise_linear = _SWITCHES["piecewise_linear"]
act_vec = _SWITCHES["act_vec"]
act_prime_vec = _SWITCHES["act_prime_vec"]


# ------------------------------------------------------------------------------ Python helpers
def _onnx_text(nodes: OnnxNodes) -> str:
    """The ONNX nodes as nested calls, e.g. ``Mul(z, Sigmoid(z))``."""
    done: list[str] = []
    for op, inputs, attrs in nodes:
        args = [x if x == "z" else done[int(x[1:])] if isinstance(x, str) else f"{x:.6g}"
                for x in inputs]  # fmt: skip
        args += [f"{k}={v:.6g}" for k, v in attrs.items()]
        done.append(f"{op}({', '.join(args)})")
    return done[-1]


def table_rst() -> str:
    """The activations as a reStructuredText list-table, written from :data:`RECORDS` (the docs
    include it, so they list what the code has).

    Returns
    -------
    str
        The table: name, σ(z), what σ' reads, kink, PyTorch module, ONNX nodes, scikit-learn name.
    """
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - name",
        "     - σ(z)",
        "     - σ' reads",
        "     - kink",
        "     - PyTorch (``to_torch``, ``from_torch``)",
        "     - ONNX (``to_onnx``)",
        "     - scikit-learn",
    ]
    for r in RECORDS.values():
        cls, kwargs = r.torch
        torch = f"``nn.{cls}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})``"
        lines += [
            f"   * - ``{r.name}``",
            f"     - {r.formula}",
            f"     - {'z' if r.needs_z else 'a = σ(z)'}",
            f"     - {'at 0' if r.kink else 'no'}",
            f"     - {torch}",
            f"     - ``{_onnx_text(r.onnx)}``",
            f"     - {'``' + r.sklearn + '``' if r.sklearn else '(fastbp only)'}",
        ]
    return "\n".join(lines) + "\n"


def _code(name: str) -> int:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation = {name!r} is unknown; allowed: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def evaluate(name: str, z: np.ndarray) -> np.ndarray:
    """σ(z) elementwise, by the same scalar rule the kernels use (:func:`act`).

    For experiments and plots on small arrays (one compiled scalar call per entry), not for
    training.

    Parameters
    ----------
    name : str
        An activation of :data:`ACTIVATIONS`.
    z : array_like
        Pre-activations.

    Returns
    -------
    numpy.ndarray
        σ(z), float64, of z's shape.
    """
    code = _code(name)
    z = np.asarray(z, dtype=np.float64)
    return np.array([act(code, float(v)) for v in z.reshape(-1)]).reshape(z.shape)


def derivative(name: str, z: np.ndarray) -> np.ndarray:
    """σ'(z) elementwise, by the kernels' rule (:func:`act_prime`); see :func:`evaluate`.

    Parameters
    ----------
    name : str
        An activation of :data:`ACTIVATIONS`.
    z : array_like
        Pre-activations.

    Returns
    -------
    numpy.ndarray
        σ'(z), float64, of z's shape.
    """
    code = _code(name)
    z = np.asarray(z, dtype=np.float64)
    flat = [act_prime(code, float(v), act(code, float(v))) for v in z.reshape(-1)]
    return np.array(flat).reshape(z.shape)
