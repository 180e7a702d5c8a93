"""Pure-Python backpropagation: the lecture's equations, line by line.

Python floats in nested lists, always float64, explicit loops over i and j, and no numpy in the
arithmetic.  It is slow on purpose: it is the yardstick every compiled kernel is checked against.
It takes the same flat parameter layout as the compiled code (W[1], b[1], ..., W[r], b[r], each W
row-major), so tests compare like for like.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The constants shared with the kernels; every formula below is written out here on purpose.
from fastbp.activations import ELU_ALPHA, LEAKY_SLOPE, SELU_ALPHA, SELU_SCALE
from fastbp.losses import RECORDS

#: The losses with an identity output: a[r] = z[r].
IDENTITY_OUTPUT = ("squared", "huber", "absolute_error", "quantile")


def _param(loss: str, loss_param: float | None) -> float:
    """The loss's parameter: ``loss_param``, or the record's default (δ = 1, τ = 0.5)."""
    return RECORDS[loss].default if loss_param is None else float(loss_param)


def _phi(z: float) -> float:
    """The standard normal density φ(z) = exp(−z²/2) / √(2π)."""
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _Phi(z: float) -> float:
    """The standard normal distribution function Φ(z) = (1 + erf(z/√2)) / 2."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def sigma(name: str, z: float) -> float:
    """Hidden activation σ(z)."""
    if name == "relu":
        return z if z > 0 else 0.0
    if name == "gelu":
        return z * _Phi(z)
    if name == "silu":
        return z * sigma("sigmoid", z)
    if name == "elu":
        return z if z > 0 else ELU_ALPHA * math.expm1(z)
    if name == "selu":
        return SELU_SCALE * (z if z > 0 else SELU_ALPHA * math.expm1(z))
    if name == "mish":
        return z * math.tanh(sigma("softplus", z))
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    if name == "tanh":
        return math.tanh(z)
    if name == "softplus":
        return max(z, 0.0) + math.log1p(math.exp(-abs(z)))
    if name == "leaky_relu":
        return z if z > 0 else LEAKY_SLOPE * z
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}")


