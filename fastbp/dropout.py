"""Dropout in training: the mask key, the training driver's call, masks and gradients from outside.

A spec with ``dropout`` (:class:`fastbp.NetworkSpec`) trains every batch through
:func:`fastbp.dropout_kernels.minibatch_epoch_dropout`, and per-example plain SGD (no toolbox
option) through the kernel :mod:`fastbp.specialise` generates for the spec with its dropout
(``sgd_epoch_dropout``; the same masks, the generic kernel with batches of one row when
specialisation is off or the loss has no generated kernel):
``fit`` and ``partial_fit`` of :class:`fastbp.Network` and the estimators of
:mod:`fastbp.sklearn`.  ``forward``, ``predict``, ``loss``, ``score`` and the gradients of
:class:`fastbp.Network` stay deterministic inference: they never drop.

The masks of step t are a function of (key, t, batch row, layer, unit) alone
(:mod:`fastbp.dropout_kernels`): the key comes from ``fit``'s ``seed`` (``partial_fit``'s
``seed``, 0 by default), t is the optimizer's step count, which ``partial_fit`` continues, so
consecutive calls draw new masks, and row-by-row ``partial_fit`` calls with seed 0 draw what
``fit(..., seed=0, shuffle=False)`` draws.

Not supported with dropout, refused with a ValueError before any compiled code runs: DP-SGD
(``max_grad_norm``), sample weights, and :class:`fastbp.Ensemble`.
"""

from __future__ import annotations

import numpy as np

from fastbp.dropout_kernels import draw_masks, dropout_loss_grad, minibatch_epoch_dropout
from fastbp.lowered import LoweredNetwork, NetworkLike, as_lowered
from fastbp.lowered import quiet_if_no_jit as _quiet  # the mask hashing wraps uint64 by design
from fastbp.spec import NetworkSpec
from fastbp.specialise import dropout_layers, kernel_module, layer_arrays, specialises

__all__ = ["DropoutRun", "check_dropout", "dropout_key", "loss_and_gradient_with_masks", "masks"]


def dropout_key(seed: int | None) -> np.uint64:
    """The 64-bit mask key of a seed (NumPy's SeedSequence; fresh entropy for None).

    Parameters
    ----------
    seed : int or None
        The fit's seed.

    Returns
    -------
    numpy.uint64
    """
    return np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]


def check_dropout(spec: NetworkSpec, sample_weight: object = None, dp: object = None,
                  where: str = "fit") -> None:  # fmt: skip
    """Refuse what dropout does not support (before anything is changed or compiled).

    Parameters
    ----------
    spec : NetworkSpec
        The network's spec (nothing is refused without dropout).
    sample_weight, dp : object
        The call's sample weights and DP-SGD settings (None when off).
    where : str
        The caller, for the message.

    Raises
    ------
    ValueError
        For dropout with sample weights or DP-SGD.
    """
    if not spec.has_dropout:
        return
    if dp is not None:
        raise ValueError(f"{where}: dropout does not take DP-SGD (max_grad_norm)")
    if sample_weight is not None:
        raise ValueError(f"{where}: dropout does not take sample_weight")


class DropoutRun:
    """One fit's dropout: the mask key and the S and AD workspaces for batches of ``batch_size``.

    Parameters
    ----------
    net : LoweredNetwork
        The network (its spec has dropout).
    batch_size : int
        Rows per batch (the workspaces' capacity).
    seed : object
        The seed of the mask key (:func:`dropout_key`); anything but an int (None, a network's
        Generator) draws fresh entropy.
    """

    def __init__(self, net: LoweredNetwork, batch_size: int, seed: object) -> None:
        size = batch_size * net.plan.n_units
        self.key = dropout_key(int(seed) if isinstance(seed, (int, np.integer)) else None)
        self.S = np.zeros(size, dtype=net.spec.np_dtype)
        self.AD = np.zeros(size, dtype=net.spec.np_dtype)

    def __call__(self, net: LoweredNetwork, X, Y, part, batch_size, Xb, Yb, opt, lr, l2, info,
                 tools: tuple | None) -> None:  # fmt: skip
        """Train on the batches of ``part`` (see :func:`minibatch_epoch_dropout`)."""
        p = net.plan
        if self.S.shape[0] < batch_size * p.n_units:  # a later partial_fit with larger batches
            self.S = np.zeros(batch_size * p.n_units, dtype=self.S.dtype)
            self.AD = np.zeros_like(self.S)
        if batch_size == 1 and opt.name == "sgd" and tools is None and specialises(net.spec):
            with _quiet():
                self.per_example(net, X, Y, part, lr, l2, info, opt.step)
            return
        wd, clip, warmup = (0.0, 0.0, 0) if tools is None else tools
        with _quiet():
            self._minibatch(net, X, Y, part, batch_size, Xb, Yb, opt, lr, l2, info, wd, clip,
                            warmup)  # fmt: skip

    def _minibatch(self, net, X, Y, part, batch_size, Xb, Yb, opt, lr, l2, info, wd, clip,
                   warmup) -> None:  # fmt: skip
        p, ws = net.plan, net.ws
        minibatch_epoch_dropout(
            X, Y, part, batch_size, net.params, p.widths, p.acts, p.out_kind, p.loss_param,
            p.w_off, p.b_off, p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA, net.grad, p.weight_mask,
            float(l2), net.blas_min_rows, opt.code, float(lr), opt.momentum, opt.beta1, opt.beta2,
            opt.eps, opt.s1, opt.s2, opt.step, info, float(wd), float(clip), int(warmup), self.key,
            p.dropout, self.S, self.AD,
        )  # fmt: skip

    def per_example(self, net: LoweredNetwork, X, Y, part, lr, l2, info, step) -> None:
        """Per-example SGD over ``part`` through the generated ``sgd_epoch_dropout`` kernel."""
        spec, p = net.spec, net.plan
        module = kernel_module(spec)
        kernel = module.sgd_epoch_dropout_l2 if l2 != 0.0 else module.sgd_epoch_dropout
        drop = []
        for k in dropout_layers(spec):
            lo, hi = int(p.u_off[k - 1]), int(p.u_off[k])
            drop += [self.S[lo:hi], self.AD[lo:hi]]
        kernel(X, Y, part, *layer_arrays(spec, p, net.params, net.ws), float(lr), float(l2), info,
               *drop, self.key, step, p.dropout)  # fmt: skip


