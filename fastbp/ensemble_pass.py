"""One pass of every active member: the optimizer state rows, one workspace per thread, and
the calls of the parallel drivers (:mod:`fastbp.ensemble_kernels`) a pass or a forward makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fastbp import _parallel, lanes
from fastbp import ensemble_kernels as ekk
from fastbp import epochs as ek
from fastbp.lowered import BLAS_MIN_ROWS, CHUNK_ROWS
from fastbp.optim import ADAM_FAMILY, Optimizer
from fastbp.specialise import kernel_module, specialises
from fastbp.validate import check_allocation

if TYPE_CHECKING:
    from fastbp.ensemble import Ensemble
    from fastbp.spec import NetworkSpec


# ------------------------------------------------------------------ state and buffers
@dataclass
class MemberState:
    """The optimizer state of every member: rows of (M, ·) arrays, as one network's
    :class:`~fastbp.optim.Optimizer` holds them (``S1``: velocity or first moment, ``S2``:
    second moment, ``steps``: update counts)."""

    settings: Optimizer
    mus: np.ndarray
    S1: np.ndarray
    S2: np.ndarray
    steps: np.ndarray

    @classmethod
    def fresh(
        cls, settings: Optimizer, mus: np.ndarray, M: int, n_params: int, dtype
    ) -> MemberState:
        """Zero state for M members (sizes as :meth:`fastbp.optim.Optimizer.reset`)."""
        n1 = n_params if settings.name != "sgd" else 1
        n2 = n_params if settings.name in ADAM_FAMILY else 1
        return cls(
            settings,
            mus,
            np.zeros((M, n1), dtype),
            np.zeros((M, n2), dtype),
            np.zeros((M, 1), np.int64),
        )

    def fits(self, name: str, M: int, n_params: int, dtype) -> bool:
        """Whether this state can continue for optimizer ``name`` on these parameters."""
        n1 = n_params if name != "sgd" else 1
        n2 = n_params if name in ADAM_FAMILY else 1
        return (
            self.settings.name == name
            and self.S1.shape == (M, n1)
            and self.S2.shape == (M, n2)
            and self.S1.dtype == dtype
        )

    def member(self, i: int) -> Optimizer:
        """Member i's state as an independent :class:`~fastbp.optim.Optimizer` (copies)."""
        s = self.settings
        return Optimizer(
            s.name,
            momentum=float(self.mus[i]),
            beta1=s.beta1,
            beta2=s.beta2,
            eps=s.eps,
            s1=self.S1[i].copy(),
            s2=self.S2[i].copy(),
            step=self.steps[i].copy(),
        )


