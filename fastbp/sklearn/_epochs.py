"""The estimators' epoch runner: one scikit-learn epoch through fastbp's compiled kernels.

An epoch in scikit-learn's batch order is one compiled call for the full batches with
λ = α/batch_size, plus one for a short last batch with λ = α/m_last, so the L2 term matches
scikit-learn's per batch.  Three ways through a part of the epoch:

* dense X: :func:`fastbp.epochs.minibatch_epoch`, which gathers each batch through the epoch's
  order itself (no ``X[order]`` copies);
* scipy.sparse X: the CSR first-layer epoch :func:`fastbp.sparse_kernels.minibatch_epoch_csr`
  (``SPARSE_TRAINING = "csr"``), or :data:`SPARSE_CHUNK_ROWS` rows densified at a time through
  the dense kernel (``"densify"``);
* DP-SGD (``max_grad_norm``; dense X, no sample weights): the compiled
  :func:`fastbp.dp_kernels.dp_minibatch_epoch`, in calls of a bounded number of batches,
  each with its block of noise (:mod:`fastbp.privacy`; every batch divided by Opacus's
  expected batch size of the epoch, the L2 term λ = α/m added after the noise, as Opacus
  leaves weight decay to the optimizer);
* sample weights: per batch, one compiled weighted loss-and-gradient call
  (:meth:`fastbp.lowered.LoweredNetwork.loss_and_gradient`) and one compiled optimizer step
  (:func:`fastbp.epochs.apply_update`), with scikit-learn's batch objective: the weighted mean
  loss, λ = α/Σ_B s_i.  This is not :mod:`fastbp.train`'s weighting (weights normalised over
  the training set, g = (1/|B|) Σ s̃_i ∇J_i, a step even for a zero-weight batch), so it is a
  rule of its own, written here once.

With ``weight_decay`` or ``clip_norm`` (``tools``), dense batches run
:func:`fastbp.toolbox_kernels.minibatch_epoch_toolbox`, sparse ones that kernel on densified
chunks, weighted ones :func:`fastbp.toolbox_kernels.toolbox_step`; the compiled epoch loop and
the CSR kernel are left to the default settings.  With ``dropout`` in the spec, dense batches
(and sparse ones, densified) run :func:`fastbp.dropout_kernels.minibatch_epoch_dropout` with
the toolbox step, its mask key from the network's seed (``random_state`` when an int); sample
weights and DP-SGD are refused.

Divergence (a non-finite loss or parameter) is settled by :func:`fastbp.row_kernels.settle`,
the same compiled check and restore as the one-row fast paths: the parameters and optimizer
state of the start of the epoch come back and :class:`fastbp.FitDivergedError` is raised.
Ctrl-C (deferred to the end of the compiled call) restores the same snapshot and reports the
epoch as interrupted.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import numpy as np
import scipy.sparse as sp

import fastbp.sklearn._params as _params
from fastbp import epochs as fastbp_epochs
from fastbp import privacy, row_kernels, sparse_kernels
from fastbp.dropout import DropoutRun, check_dropout
from fastbp.history import FitDivergedError, History
from fastbp.network import Network
from fastbp.optim import Optimizer
from fastbp.row_kernels import DirectCall, DirectCalls
from fastbp.sklearn import _loop
from fastbp.toolbox_kernels import minibatch_epoch_toolbox, toolbox_step
from fastbp.validate import as_features, as_sample_weight, as_targets


def csr_rows(X: Any, dtype: np.dtype | None = None) -> sp.csr_matrix:
    """X as a well-formed CSR matrix (the kernels and ``toarray`` index with its arrays).

    Parameters
    ----------
    X : scipy.sparse matrix
        CSR, CSC or COO.
    dtype : numpy.dtype, optional
        Make the stored values contiguous of this dtype (the compiled CSR kernel reads them).

    Returns
    -------
    scipy.sparse.csr_matrix
        The rows (the same object if X already was CSR).

    Raises
    ------
    ValueError
        If indptr/indices are malformed (checked in O(nnz) before any compiled code reads them).
    """
    X = X.tocsr()
    try:
        X.check_format(full_check=True)
    except ValueError as exc:
        raise ValueError(f"X is a malformed sparse matrix: {exc}") from None
    if dtype is not None:
        X.data = np.ascontiguousarray(X.data, dtype=dtype)
    return X


class EpochRunner:
    """One fit's epochs, each through fastbp's compiled minibatch kernel with little Python.

    The data is checked once (``as_features``/``as_targets``), and the kernels are entered
    directly (:class:`fastbp.row_kernels.DirectCall`; the argument types never change within a
    fit).  See the module docstring for the three paths and the divergence rule.

    Parameters
    ----------
    net : Network
        The network to train (its ``lowered`` state is driven directly).
    X : numpy.ndarray or scipy.sparse matrix
        (n, n_features) training rows.
    Y : numpy.ndarray
        (n, n_outputs) dense targets.
    batch_size : int
        Rows per batch.
    opt : Optimizer
        The optimizer; it becomes ``net.optimizer``.
    resume : bool
        Continue the state of ``net.optimizer`` when it is the same method (``partial_fit``),
        else start a new state.
    sw : numpy.ndarray or None
        Per-row sample weights.
    checked : bool
        X and Y were checked already.
    dp : fastbp.privacy.DPSettings or None
        DP-SGD's C and σ (dense X and no sample weights only).
    dp_rng : numpy.random.Generator or None
        The noise generator (:func:`fastbp.privacy.noise_generator`).
    tools : tuple or None
        (λ_wd, C, 0) from :func:`fastbp.sklearn._params.check_toolbox_params`, or None.

    Attributes
    ----------
    l2_batches : float
        After :meth:`run`: Σ_b m_b / Σ_{i∈B} s_i (the number of batches without weights); the L2
        term of scikit-learn's epoch loss is ½α‖W‖² times this over n.
    ctrl_c : threading.Event or None
        Set by a deferred Ctrl-C; checked after each compiled call.
    """

    def __init__(
        self, net: Network, X: Any, Y: np.ndarray, batch_size: int, opt: Optimizer,
        resume: bool, sw: np.ndarray | None = None, checked: bool = False,
        dp: privacy.DPSettings | None = None, dp_rng: np.random.Generator | None = None,
        tools: tuple | None = None,
    ) -> None:  # fmt: skip
        spec = net.spec
        dtype = spec.np_dtype
        self.net = net
        self.lowered = net.lowered
        self.sparse = sp.issparse(X)
        if checked:
            self.X: Any = X
            self.Y = Y
        else:
            self.X = csr_rows(X, dtype) if self.sparse else as_features(X, spec)
            self.Y = cast(np.ndarray, as_targets(Y, spec, self.X.shape[0]))  # Y is an array
        check_dropout(spec, sw, dp, "the estimator's fit")
        self.sw = None if sw is None else as_sample_weight(sw, self.X.shape[0], dtype)
        self.batch_size = batch_size
        previous = net.optimizer
        if (resume and previous is not None and previous.name == opt.name
                and previous.compatible(net.n_params, dtype)):  # fmt: skip
            opt.s1, opt.s2, opt.step = previous.s1, previous.s2, previous.step
        else:
            opt.reset(net.n_params, dtype)
        net.optimizer = self.opt = opt
        self.lowered.ws.ensure(batch_size)
        self.gather: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.info = np.zeros(4, dtype=np.float64)  # info[3]: DP-SGD's clipped examples
        self.dp, self.dp_rng, self.dp_divisor = dp, dp_rng, 1.0
        self.tools = tools
        self.drop = DropoutRun(net.lowered, batch_size, net.seed) if spec.has_dropout else None
        #: Neither toolbox options nor dropout: the compiled epoch loop may run the fit.
        self.plain = tools is None and self.drop is None
        self.norms = np.zeros(batch_size if dp is not None else 0, dtype=np.float64)
        self.good = np.empty_like(net.params)
        self.good1, self.good2 = np.empty_like(opt.s1), np.empty_like(opt.s2)
        # The caller's arrays and the order come first (X, Y, idx; the CSR arrays, Y, idx): the
        # direct entries check those on every call, the rest are this network's own buffers.
        #: Direct entries of the epoch variants used so far (fastbp.epochs.minibatch_kernel).
        self.kernels = DirectCalls(checked=3)
        self.csr_kernel = DirectCall(sparse_kernels.minibatch_epoch_csr, checked=5)
        #: fit's blocks of epochs (fastbp.sklearn._loop.run_epochs), entered directly.
        self.loop_kernel = DirectCall(_loop.run_epochs, checked=3)
        self.settle = DirectCall(row_kernels.settle, checked=0)
        #: Σ_k ‖W[k]‖²_F, the compiled loop's own sum (fastbp.sklearn._loop.weights_squared).
        self.weights_sq = DirectCall(_loop.weights_squared, checked=0)
        self.ctrl_c: threading.Event | None = None
        self.l2_batches = 0.0

    def reuse(self, X: np.ndarray, Y: np.ndarray, batch_size: int) -> bool:
        """Take the checked dense rows of the next ``partial_fit`` call, keeping everything else.

        The direct kernel entries, gather buffers and snapshot arrays stay; so does the optimizer,
        whose state continues.  Refused (False) when the estimator's network or its optimizer
        is no longer the one this runner was made for, or for sparse rows or sample weights.

        Parameters
        ----------
        X, Y : numpy.ndarray
            C-contiguous rows and dense targets of the network's dtype, already checked (finite,
            valid for the loss: :mod:`fastbp.sklearn._lean`).
        batch_size : int
            Rows per batch for this call.

        Returns
        -------
        bool
            Whether the runner took the rows (else make a new one).
        """
        net = self.net
        if self.sparse or self.sw is not None or self.dp is not None:
            return False
        if net.optimizer is not self.opt:
            return False
        if type(self.X) is not np.ndarray:  # rows that came lazily stay with their runner
            return False
        # Other kinds of X or Y than the first call's: the direct entries check the leading
        # arguments (DirectCall) and dispatch to the matching specialisation.
        if self.lowered is not net.lowered or self.good.shape != net.params.shape:
            return False
        self.X, self.Y, self.batch_size = X, Y, batch_size
        self.lowered.ws.ensure(batch_size)
        return True

    def weights_squared(self) -> float:
        """Σ_k ‖W[k]‖²_F (inf, without a warning, for weights on their way to diverging).

        The same compiled sum as the compiled epoch loop's, in fastbp's parameter order (not
        scikit-learn's ``coefs_`` order, so it can differ from scikit-learn's in the last bits;
        the loss is compared to rtol 1e-6 in the tests).

        Returns
        -------
        float
            The sum of the squared weights (biases excluded).
        """
        low = self.lowered
        return float(self.weights_sq(low.params, low.plan.weight_mask))

    def gather_buffers(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The (m, n_features) and (m, n_outputs) buffers the kernels gather batches of m into.

        Parameters
        ----------
        m : int
            Rows per batch (a kernel may use only the first rows, for a short last batch).

        Returns
        -------
        tuple of numpy.ndarray
            The X and Y buffers, made on first use for this m.
        """
        if m not in self.gather:
            dtype = self.net.spec.np_dtype
            self.gather[m] = (np.zeros((m, self.X.shape[1]), dtype),
                              np.zeros((m, self.Y.shape[1]), dtype))  # fmt: skip
        return self.gather[m]

    def _dense_rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of a sparse X as a dense C-contiguous array (only these rows)."""
        rows = self.X[idx].toarray()
        return np.ascontiguousarray(rows, dtype=self.net.spec.np_dtype)

    def _call(self, X: np.ndarray, Y: np.ndarray, idx: np.ndarray, m: int, lr: float,
              l2: float) -> None:  # fmt: skip
        low, opt, info = self.lowered, self.opt, self.info
        p, ws = low.plan, low.ws
        Xb, Yb = self.gather_buffers(m)
        if self.drop is not None:
            self.drop(low, X, Y, idx, m, Xb, Yb, opt, lr, l2, info, self.tools)
            return
        if self.tools is not None:
            minibatch_epoch_toolbox(
                X, Y, idx, m, low.params, p.widths, p.acts, p.out_kind, p.loss_param, p.w_off,
                p.b_off, p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA, low.grad, p.weight_mask,
                float(l2), low.blas_min_rows, opt.code, float(lr), opt.momentum, opt.beta1,
                opt.beta2, opt.eps, opt.s1, opt.s2, opt.step, info, *self.tools,
            )  # fmt: skip
            return
        variant = fastbp_epochs.minibatch_kernel(opt.code, l2, m, low.blas_min_rows)
        self.kernels(variant)(
            X, Y, idx, m, low.params, p.widths, p.acts, p.out_kind, p.loss_param, p.w_off, p.b_off,
            p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA, low.grad, p.weight_mask, float(l2),
            low.blas_min_rows, opt.code, float(lr), opt.momentum, opt.beta1, opt.beta2, opt.eps,
            opt.s1, opt.s2, opt.step, info,
        )  # fmt: skip

    def _csr_call(self, idx: np.ndarray, m: int, lr: float, l2: float) -> None:
        low, opt, X = self.lowered, self.opt, self.X
        p, ws = low.plan, low.ws
        self.csr_kernel(
            X.indptr, X.indices, X.data, self.Y, idx, m, low.params, p.widths, p.acts, p.out_kind,
            p.loss_param, p.w_off, p.b_off, p.u_off, self.gather_buffers(m)[1], ws.Z, ws.A, ws.dZ,
            ws.dA, low.grad, p.weight_mask, float(l2), low.blas_min_rows, opt.code, float(lr),
            opt.momentum, opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2, opt.step, self.info,
        )  # fmt: skip

    def _dp_call(self, idx: np.ndarray, m: int, lr: float, l2: float) -> None:
        """DP-SGD over the batches of ``idx`` (each of m rows), a bounded noise block a call."""
        low, info, dp = self.lowered, self.info, self.dp
        assert dp is not None and self.dp_rng is not None
        n_params = low.plan.n_params
        Xb, Yb = self.gather_buffers(m)
        step = privacy.batches_per_call(n_params, 1 << 30) * m
        for lo in range(0, idx.shape[0], step):
            part = idx[lo : lo + step]
            noise = privacy.noise_rows(dp, self.dp_rng, -(-part.shape[0] // m), n_params,
                                       low.spec.np_dtype)  # fmt: skip
            done = info[1]
            privacy.dp_call(low, self.X, self.Y, part, m, Xb, Yb, self.opt, lr, l2, info, dp,
                            self.dp_divisor, noise, self.norms)  # fmt: skip
            if info[2] != 0.0 or info[1] - done < part.shape[0]:
                break

    def _part(self, idx: np.ndarray, m: int, lr: float, alpha: float) -> None:
        """Train on the batches of ``idx`` (each of m rows); info[0] += Σ J, info[1] += rows."""
        if self.dp is not None:
            self._dp_call(idx, m, lr, alpha / m)
        elif self.sw is not None:
            self._weighted_batches(self.sw, idx, m, lr, alpha)
        elif not self.sparse:
            self._call(self.X, self.Y, idx, m, lr, alpha / m)
        elif _params.SPARSE_TRAINING == "csr" and self.plain:
            self._csr_call(idx, m, lr, alpha / m)
        else:
            step = max(1, _params.SPARSE_CHUNK_ROWS // m) * m
            info = self.info
            for lo in range(0, idx.shape[0], step):
                chunk = idx[lo : lo + step]
                before = info[0], info[1]
                self._call(self._dense_rows(chunk), np.ascontiguousarray(self.Y[chunk]),
                           np.arange(chunk.shape[0], dtype=np.int64), m, lr, alpha / m)  # fmt: skip
                if info[2] != 0.0 or info[1] - before[1] < chunk.shape[0]:
                    break

    def _weighted_batches(self, sw: np.ndarray, idx: np.ndarray, m: int, lr: float,
                          alpha: float) -> None:  # fmt: skip
        """scikit-learn's weighted batches (see the module docstring)."""
        low, opt, info = self.lowered, self.opt, self.info
        params, grad, mask = low.params, low.grad, low.plan.weight_mask
        for lo in range(0, idx.shape[0], m):
            b = idx[lo : lo + m]
            Xb = self._dense_rows(b) if self.sparse else self.X[b]
            sw_b = sw[b]
            total = float(sw_b.sum())
            if total <= 0.0:
                info[1] += b.shape[0]  # all-zero weights: no step (the gradient is undefined)
                continue
            J = low.loss_and_gradient(Xb, np.ascontiguousarray(self.Y[b]), sw=sw_b)
            if not np.isfinite(J):
                info[2] = 1.0
                return
            info[0] += J * b.shape[0]
            info[1] += b.shape[0]
            self.l2_batches += b.shape[0] / total
            if alpha != 0.0:
                grad += (alpha / total) * mask * params
            if self.tools is not None:
                toolbox_step(opt.code, params, grad, mask, float(lr), opt.momentum, opt.beta1,
                             opt.beta2, opt.eps, *self.tools, opt.s1, opt.s2,
                             opt.step)  # fmt: skip
                continue
            opt.step[0] += 1
            fastbp_epochs.apply_update(opt.code, params, grad, float(lr), opt.momentum,
                                       opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2,
                                       int(opt.step[0]))  # fmt: skip

    def run(self, order: np.ndarray, lr: float, alpha: float) -> tuple[float, bool]:
        """One epoch over ``order``.

        Parameters
        ----------
        order : numpy.ndarray
            The rows of the epoch, in batch order.
        lr : float
            The learning rate.
        alpha : float
            scikit-learn's L2 strength α.

        Returns
        -------
        loss : float
            scikit-learn's mean data loss of the epoch (NaN when interrupted).
        interrupted : bool
            Whether Ctrl-C stopped the epoch (the parameters of its start were restored).

        Raises
        ------
        FitDivergedError
            If the loss or a parameter became non-finite (the start of the epoch is restored).
        """
        low, opt, info = self.lowered, self.opt, self.info
        params = low.params
        n = order.shape[0]
        bs = self.batch_size
        n_full = (n // bs) * bs
        parts = [(order[:n_full], bs)]
        if n_full < n:
            parts.append((order[n_full:], n - n_full))
        total = 0.0
        self.l2_batches = 0.0 if self.sw is not None else -(-n // bs)
        self.dp_divisor = float(privacy.opacus_rate(n, bs)[1])
        with low.exclusive("fit"):
            np.copyto(self.good, params)
            np.copyto(self.good1, opt.s1)
            np.copyto(self.good2, opt.s2)
            step0 = int(opt.step[0])
            for idx, m in parts:
                if idx.shape[0] == 0:
                    continue
                info[0] = info[1] = info[2] = 0.0
                self._part(idx, m, lr, alpha)
                diverged = self.settle(params, opt.s1, opt.s2, self.good, self.good1, self.good2,
                                       info)  # fmt: skip
                if diverged or (self.ctrl_c is not None and self.ctrl_c.is_set()):
                    params[...] = self.good
                    opt.s1[...], opt.s2[...] = self.good1, self.good2
                    opt.step[0] = step0
                    if diverged:
                        raise FitDivergedError(
                            "the loss or the parameters became NaN/inf", epoch=0,
                            history=History(),
                        )  # fmt: skip
                    return np.nan, True
                # scikit-learn's epoch loss: each batch's (weighted) mean loss times its size.
                total += info[0] / max(info[1], 1.0) * idx.shape[0]
        loss = total / n
        if self.net.spec.loss_record.mean_over_outputs:
            loss /= self.net.spec.n_outputs  # scikit-learn reports the mean over outputs
        return loss, False
