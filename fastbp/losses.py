"""Loss registry: one record per loss, and the compiled switches every kernel calls.

A :class:`Loss` record holds what fastbp needs to know about one loss: its integer code (what
kernels switch on, the plan's ``out_kind``), the output activation it pairs with, its task, whether
the targets may be standardised, its parameter (the :class:`~fastbp.NetworkSpec` field, its
default and its range), the formulas for the docs, its PyTorch equivalent, scikit-learn's name,
and whether the generated kernels of :mod:`fastbp.specialise` and :mod:`fastbp.lanes` have its
expressions.  From :data:`RECORDS` come :data:`LOSSES` (name → (code, output activation)), the
spec's validation, the plan's ``out_kind`` and ``loss_param``, the CLI's and the estimators'
choices, the docs' table and the tests' parameter lists.

The compiled helpers live here, each a switch over the codes with one explicit branch per loss
and NaN last (never another loss's formula): :func:`output_transform` (a[r] from z[r]) and its
R-image :func:`r_output_transform`, :func:`example_loss` (J_i), :func:`output_seed` (the seed
dJ_i/dz[r] of the backward pass), :func:`seed_curvature` (the loss's Hessian factor for H v and
G v), :func:`ggn_seed` (a factor of the output-loss Hessian, for the Gauss-Newton diagonal) and
:func:`target_row_ok`.
Adding a loss is one record, its branches in these switches, and its hand-written formula in
:mod:`fastbp.reference`.

The first four losses pair with the output activation that makes dJ_i/dz[r] = a[r] − y.  The
robust losses (huber, absolute_error, quantile) have an identity output and a seed ψ(r) of the
residual r = a − y: clip(r, −δ, δ), sign(r), and (1 − τ) for r > 0, −τ for r < 0.  At their
kinks the seed is PyTorch autograd's subgradient: sign(0) = 0 (``nn.L1Loss``); for the pinball
loss written ``torch.maximum(τ e, (τ − 1) e)``, e = y − a, autograd splits a tie evenly, so
the seed at r = 0 is ½ − τ; Huber's seed is continuous (r at abs(r) = δ).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from fastbp._jit import jit, jit_inline
from fastbp.activations import sigmoid, softplus


@dataclass(frozen=True)
class Loss:
    """What fastbp knows about one loss; see the module docstring.

    Parameters
    ----------
    name : str
        The public name (``NetworkSpec(loss=...)``, the CLI).
    code : int
        The integer the compiled switches compare against (unique): the plan's ``out_kind``.
    output : str
        The output activation a[r] = f(z[r]) it pairs with (``identity``, ``softmax``,
        ``sigmoid``, ``exp``).
    task : str
        ``"regression"`` or ``"classification"``.
    formula : str
        J_i for one example, for the docs and the CLI's help.
    seed : str
        dJ_i/dz[r], in words, with the value at a kink.
    torch : str
        The PyTorch equivalent (per example: reduction ``'sum'`` over the outputs).
    standardise_y : bool
        Whether the targets may be standardised (y → (y − μ)/s) before training and the
        predictions mapped back: true where the fitted model is equivariant under it; false for
        Huber, whose δ is in units of y, and for the count and class targets.
    param : str or None
        The :class:`~fastbp.NetworkSpec` field holding the loss's parameter (δ or τ), or None.
    default : float
        The parameter's default (NaN without one).
    param_range : str
        ``"positive"`` (finite, > 0), ``"open_unit"`` (0 < τ < 1) or ``""`` without a parameter.
    specialised : bool
        Whether the generated kernels (:mod:`fastbp.specialise`, :mod:`fastbp.lanes`) have its
        loss and seed expressions; the others run the generic kernels.
    kink : bool
        Whether the seed jumps (a kink of J in a): finite differences straddling it are no
        derivatives.
    sklearn : str or None
        ``fastbp.sklearn.MLPRegressor``'s name for it (regression losses only).
    mean_over_outputs : bool
        Whether scikit-learn reports this loss averaged over the outputs (its squared error).
    """

    name: str
    code: int
    output: str
    task: str
    formula: str
    seed: str
    torch: str
    standardise_y: bool
    param: str | None = None
    default: float = math.nan
    param_range: str = ""
    specialised: bool = False
    kink: bool = False
    sklearn: str | None = None
    mean_over_outputs: bool = False


RECORDS: dict[str, Loss] = {
    r.name: r
    for r in (
        Loss(
            "squared", 0, "identity", "regression", "½ Σ_j (a_j − y_j)²", "a − y",
            "0.5 * nn.MSELoss(reduction='sum')", True, specialised=True, sklearn="squared_error",
            mean_over_outputs=True,
        ),
        Loss(
            "softmax_cross_entropy", 1, "softmax", "classification",
            "−Σ_j y_j log softmax(z)_j", "a − y",
            "nn.CrossEntropyLoss(reduction='sum') (probability targets)", False, specialised=True,
        ),
        Loss(
            "logistic", 2, "sigmoid", "classification",
            "Σ_j softplus(z_j) − y_j z_j (binary cross-entropy)", "a − y",
            "nn.BCEWithLogitsLoss(reduction='sum')", False, specialised=True,
        ),
        Loss(
            "poisson", 3, "exp", "regression", "Σ_j exp(z_j) − y_j z_j (log link)", "a − y",
            "nn.PoissonNLLLoss(log_input=True, full=False, reduction='sum')", False,
            sklearn="poisson",
        ),
        Loss(
            "huber", 4, "identity", "regression",
            "Σ_j ½ r_j² if abs(r_j) ≤ δ else δ (abs(r_j) − ½ δ),  r = a − y",
            "clip(r, −δ, δ)", "nn.HuberLoss(delta=δ, reduction='sum')", False,
            param="huber_delta", default=1.0, param_range="positive", sklearn="huber",
        ),
        Loss(
            "absolute_error", 5, "identity", "regression", "Σ_j abs(r_j),  r = a − y",
            "sign(r), 0 at r = 0", "nn.L1Loss(reduction='sum')", True, kink=True,
            sklearn="absolute_error",
        ),
        Loss(
            "quantile", 6, "identity", "regression",
            "Σ_j max(τ (y_j − a_j), (τ − 1)(y_j − a_j))  (pinball)",
            "1 − τ for r > 0, −τ for r < 0, ½ − τ at r = 0",
            "torch.maximum(τ e, (τ − 1) e).sum(), e = y − a", True,
            param="quantile", default=0.5, param_range="open_unit", kink=True, sklearn="quantile",
        ),
    )
}  # fmt: skip

#: name -> (integer code, output activation it pairs with), from :data:`RECORDS`.
LOSSES: dict[str, tuple[int, str]] = {r.name: (r.code, r.output) for r in RECORDS.values()}
#: The codes, for the kernels' fast branches and the tests.
SQUARED, SOFTMAX_CE, LOGISTIC, POISSON, HUBER, ABSOLUTE_ERROR, QUANTILE = (
    RECORDS[n].code
    for n in (
        "squared", "softmax_cross_entropy", "logistic", "poisson", "huber", "absolute_error",
        "quantile",
    )
)  # fmt: skip
#: The spec fields of the losses' parameters -> their loss.
PARAMS: dict[str, Loss] = {r.param: r for r in RECORDS.values() if r.param is not None}
#: The losses the generated kernels have (:mod:`fastbp.specialise`, :mod:`fastbp.lanes`).
SPECIALISED: frozenset[str] = frozenset(r.name for r in RECORDS.values() if r.specialised)
#: The regression losses, by name.
REGRESSION: tuple[str, ...] = tuple(r.name for r in RECORDS.values() if r.task == "regression")


def check_param(record: Loss, value: object) -> float:
    """The loss parameter ``value`` as a float, checked against ``record.param_range``.

    Parameters
    ----------
    record : Loss
        A loss with a parameter.
    value : float
        The value given.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Naming the parameter, the loss and the allowed range.
    """
    is_number = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    v = float(value) if is_number else math.nan  # type: ignore[arg-type]
    if record.param_range == "positive" and not (math.isfinite(v) and v > 0.0):
        raise ValueError(
            f"{record.param} = {value!r} must be a finite number > 0 (loss={record.name!r})"
        )
    if record.param_range == "open_unit" and not (0.0 < v < 1.0):
        raise ValueError(f"{record.param} = {value!r} must be in (0, 1) (loss={record.name!r})")
    return v


def table_rst() -> str:
    """The losses as a reStructuredText list-table, written from :data:`RECORDS`.

    Returns
    -------
    str
        The table: name, output, J_i, seed, parameter, PyTorch equivalent.
    """
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - name",
        "     - output a[r]",
        "     - J_i",
        "     - dJ_i/dz[r]",
        "     - parameter",
        "     - PyTorch (per example)",
    ]
    for r in RECORDS.values():
        param = f"``{r.param}={r.default:g}``" if r.param else "none"
        lines += [
            f"   * - ``{r.name}``",
            f"     - {r.output}",
            f"     - {r.formula}",
            f"     - {r.seed}",
            f"     - {param}",
            f"     - ``{r.torch}``",
        ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ the switches
@jit_inline
def output_transform(out_kind, Z, A):
    """Prediction a[r] from z[r]: identity, row-wise softmax, elementwise sigmoid or exp.

    Writes A.  The identity (squared error and the robust losses) is written here, inlined into
    every caller, the others are one call (:func:`other_output_transform`), as in
    :func:`example_loss`.
    """
    if (
        out_kind == SQUARED
        or out_kind == HUBER
        or out_kind == ABSOLUTE_ERROR
        or out_kind == QUANTILE
    ):
        m, n = Z.shape
        for i in range(m):
            for j in range(n):
                A[i, j] = Z[i, j]
    else:
        other_output_transform(out_kind, Z, A)


@jit
def other_output_transform(out_kind, Z, A):
    """:func:`output_transform` of the softmax, logistic and exp outputs (NaN for the others)."""
    m, n = Z.shape
    for i in range(m):
        if out_kind == SOFTMAX_CE:
            zmax = Z[i, 0]
            for j in range(1, n):
                zmax = max(zmax, Z[i, j])
            total = 0.0
            for j in range(n):
                e = math.exp(Z[i, j] - zmax)
                A[i, j] = e
                total += e
            inv = 1.0 / total
            for j in range(n):
                A[i, j] *= inv
        elif out_kind == LOGISTIC:
            for j in range(n):
                A[i, j] = sigmoid(Z[i, j])
        elif out_kind == POISSON:
            for j in range(n):
                A[i, j] = math.exp(Z[i, j])
        else:  # identity (output_transform's own branch) or an unknown code: NaN
            for j in range(n):
                A[i, j] = math.nan


@jit_inline
def example_loss(out_kind, loss_param, z, a, lo, n, Y, i):
    """J_i for the example whose output z[r], a[r] sit at z[lo:lo+n], a[lo:lo+n] (flat arrays).

    squared: ½‖a − y‖²; softmax cross-entropy: Σ_j y_j (logsumexp(z) − z_j); logistic:
    Σ_j log(1 + e^{z_j}) − y_j z_j; poisson: Σ_j e^{z_j} − y_j z_j; huber (δ = ``loss_param``):
    Σ_j ½ r_j² if abs(r_j) ≤ δ else δ (abs(r_j) − ½ δ); absolute_error: Σ_j abs(r_j); quantile
    (τ = ``loss_param``): Σ_j max(τ (y_j − a_j), (τ − 1)(y_j − a_j)).  r = a − y.  All in a
    numerically stable form.

    Squared error is written here, inlined into every caller; the other losses are one call
    (:func:`other_example_loss`).  A call of one function holding all seven cost the generic
    per-example epoch about 5 % once the robust losses made it too large for LLVM to inline.
    """
    if out_kind == SQUARED:
        total = 0.0
        for j in range(n):
            d = a[lo + j] - Y[i, j]
            total += 0.5 * d * d
        return total
    return other_example_loss(out_kind, loss_param, z, a, lo, n, Y, i)


@jit
def other_example_loss(out_kind, loss_param, z, a, lo, n, Y, i):
    """:func:`example_loss` of every loss but squared error (NaN for squared and unknown codes)."""
    total = 0.0
    if out_kind == SOFTMAX_CE:
        zmax = z[lo]
        for j in range(1, n):
            zmax = max(zmax, z[lo + j])
        s = 0.0
        for j in range(n):
            s += math.exp(z[lo + j] - zmax)
        lse = zmax + math.log(s)
        for j in range(n):
            if Y[i, j] != 0.0:
                total += Y[i, j] * (lse - z[lo + j])
    elif out_kind == LOGISTIC:
        for j in range(n):
            total += softplus(z[lo + j]) - Y[i, j] * z[lo + j]
    elif out_kind == POISSON:
        for j in range(n):
            total += a[lo + j] - Y[i, j] * z[lo + j]
    elif out_kind == HUBER:
        for j in range(n):
            d = a[lo + j] - Y[i, j]
            ad = abs(d)
            total += 0.5 * d * d if ad <= loss_param else loss_param * (ad - 0.5 * loss_param)
    elif out_kind == ABSOLUTE_ERROR:
        for j in range(n):
            total += abs(a[lo + j] - Y[i, j])
    elif out_kind == QUANTILE:
        for j in range(n):
            e = Y[i, j] - a[lo + j]
            total += max(loss_param * e, (loss_param - 1.0) * e)
    else:  # squared (example_loss's own branch) or an unknown code: NaN, never another value
        total = math.nan
    return total


@jit
def r_output_transform(out_kind, A, RZ, RA):
    """R{a[r]} = (∂a[r]/∂z[r]) R{z[r]} = H_loss R{z[r]}.  Writes RA.

    identity: R{z};  sigmoid: a(1 − a) R{z};  softmax: a ⊙ (R{z} − aᵀR{z});  exp: a R{z}.
    """
    m, n = A.shape
    for i in range(m):
        if out_kind == SOFTMAX_CE:
            s = 0.0
            for j in range(n):
                s += A[i, j] * RZ[i, j]
            for j in range(n):
                RA[i, j] = A[i, j] * (RZ[i, j] - s)
        elif out_kind == LOGISTIC:
            for j in range(n):
                RA[i, j] = A[i, j] * (1.0 - A[i, j]) * RZ[i, j]
        elif out_kind == POISSON:
            for j in range(n):
                RA[i, j] = A[i, j] * RZ[i, j]
        elif (
            out_kind == SQUARED
            or out_kind == HUBER
            or out_kind == ABSOLUTE_ERROR
            or out_kind == QUANTILE
        ):
            for j in range(n):
                RA[i, j] = RZ[i, j]
        else:  # an unknown loss code: NaN, never another loss's Jacobian
            for j in range(n):
                RA[i, j] = math.nan


@jit_inline
def output_seed(out_kind, loss_param, a, y, dz, s):
    """The seed of the backward pass for one example: dJ/dz[r] = s · ψ(a[r] − y).  Writes dz.

    ψ(r) = r for the four matched pairs (squared, softmax cross-entropy, logistic, poisson),
    clip(r, −δ, δ) for huber, sign(r) (0 at 0) for absolute_error, and for quantile 1 − τ
    (r > 0), −τ (r < 0), ½ − τ (r = 0, PyTorch's); ``s`` is the example's weight (1
    unweighted).  NaN in r stays NaN.  An unknown code writes NaN.
    """
    if out_kind == SQUARED or out_kind == SOFTMAX_CE or out_kind == LOGISTIC or out_kind == POISSON:
        for j in range(dz.shape[0]):
            dz[j] = s * (a[j] - y[j])
    else:  # one call: inlined, the robust losses' loops slowed the kernels around them
        robust_seed(out_kind, loss_param, a, y, dz, s)


@jit
def robust_seed(out_kind, loss_param, a, y, dz, s):
    """:func:`output_seed` of the losses whose ψ is not the identity (NaN for any other code)."""
    n = dz.shape[0]
    if out_kind == HUBER:
        for j in range(n):
            d = a[j] - y[j]
            dz[j] = s * (loss_param if d > loss_param else -loss_param if d < -loss_param else d)
    elif out_kind == ABSOLUTE_ERROR:
        for j in range(n):
            d = a[j] - y[j]
            dz[j] = s * (1.0 if d > 0.0 else -1.0 if d < 0.0 else 0.0 * d)
    elif out_kind == QUANTILE:
        for j in range(n):
            d = a[j] - y[j]
            g = 1.0 - loss_param if d > 0.0 else -loss_param if d < 0.0 else 0.5 - loss_param
            dz[j] = s * (g if d == d else d)
    else:  # a matched pair (output_seed's own branch) or an unknown code: NaN
        for j in range(n):
            dz[j] = math.nan


@jit_inline
def seed_curvature(out_kind, loss_param, d):
    """∂ψ/∂a at the residual d = a − y, the factor on R{a[r]} in R{dJ/dz[r]} (H v, G v).

    1 for the matched pairs (their output Jacobian, already in R{a[r]}, is the loss Hessian);
    huber 1 where abs(d) ≤ δ else 0 (PyTorch's second derivative at abs(d) = δ is 1); absolute_error
    and quantile 0.  NaN for an unknown code.
    """
    if out_kind == SQUARED or out_kind == SOFTMAX_CE or out_kind == LOGISTIC or out_kind == POISSON:
        return 1.0
    if out_kind == HUBER:
        return 1.0 if abs(d) <= loss_param else 0.0
    if out_kind == ABSOLUTE_ERROR or out_kind == QUANTILE:
        return 0.0
    return math.nan  # an unknown code: never another loss's factor


@jit
def ggn_seed(out_kind, loss_param, Ar, Yr, c, dZr):
    """Column c of a factor S_i of each row's output-loss Hessian: S_i S_iᵀ = ∂²J_i/∂z[r]².

    squared (H = I): S[:, c] = e_c; softmax cross-entropy (H = diag(p) − p pᵀ):
    S[:, c] = √p_c (e_c − p), since Σ_c p_c (e_c − p)(e_c − p)ᵀ = diag(p) − p pᵀ when Σ_c p_c = 1;
    logistic (H = diag(a(1 − a))): S[:, c] = √(a_c(1 − a_c)) e_c; poisson (J = e^z − y z,
    H = diag(a), a = e^z): S[:, c] = √a_c e_c; the robust losses (H = diag(ρ''(r)),
    :func:`seed_curvature`): S[:, c] = √ρ''(r_c) e_c (Huber 1[abs(r_c) ≤ δ], absolute error and
    quantile 0).  Writes the (m, n_r) block dZr; an unknown ``out_kind`` writes NaN.
    """
    m, n = Ar.shape
    for i in range(m):
        a = Ar[i]
        d = dZr[i]
        for j in range(n):
            d[j] = 0.0
        if out_kind == SQUARED:
            d[c] = 1.0
        elif out_kind == SOFTMAX_CE:
            s = math.sqrt(a[c])
            for j in range(n):
                d[j] = -s * a[j]
            d[c] += s
        elif out_kind == LOGISTIC:
            d[c] = math.sqrt(a[c] * (1.0 - a[c]))
        elif out_kind == POISSON:
            d[c] = math.sqrt(a[c])
        elif out_kind == HUBER or out_kind == ABSOLUTE_ERROR or out_kind == QUANTILE:
            d[c] = math.sqrt(seed_curvature(out_kind, loss_param, a[c] - Yr[i, c]))
        else:  # an unknown loss code: NaN, never another loss's factor
            for j in range(n):
                d[j] = math.nan


@jit
def target_row_ok(y, out_kind):
    """Whether the dense target row y is valid for the loss (as ``validate.as_targets`` checks).

    Finite everywhere (Σ y_j · 0 = 0 exactly then); logistic: 0 ≤ y_j ≤ 1; poisson: y_j ≥ 0;
    softmax cross-entropy: y_j ≥ 0 and |Σ y_j − 1| ≤ tol (1e-3 for float32, 1e-6 for float64);
    the identity outputs: any finite value.  An unknown code accepts nothing.
    """
    n = y.shape[0]
    acc = 0.0
    for j in range(n):
        acc += y[j] * 0.0
    if acc != 0.0:
        return False
    if out_kind == LOGISTIC:
        for j in range(n):
            if y[j] < 0.0 or y[j] > 1.0:
                return False
    elif out_kind == POISSON:
        for j in range(n):
            if y[j] < 0.0:
                return False
    elif out_kind == SOFTMAX_CE:
        tol = 1e-3 if y.itemsize == 4 else 1e-6
        s = 0.0
        for j in range(n):
            if y[j] < 0.0:
                return False
            s += y[j]
        if abs(s - 1.0) > tol:
            return False
    elif not (
        out_kind == SQUARED
        or out_kind == HUBER
        or out_kind == ABSOLUTE_ERROR
        or out_kind == QUANTILE
    ):  # an unknown loss code: no target is valid for it
        return False
    return True