def padded(n: int, itemsize: int) -> int:
    """``n`` entries rounded up to whole 64-byte cache lines, plus one line: rows of this length
    in one array never share a cache line (each slot's rows are written at every step)."""
    per_line = max(1, 64 // itemsize)
    return -(-n // per_line) * per_line + per_line


class Buffers:
    """One workspace per thread slot (never one per member): gather buffers, z, a, dJ/dz,
    dJ/da, a gradient buffer, and private rows for the member being trained (its parameters
    ``PW``, optimizer state ``SW1``, ``SW2``, ``STW`` and info ``IW``, see
    :func:`fastbp.ensemble_kernels.private_state`).  Each is a (T, ·) array whose row t is slot
    t's, padded so that no two slots' rows share a cache line (:func:`padded`)."""

    def __init__(self, spec: NetworkSpec, n_units: int, n_params: int, T: int, rows: int) -> None:
        dt = spec.np_dtype
        size = padded(rows * n_units, dt.itemsize)
        wide = padded(max(n_params, 1), dt.itemsize)
        extra_rows = 64 // dt.itemsize  # rows of at least one element: ≥ 64 bytes apart
        check_allocation(
            T * (4 * size + (rows + extra_rows) * (spec.n_inputs + spec.n_outputs) + 4 * wide)
            * dt.itemsize,
            f"the ensemble's workspaces ({T} threads × {rows} rows)",
        )  # fmt: skip
        self.XB = np.zeros((T, rows + extra_rows, spec.n_inputs), dt)
        self.YB = np.zeros((T, rows + extra_rows, spec.n_outputs), dt)
        self.ZS = np.zeros((T, size), dt)
        self.AS = np.zeros((T, size), dt)
        self.DZS = np.zeros((T, size), dt)
        self.DAS = np.zeros((T, size), dt)
        self.GS = np.zeros((T, wide), dt)
        self.PW = np.zeros((T, wide), dt)
        self.SW1 = np.zeros((T, wide), dt)
        self.SW2 = np.zeros((T, wide), dt)
        self.STW = np.zeros((T, 8), np.int64)
        self.IW = np.zeros((T, 8), np.float64)


# ------------------------------------------------------------------ one pass
#: Per-example SGD with members in SIMD lanes (:mod:`fastbp.lanes`): ``"auto"`` where
#: :func:`fastbp.lanes.recommended` measured it faster than one member per thread (small
#: layers, many members), ``"always"`` wherever :func:`fastbp.lanes.supported`, ``"never"``.
#: Lanes agree with a solo fit to the suite's tolerances, not to the bit (the solo kernel
#: sums its dot products in another order); with ``"never"`` every member is bit for bit.
LANES = "auto"


def uses_lanes(spec: NetworkSpec, n_members: int) -> bool:
    """Whether per-example SGD of ``n_members`` members of ``spec`` runs the lanes kernel
    (:data:`LANES`).

    Parameters
    ----------
    spec : NetworkSpec
        The members' spec.
    n_members : int
        M.

    Returns
    -------
    bool
    """
    if LANES not in ("auto", "always", "never"):
        raise ValueError(f"fastbp.ensemble_pass.LANES must be 'auto', 'always' or 'never', "
                         f"got {LANES!r}")  # fmt: skip
    if LANES == "never" or not lanes.supported(spec):
        return False
    return LANES == "always" or lanes.recommended(spec, n_members)


def _lanes_pass(spec, X3, Y3, orders, lo, hi, P, lrs, l2s, info, active, n_threads) -> None:
    """:func:`fastbp.lanes.lanes_epoch` on ``orders[:, lo:hi]`` for the active members; the
    others' rows run with α = 0 and are put back as they were."""
    idle = np.flatnonzero(active == 0)
    keep = P[idle].copy()
    part = orders if (lo == 0 and hi == orders.shape[1]) else np.ascontiguousarray(orders[:, lo:hi])
    rates = np.where(active != 0, lrs, 0.0)
    lanes.lanes_epoch(spec, X3, Y3, part, P, rates, l2s, info, n_threads)
    P[idle] = keep


def run_pass(
    ens: Ensemble,
    X3,
    Y3,
    orders,
    lo: int,
    hi: int,
    batch_size: int,
    state: MemberState,
    lrs,
    l2s,
    info,
    active,
    buf: Buffers,
    n_threads: int,
    lanes: bool = False,
    tools: tuple | None = None,
) -> None:
    """Every active member trains on ``orders[i, lo:hi]``: one compiled call per kernel variant.

    ``tools`` (λ_wd, C, W) from :func:`fastbp.train.toolbox`, or None: with it every batch runs
    the toolbox step (per-example SGD too, as batches of one row, as a single network's fit).

    ``lanes`` runs per-example SGD with the members in SIMD lanes (:func:`uses_lanes` decides it
    once per fit, for the whole ensemble, so that a shard of it runs what the whole would).

    Per-example SGD runs the spec's specialised kernel (or the generic one); minibatches run
    the variant :func:`fastbp.epochs.minibatch_kernel` picks for member i's λ, so each member
    runs what its own fit would.  ``info`` (M, 3) is accumulated as one network's.
    """
    spec, p = ens.spec, ens.plan
    P = ens.params
    opt = state.settings
    with _parallel.launch(n_threads):
        if tools is not None:
            ekk.minibatch_toolbox(
                X3, Y3, orders, lo, hi, batch_size, P, p.widths, p.acts, p.out_kind,
                p.loss_param, p.w_off, p.b_off, p.u_off, buf.XB, buf.YB, buf.ZS, buf.AS,
                buf.DZS, buf.DAS, buf.GS,
                p.weight_mask, l2s, BLAS_MIN_ROWS, opt.code, lrs, state.mus, opt.beta1,
                opt.beta2, opt.eps, state.S1, state.S2, state.steps, info, active, buf.PW,
                buf.SW1, buf.SW2, buf.STW, buf.IW, *tools,
            )  # fmt: skip
            return
        if batch_size == 1 and opt.name == "sgd":
            if lanes:
                _lanes_pass(spec, X3, Y3, orders, lo, hi, P, lrs, l2s, info, active, n_threads)
            elif specialises(spec):
                module = kernel_module(spec)
                for kernel, use in (
                    (module.ensemble_sgd_epoch, l2s == 0.0),
                    (module.ensemble_sgd_epoch_l2, l2s != 0.0),
                ):
                    mask = (active != 0) & use
                    if mask.any():
                        kernel(
                            X3,
                            Y3,
                            orders,
                            lo,
                            hi,
                            P,
                            p.widths,
                            p.w_off,
                            p.b_off,
                            p.u_off,
                            buf.ZS,
                            buf.AS,
                            buf.DAS,
                            lrs,
                            l2s,
                            info,
                            mask.astype(np.int64),
                            buf.PW,
                            buf.IW,
                        )
            else:
                ekk.sgd_example(
                    X3,
                    Y3,
                    orders,
                    lo,
                    hi,
                    P,
                    p.widths,
                    p.acts,
                    p.out_kind,
                    p.loss_param,
                    p.w_off,
                    p.b_off,
                    p.u_off,
                    buf.ZS,
                    buf.AS,
                    buf.DZS,
                    buf.DAS,
                    lrs,
                    l2s,
                    info,
                    active,
                    buf.PW,
                    buf.IW,
                )
            return
        variants: dict[str, list[int]] = {}
        for i in np.flatnonzero(active):
            name = ek.minibatch_kernel(opt.code, float(l2s[i]), batch_size, BLAS_MIN_ROWS).__name__
            variants.setdefault(name, []).append(int(i))
        for name, members in variants.items():
            mask = np.zeros_like(active)
            mask[members] = 1
            ekk.MINIBATCH_DRIVERS[name](
                X3,
                Y3,
                orders,
                lo,
                hi,
                batch_size,
                P,
                p.widths,
                p.acts,
                p.out_kind,
                p.loss_param,
                p.w_off,
                p.b_off,
                p.u_off,
                buf.XB,
                buf.YB,
                buf.ZS,
                buf.AS,
                buf.DZS,
                buf.DAS,
                buf.GS,
                p.weight_mask,
                l2s,
                BLAS_MIN_ROWS,
                opt.code,
                lrs,
                state.mus,
                opt.beta1,
                opt.beta2,
                opt.eps,
                state.S1,
                state.S2,
                state.steps,
                info,
                mask,
                buf.PW,
                buf.SW1,
                buf.SW2,
                buf.STW,
                buf.IW,
            )


def member_outputs(ens: Ensemble, X3, Y3, idx, active, n_threads: int, with_loss: bool):
    """Outputs (M, n, nr) of every member on its rows ``idx`` ((1 or M, n) int64), and the
    loss sums (M,) when ``with_loss``; one compiled call (members over the threads)."""
    spec, p = ens.spec, ens.plan
    M, n = len(ens), idx.shape[1]
    T = max(1, min(n_threads, M))
    rows = min(CHUNK_ROWS, n)
    check_allocation(
        M * n * spec.n_outputs * spec.np_dtype.itemsize,
        f"the outputs of {M} members × {n:,} rows × {spec.n_outputs}",
    )
    out = np.empty((M, n, spec.n_outputs), spec.np_dtype)
    losses = np.zeros(M, np.float64)
    buf = Buffers(spec, p.n_units, 0, T, rows)
    with _parallel.launch(T):
        ekk.outputs(
            X3,
            Y3,
            idx,
            ens.params,
            p.widths,
            p.acts,
            p.out_kind,
            p.loss_param,
            p.w_off,
            p.b_off,
            p.u_off,
            buf.XB,
            buf.YB,
            buf.ZS,
            buf.AS,
            rows,
            BLAS_MIN_ROWS,
            with_loss,
            active,
            out,
            losses,
        )
    return out, losses