def masks(spec: NetworkSpec, m: int, seed: int | None = 0, step: int = 1) -> list[np.ndarray]:
    """The keep masks (1 kept, 0 dropped) training draws at optimizer ``step`` for m rows.

    Parameters
    ----------
    spec : NetworkSpec
        The spec (its dropout rates).
    m : int
        Rows of the batch.
    seed : int or None
        The fit's seed.
    step : int
        The 1-based optimizer step.

    Returns
    -------
    list of numpy.ndarray
        One (m, n_k) float array per hidden layer (all ones where the rate is 0).
    """
    net = LoweredNetwork(spec)
    p = net.plan
    S = np.zeros(m * p.n_units, dtype=np.float64)
    with _quiet():
        draw_masks(dropout_key(seed), int(step), int(m), p.widths, p.u_off, p.dropout, S)
    out = []
    for k in range(1, spec.n_layers):
        block = S[m * p.u_off[k - 1] : m * p.u_off[k]].reshape(m, spec.widths[k])
        out.append((block != 0).astype(np.float64) if p.dropout[k - 1] > 0 else np.ones_like(block))
    return out


def loss_and_gradient_with_masks(
    net: NetworkLike, X: np.ndarray, Y: np.ndarray, keep: list[np.ndarray]
) -> tuple[float, np.ndarray]:
    """The mean loss and its gradient with given keep masks (the compiled training pass).

    Hidden layer k hands on a[k] ⊙ keep[k] / (1 − p_k) (p_k from the spec; a layer with p_k = 0
    ignores its mask).  For tests and :func:`fastbp.gradcheck_dropout`.

    Parameters
    ----------
    net : Network or LoweredNetwork
        The network (its current parameters).
    X, Y : numpy.ndarray
        (m, n0) rows and (m, nr) dense targets of the network's dtype.
    keep : list of numpy.ndarray
        One (m, n_k) array of 0/1 per hidden layer.

    Returns
    -------
    tuple of (float, numpy.ndarray)
        The mean loss and a copy of its gradient (parameter layout).
    """
    low = as_lowered(net)
    p, spec = low.plan, low.spec
    dtype = spec.np_dtype
    X = np.ascontiguousarray(X, dtype=dtype)
    Y = np.ascontiguousarray(Y, dtype=dtype).reshape(X.shape[0], -1)
    m = X.shape[0]
    if len(keep) != spec.n_layers - 1:
        raise ValueError(f"keep needs one mask per hidden layer ({spec.n_layers - 1})")
    S = np.zeros(m * p.n_units, dtype=dtype)
    for k in range(1, spec.n_layers):
        rate = p.dropout[k - 1]
        scale = np.asarray(keep[k - 1], dtype=np.float64).reshape(m, spec.widths[k])
        if rate > 0:
            S[m * p.u_off[k - 1] : m * p.u_off[k]] = (scale * (1.0 / (1.0 - rate))).ravel()
    Z, A, AD, dZ, dA = (np.zeros(m * p.n_units, dtype=dtype) for _ in range(5))
    grad = np.zeros(p.n_params, dtype=dtype)
    J = dropout_loss_grad(X, Y, low.params, p.widths, p.acts, p.out_kind, p.loss_param, p.w_off,
                          p.b_off, p.u_off, p.dropout, S, Z, A, AD, dZ, dA, grad,
                          m >= low.blas_min_rows)  # fmt: skip
    return float(J) / m, grad