def sigma_prime(name: str, z: float) -> float:
    """σ'(z), written from the definition of each activation (not from σ(z) itself)."""
    if name == "relu":
        return 1.0 if z > 0 else 0.0
    if name == "gelu":  # d/dz z Φ(z)
        return _Phi(z) + z * _phi(z)
    if name == "silu":  # d/dz z s(z), s' = s (1 − s)
        s = sigma("sigmoid", z)
        return s + z * s * (1.0 - s)
    if name == "elu":
        return 1.0 if z > 0 else ELU_ALPHA * math.exp(z)
    if name == "selu":
        return SELU_SCALE * (1.0 if z > 0 else SELU_ALPHA * math.exp(z))
    if name == "mish":  # d/dz z tanh(sp(z)), sp' = sigmoid
        t = math.tanh(sigma("softplus", z))
        return t + z * (1.0 - t * t) * sigma("sigmoid", z)
    if name == "sigmoid":
        s = sigma("sigmoid", z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - math.tanh(z) ** 2
    if name == "softplus":
        return sigma("sigmoid", z)
    if name == "leaky_relu":
        return 1.0 if z > 0 else LEAKY_SLOPE
    if name == "identity":
        return 1.0
    raise ValueError(f"unknown activation {name!r}")


def unpack(params: Sequence[float], widths: Sequence[int]) -> tuple[list, list]:
    """Flat parameters -> W[1..r] (lists of rows) and b[1..r]; index 0 is unused (None)."""
    W: list = [None]
    b: list = [None]
    pos = 0
    for k in range(1, len(widths)):
        rows = []
        for _ in range(widths[k]):
            rows.append([float(params[pos + p]) for p in range(widths[k - 1])])
            pos += widths[k - 1]
        W.append(rows)
        b.append([float(params[pos + j]) for j in range(widths[k])])
        pos += widths[k]
    return W, b


def pack(dJ_dW: list, dJ_db: list) -> list[float]:
    """Inverse of :func:`unpack` for gradients: the flat list in parameter layout."""
    flat: list[float] = []
    for k in range(1, len(dJ_dW)):
        for row in dJ_dW[k]:
            flat.extend(row)
        flat.extend(dJ_db[k])
    return flat


def output(loss: str, z: list[float]) -> list[float]:
    """Prediction from the output pre-activation: identity, softmax, sigmoid or exp."""
    if loss in IDENTITY_OUTPUT:
        return list(z)
    if loss == "logistic":
        return [sigma("sigmoid", v) for v in z]
    if loss == "poisson":
        return [math.exp(v) for v in z]
    if loss != "softmax_cross_entropy":
        raise ValueError(f"unknown loss {loss!r}")
    zmax = max(z)
    e = [math.exp(v - zmax) for v in z]
    total = sum(e)
    return [v / total for v in e]


def example_loss(
    loss: str, z: list[float], a: list[float], y: list[float], loss_param: float | None = None
) -> float:
    """J for one example: ½‖a − y‖², −Σ y log softmax(z), Σ binary cross-entropy, the
    Poisson Σ exp(z) − y z (log link, a = exp(z), so dJ/dz = a − y as for the others), or a
    robust loss of the residuals r = a − y: Huber's Σ ½ r² (|r| ≤ δ) or δ (|r| − ½ δ), Σ |r|,
    and the pinball Σ max(τ (y − a), (τ − 1)(y − a))."""
    if loss == "squared":
        return 0.5 * sum((a[j] - y[j]) ** 2 for j in range(len(y)))
    if loss == "huber":
        delta = _param(loss, loss_param)
        total = 0.0
        for j in range(len(y)):
            r = a[j] - y[j]
            total += 0.5 * r * r if abs(r) <= delta else delta * (abs(r) - 0.5 * delta)
        return total
    if loss == "absolute_error":
        return sum(abs(a[j] - y[j]) for j in range(len(y)))
    if loss == "quantile":
        tau = _param(loss, loss_param)
        return sum(max(tau * (y[j] - a[j]), (tau - 1.0) * (y[j] - a[j])) for j in range(len(y)))
    if loss == "logistic":
        # −[y log s + (1 − y) log(1 − s)] with s = sigmoid(z) equals softplus(z) − y z.
        return sum(sigma("softplus", z[j]) - y[j] * z[j] for j in range(len(y)))
    if loss == "poisson":
        return sum(math.exp(z[j]) - y[j] * z[j] for j in range(len(y)))
    if loss != "softmax_cross_entropy":
        raise ValueError(f"unknown loss {loss!r}")
    zmax = max(z)
    log_sum_exp = zmax + math.log(sum(math.exp(v - zmax) for v in z))
    return sum(y[j] * (log_sum_exp - z[j]) for j in range(len(y)) if y[j] != 0.0)


def output_delta(
    loss: str, a: list[float], y: list[float], loss_param: float | None = None
) -> list[float]:
    """dJ/dz[r] for one example.  For each matched loss/output pair (squared/identity,
    cross-entropy/softmax, binary cross-entropy/sigmoid, Poisson/exp) the output Jacobian cancels
    against the loss derivative, so it is prediction − target.  The robust losses have an identity
    output and dJ/dz = ρ'(r), r = a − y, with PyTorch autograd's value at a kink: Huber clip(r, −δ,
    δ); absolute error sign(r), 0 at r = 0; quantile 1 − τ (r > 0), −τ (r < 0) and ½ − τ at
    r = 0 (``torch.maximum`` splits a tie evenly)."""
    r = [a[j] - y[j] for j in range(len(y))]
    if loss == "huber":
        delta = _param(loss, loss_param)
        return [min(max(v, -delta), delta) for v in r]
    if loss == "absolute_error":
        return [1.0 if v > 0 else -1.0 if v < 0 else 0.0 for v in r]
    if loss == "quantile":
        tau = _param(loss, loss_param)
        return [1.0 - tau if v > 0 else -tau if v < 0 else 0.5 - tau for v in r]
    if loss not in ("squared", "softmax_cross_entropy", "logistic", "poisson"):
        raise ValueError(f"unknown loss {loss!r}")
    return r


def output_curvature(
    loss: str, a: list[float], y: list[float], loss_param: float | None = None
) -> list[float]:
    """d(dJ/dz[r])/d(a[r]) beyond the output Jacobian: 1 for the matched pairs (their H_loss is
    the output Jacobian itself); Huber 1 where |r| ≤ δ, else 0 (PyTorch's second derivative at
    |r| = δ is 1); absolute error and quantile 0."""
    if loss == "huber":
        delta = _param(loss, loss_param)
        return [1.0 if abs(a[j] - y[j]) <= delta else 0.0 for j in range(len(y))]
    if loss in ("absolute_error", "quantile"):
        return [0.0] * len(y)
    if loss not in ("squared", "softmax_cross_entropy", "logistic", "poisson"):
        raise ValueError(f"unknown loss {loss!r}")
    return [1.0] * len(y)


@dataclass
class Pass:
    """Everything one reference pass computes over a batch.

    ``z[i][k]``, ``a[i][k]``, ``dJ_dz[i][k]``, ``dJ_da[i][k]`` are lists for example i and layer k
    (a[i][0] is the input; dJ_da[i][k] exists for hidden layers 1..r−1; dJ_dz is per example,
    i.e. dJ_i/dz).  ``loss`` is the mean loss and ``grad`` its gradient in parameter layout.
    """

    loss: float
    grad: list[float]
    z: list
    a: list
    dJ_dz: list
    dJ_da: list


def loss_and_gradient(
    params: Sequence[float],
    widths: Sequence[int],
    activations: Sequence[str],
    loss: str,
    X: Sequence[Sequence[float]],
    Y: Sequence[Sequence[float]],
    loss_param: float | None = None,
    *,
    scales: Sequence[Sequence[Sequence[float]]] | None = None,
) -> Pass:
    """Mean loss over the examples of X, Y and its gradient by backpropagation (``loss_param``:
    Huber's δ or the quantile τ, default the record's).

    With ``scales`` (dropout with a given mask: scales[i][k − 1][j] = m_j / (1 − p_k) for example
    i and hidden layer k), layer k hands on ã[k] = a[k] ⊙ s[k], and the ``a`` of the result holds
    ã for the hidden layers.
    """
    r = len(widths) - 1
    W, b = unpack(params, widths)
    m = len(X)
    dJ_dW: list = [None] + [
        [[0.0] * widths[k - 1] for _ in range(widths[k])] for k in range(1, r + 1)
    ]
    dJ_db: list = [None] + [[0.0] * widths[k] for k in range(1, r + 1)]
    total = 0.0
    Zs, As, dZs, dAs = [], [], [], []
    for i, (x, y_row) in enumerate(zip(X, Y, strict=True)):
        y = [float(v) for v in y_row]
        s: list = [None] + [
            [1.0] * widths[k] if scales is None else [float(v) for v in scales[i][k - 1]]
            for k in range(1, r)
        ]
        # Forward: z[k] = W[k] a[k-1] + b[k],  a[k] = σ(z[k]).
        a: list = [[float(v) for v in x]]
        z: list = [None]
        for k in range(1, r + 1):
            z_k = [
                b[k][j] + sum(W[k][j][p] * a[k - 1][p] for p in range(widths[k - 1]))
                for j in range(widths[k])
            ]
            z.append(z_k)
            if k < r:  # ã[k] = a[k] ⊙ s[k] (s = 1 without dropout)
                a.append([sigma(activations[k - 1], v) * s[k][j] for j, v in enumerate(z_k)])
            else:
                a.append(output(loss, z_k))
        total += example_loss(loss, z[r], a[r], y, loss_param)

        # Backward.  For each matched loss/output pair the output Jacobian cancels against the
        # loss derivative, so dJ/dz[r] is simply prediction − target (output_delta).
        dJ_dz: list = [None] * (r + 1)
        dJ_da: list = [None] * (r + 1)
        dJ_dz[r] = output_delta(loss, a[r], y, loss_param)
        for k in range(r, 0, -1):
            # dJ/dW[k] = dJ/dz[k] a[k-1]^T,  dJ/db[k] = dJ/dz[k]  (summed, then averaged).
            for j in range(widths[k]):
                for p in range(widths[k - 1]):
                    dJ_dW[k][j][p] += dJ_dz[k][j] * a[k - 1][p]
                dJ_db[k][j] += dJ_dz[k][j]
            if k > 1:
                # dJ/da[k-1] = (W[k]^T dJ/dz[k]) ⊙ s[k-1],  dJ/dz[k-1] = dJ/da[k-1] ⊙ σ'(z[k-1]).
                dJ_da[k - 1] = [
                    sum(W[k][j][p] * dJ_dz[k][j] for j in range(widths[k])) * s[k - 1][p]
                    for p in range(widths[k - 1])
                ]
                dJ_dz[k - 1] = [
                    dJ_da[k - 1][p] * sigma_prime(activations[k - 2], z[k - 1][p])
                    for p in range(widths[k - 1])
                ]
        Zs.append(z)
        As.append(a)
        dZs.append(dJ_dz)
        dAs.append(dJ_da)
    for k in range(1, r + 1):
        for j in range(widths[k]):
            for p in range(widths[k - 1]):
                dJ_dW[k][j][p] /= m
            dJ_db[k][j] /= m
    return Pass(total / m, pack(dJ_dW, dJ_db), Zs, As, dZs, dAs)


def sgd_epoch(
    params: Sequence[float],
    widths: Sequence[int],
    activations: Sequence[str],
    loss: str,
    X: Sequence[Sequence[float]],
    Y: Sequence[Sequence[float]],
    lr: float,
    order: Sequence[int] | None = None,
    l2: float = 0.0,
    loss_param: float | None = None,
) -> list[float]:
    """One epoch of per-example SGD as the lecture states it: θ ← θ − α ∇J_i(θ) for each i.

    With ``l2`` = λ > 0 the step uses ∇(J_i + (λ/2) Σ_k ‖W[k]‖²), i.e. adds λ W to weights only.
    """
    theta = [float(v) for v in params]
    is_weight = weight_mask(widths)
    for i in order if order is not None else range(len(X)):
        g = loss_and_gradient(theta, widths, activations, loss, [X[i]], [Y[i]], loss_param).grad
        theta = [theta[q] - lr * (g[q] + l2 * is_weight[q] * theta[q]) for q in range(len(theta))]
    return theta


def dp_sgd_epoch(
    params: Sequence[float],
    widths: Sequence[int],
    activations: Sequence[str],
    loss: str,
    X: Sequence[Sequence[float]],
    Y: Sequence[Sequence[float]],
    lr: float,
    batch_size: int,
    max_grad_norm: float,
    divisor: float,
    noise_multiplier: float = 0.0,
    noise: Sequence[Sequence[float]] | None = None,
    l2: float = 0.0,
) -> list[float]:
    """One epoch of DP-SGD in order (Opacus's semantics), with plain SGD steps.

    For each batch of ``batch_size`` consecutive rows (fewer in a short last batch):
    g_i = ∇J_i(θ), c_i = min(1, C / (‖g_i‖ + 10⁻⁶)), g = (Σ_i c_i g_i + σ C ξ_t) / D + λ W-mask ⊙ θ
    and θ ← θ − α g, where ξ_t = ``noise[t]`` is the t-th batch's row of standard normals (unused
    when σ = 0) and D = ``divisor``, the same for every batch (Opacus's expected batch size).
    """
    theta = [float(v) for v in params]
    is_weight = weight_mask(widths)
    n_params = len(theta)
    for t, start in enumerate(range(0, len(X), batch_size)):
        rows = range(start, min(start + batch_size, len(X)))
        total = [0.0] * n_params
        for i in rows:
            g = loss_and_gradient(theta, widths, activations, loss, [X[i]], [Y[i]]).grad
            norm = math.sqrt(sum(v * v for v in g))
            c = min(1.0, max_grad_norm / (norm + 1e-6))
            total = [total[q] + c * g[q] for q in range(n_params)]
        if noise_multiplier != 0.0:
            assert noise is not None
            total = [total[q] + noise_multiplier * max_grad_norm * noise[t][q]
                     for q in range(n_params)]  # fmt: skip
        theta = [theta[q] - lr * (total[q] / divisor + l2 * is_weight[q] * theta[q])
                 for q in range(n_params)]  # fmt: skip
    return theta


def weight_mask(widths: Sequence[int]) -> list[float]:
    """1.0 for each weight and 0.0 for each bias, in parameter layout."""
    mask: list[float] = []
    for k in range(1, len(widths)):
        mask.extend([1.0] * (widths[k] * widths[k - 1]))
        mask.extend([0.0] * widths[k])
    return mask


def optimizer_step(
    name: str,
    theta: Sequence[float],
    grad: Sequence[float],
    is_weight: Sequence[float],
    state: dict,
    lr: float,
    mu: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    clip_norm: float | None = None,
    warmup: int = 0,
) -> list[float]:
    """One optimizer step with the toolbox options, as PyTorch defines each part; returns θ.

    ``state`` holds ``t`` (steps so far), ``v`` (velocity), ``m`` and ``s`` (Adam's moments) and
    is updated.  With t the new step count: α_t = α min(1, t/W) (warm-up over W steps);
    g ← g min(1, C / (‖g‖ + 10⁻⁶)) (clipping); then λ_wd on the weights only: ``adamw`` first
    θ ← θ (1 − α_t λ_wd), the others g ← g + λ_wd θ; then the step of ``name``.
    """
    n = len(theta)
    t = state["t"] = state.get("t", 0) + 1
    alpha = lr * t / warmup if 0 < warmup and t < warmup else lr
    g = [float(v) for v in grad]
    if clip_norm is not None:
        c = min(1.0, clip_norm / (math.sqrt(sum(v * v for v in g)) + 1e-6))
        g = [c * v for v in g]
    theta = [float(v) for v in theta]
    if name == "adamw":
        theta = [theta[q] * (1 - alpha * weight_decay) if is_weight[q] else theta[q]
                 for q in range(n)]  # fmt: skip
    else:
        g = [g[q] + weight_decay * is_weight[q] * theta[q] for q in range(n)]
    if name in ("momentum", "nesterov"):
        v0 = state.get("v", [0.0] * n)
        v = state["v"] = [mu * v0[q] - alpha * g[q] for q in range(n)]
        if name == "momentum":
            return [theta[q] + v[q] for q in range(n)]
        return [theta[q] + mu * v[q] - alpha * g[q] for q in range(n)]
    if name in ("adam", "adamw"):
        m0, s0 = state.get("m", [0.0] * n), state.get("s", [0.0] * n)
        m = state["m"] = [beta1 * m0[q] + (1 - beta1) * g[q] for q in range(n)]
        s = state["s"] = [beta2 * s0[q] + (1 - beta2) * g[q] * g[q] for q in range(n)]
        m_hat = [m[q] / (1 - beta1**t) for q in range(n)]
        s_hat = [s[q] / (1 - beta2**t) for q in range(n)]
        return [theta[q] - alpha * m_hat[q] / (math.sqrt(s_hat[q]) + eps) for q in range(n)]
    if name != "sgd":
        raise ValueError(f"unknown optimizer {name!r}")
    return [theta[q] - alpha * g[q] for q in range(n)]


# ---------------------------------------------------------------------------------------------
# Curvature: Hessian- and Gauss-Newton-vector products by Pearlmutter's R-operator,
# R{f} = d/dt f(θ + t v) at t = 0, applied line by line to the forward and backward passes.


def sigma_second(name: str, z: float) -> float:
    """σ''(z), written from the definition of each activation."""
    if name in ("relu", "leaky_relu", "identity"):
        return 0.0
    if name == "sigmoid":
        s = sigma("sigmoid", z)
        return s * (1.0 - s) * (1.0 - 2.0 * s)
    if name == "tanh":
        t = math.tanh(z)
        return -2.0 * t * (1.0 - t * t)
    if name == "softplus":
        s = sigma("sigmoid", z)
        return s * (1.0 - s)
    if name == "gelu":  # d/dz (Φ + z φ), φ' = −z φ
        return 2.0 * _phi(z) - z * z * _phi(z)
    if name == "silu":  # d/dz (s + z s (1 − s))
        s = sigma("sigmoid", z)
        ds = s * (1.0 - s)
        return 2.0 * ds + z * ds * (1.0 - 2.0 * s)
    if name == "elu":
        return 0.0 if z > 0 else ELU_ALPHA * math.exp(z)
    if name == "selu":
        return 0.0 if z > 0 else SELU_SCALE * SELU_ALPHA * math.exp(z)
    if name == "mish":  # d/dz (t + z t' ), t' = (1 − t²) s
        t = math.tanh(sigma("softplus", z))
        s = sigma("sigmoid", z)
        dt = (1.0 - t * t) * s
        ddt = -2.0 * t * dt * s + (1.0 - t * t) * s * (1.0 - s)
        return 2.0 * dt + z * ddt
    raise ValueError(f"unknown activation {name!r}")


def output_r(loss: str, a: list[float], Rz: list[float]) -> list[float]:
    """R{a[r]} = (∂a[r]/∂z[r]) R{z[r]}: identity, sigmoid or softmax Jacobian times R{z[r]}."""
    if loss in IDENTITY_OUTPUT:
        return list(Rz)
    if loss == "logistic":
        return [a[j] * (1.0 - a[j]) * Rz[j] for j in range(len(a))]
    if loss == "poisson":
        return [a[j] * Rz[j] for j in range(len(a))]
    if loss != "softmax_cross_entropy":
        raise ValueError(f"unknown loss {loss!r}")
    a_dot_Rz = sum(a[j] * Rz[j] for j in range(len(a)))
    return [a[j] * (Rz[j] - a_dot_Rz) for j in range(len(a))]


def r_forward(
    W: list, b: list, V: list, Vb: list, widths: Sequence[int], activations: Sequence[str],
    loss: str, x: Sequence[float],
) -> tuple[list, list, list, list]:  # fmt: skip
    """Forward pass and its R-image for one example: lists z, a, Rz, Ra indexed by layer k."""
    r = len(widths) - 1
    a: list = [[float(v) for v in x]]
    z: list = [None]
    Ra: list = [[0.0] * widths[0]]
    Rz: list = [None]
    for k in range(1, r + 1):
        # z[k] = W[k] a[k-1] + b[k],  R{z[k]} = W[k] R{a[k-1]} + V[k] a[k-1] + Vb[k].
        z_k = [
            b[k][j] + sum(W[k][j][p] * a[k - 1][p] for p in range(widths[k - 1]))
            for j in range(widths[k])
        ]
        Rz_k = [
            Vb[k][j]
            + sum(
                W[k][j][p] * Ra[k - 1][p] + V[k][j][p] * a[k - 1][p] for p in range(widths[k - 1])
            )
            for j in range(widths[k])
        ]
        z.append(z_k)
        Rz.append(Rz_k)
        if k < r:
            # a[k] = σ(z[k]),  R{a[k]} = σ'(z[k]) R{z[k]}.
            a.append([sigma(activations[k - 1], v) for v in z_k])
            Ra.append([sigma_prime(activations[k - 1], z_k[j]) * Rz_k[j] for j in range(widths[k])])
        else:
            a.append(output(loss, z_k))
            Ra.append(output_r(loss, a[k], Rz_k))
    return z, a, Rz, Ra


def hvp(
    params: Sequence[float],
    widths: Sequence[int],
    activations: Sequence[str],
    loss: str,
    X: Sequence[Sequence[float]],
    Y: Sequence[Sequence[float]],
    v: Sequence[float],
    loss_param: float | None = None,
) -> list[float]:
    """H v, H the Hessian of the mean loss over X, Y, by the R-operator on backpropagation."""
    r = len(widths) - 1
    W, b = unpack(params, widths)
    V, Vb = unpack(v, widths)
    m = len(X)
    RdJ_dW: list = [None] + [
        [[0.0] * widths[k - 1] for _ in range(widths[k])] for k in range(1, r + 1)
    ]
    RdJ_db: list = [None] + [[0.0] * widths[k] for k in range(1, r + 1)]
    for x, y_row in zip(X, Y, strict=True):
        y = [float(v) for v in y_row]
        z, a, Rz, Ra = r_forward(W, b, V, Vb, widths, activations, loss, x)

        # Backward and its R-image.  dJ/dz[r] = a[r] − y for each matched loss/output pair, so
        # R{dJ/dz[r]} = R{a[r]}, which r_forward already holds; a robust loss's ρ'' multiplies it.
        dJ_dz: list = [None] * (r + 1)
        dJ_da: list = [None] * (r + 1)
        RdJ_dz: list = [None] * (r + 1)
        RdJ_da: list = [None] * (r + 1)
        dJ_dz[r] = output_delta(loss, a[r], y, loss_param)
        h = output_curvature(loss, a[r], y, loss_param)
        RdJ_dz[r] = [h[j] * Ra[r][j] for j in range(widths[r])]
        for k in range(r, 0, -1):
            # R{dJ/dW[k]} = R{dJ/dz[k]} a[k-1]^T + dJ/dz[k] R{a[k-1]}^T,  R{dJ/db[k]} = R{dJ/dz[k]}.
            for j in range(widths[k]):
                for p in range(widths[k - 1]):
                    RdJ_dW[k][j][p] += RdJ_dz[k][j] * a[k - 1][p] + dJ_dz[k][j] * Ra[k - 1][p]
                RdJ_db[k][j] += RdJ_dz[k][j]
            if k > 1:
                # dJ/da[k-1] = W[k]^T dJ/dz[k],
                # R{dJ/da[k-1]} = W[k]^T R{dJ/dz[k]} + V[k]^T dJ/dz[k].
                dJ_da[k - 1] = [
                    sum(W[k][j][p] * dJ_dz[k][j] for j in range(widths[k]))
                    for p in range(widths[k - 1])
                ]
                RdJ_da[k - 1] = [
                    sum(
                        W[k][j][p] * RdJ_dz[k][j] + V[k][j][p] * dJ_dz[k][j]
                        for j in range(widths[k])
                    )
                    for p in range(widths[k - 1])
                ]
                # dJ/dz[k-1] = dJ/da[k-1] σ'(z[k-1]),
                # R{dJ/dz[k-1]} = R{dJ/da[k-1]} σ'(z[k-1]) + dJ/da[k-1] σ''(z[k-1]) R{z[k-1]}.
                name = activations[k - 2]
                dJ_dz[k - 1] = [
                    dJ_da[k - 1][p] * sigma_prime(name, z[k - 1][p]) for p in range(widths[k - 1])
                ]
                RdJ_dz[k - 1] = [
                    RdJ_da[k - 1][p] * sigma_prime(name, z[k - 1][p])
                    + dJ_da[k - 1][p] * sigma_second(name, z[k - 1][p]) * Rz[k - 1][p]
                    for p in range(widths[k - 1])
                ]
    return [g / m for g in pack(RdJ_dW, RdJ_db)]


def gnvp(
    params: Sequence[float],
    widths: Sequence[int],
    activations: Sequence[str],
    loss: str,
    X: Sequence[Sequence[float]],
    Y: Sequence[Sequence[float]],
    v: Sequence[float],
    loss_param: float | None = None,
) -> list[float]:
    """G v, G = (1/m) Σ_i J_i^T H_loss J_i the generalised Gauss-Newton matrix of the mean loss.

    J_i v = R{z[r]} comes from the R-forward pass, H_loss R{z[r]} = R{a[r]}, and J_i^T
    backpropagates it like an ordinary dJ/dz[r]: linearly, with no σ'' and no V term.  Y is used
    only by Huber's H_loss (1 where |a − y| ≤ δ): G of the other losses does not depend on it.
    """
    r = len(widths) - 1
    W, b = unpack(params, widths)
    V, Vb = unpack(v, widths)
    m = len(X)
    Gv_W: list = [None] + [
        [[0.0] * widths[k - 1] for _ in range(widths[k])] for k in range(1, r + 1)
    ]
    Gv_b: list = [None] + [[0.0] * widths[k] for k in range(1, r + 1)]
    for x, y_row in zip(X, Y, strict=True):
        z, a, Rz, Ra = r_forward(W, b, V, Vb, widths, activations, loss, x)
        RdJ_dz: list = [None] * (r + 1)
        h = output_curvature(loss, a[r], [float(v) for v in y_row], loss_param)
        RdJ_dz[r] = [h[j] * Ra[r][j] for j in range(widths[r])]
        for k in range(r, 0, -1):
            for j in range(widths[k]):
                for p in range(widths[k - 1]):
                    Gv_W[k][j][p] += RdJ_dz[k][j] * a[k - 1][p]
                Gv_b[k][j] += RdJ_dz[k][j]
            if k > 1:
                RdJ_da = [
                    sum(W[k][j][p] * RdJ_dz[k][j] for j in range(widths[k]))
                    for p in range(widths[k - 1])
                ]
                RdJ_dz[k - 1] = [
                    RdJ_da[p] * sigma_prime(activations[k - 2], z[k - 1][p])
                    for p in range(widths[k - 1])
                ]
    return [g / m for g in pack(Gv_W, Gv_b)]
