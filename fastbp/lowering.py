"""Lowering: a :class:`NetworkSpec` becomes static arrays that kernels index with integers.

Parameter layout (public)
-------------------------
One flat, C-contiguous buffer ``params``.  For k = 1..r it holds ``W[k]`` (shape n_k × n_{k−1},
row-major, so that z[k] = W[k] a[k−1] + b[k]) immediately followed by ``b[k]`` (n_k entries)::

    params = [ W[1] (row-major) | b[1] | W[2] | b[2] | ... | W[r] | b[r] ]
    w_off[k-1] = start of W[k],  b_off[k-1] = start of b[k] = w_off[k-1] + n_k n_{k-1}

The gradient buffer has exactly the same layout.

Workspace layout
----------------
z, a, dJ/dz and dJ/da each live in one flat buffer of ``capacity * U`` entries, U = n1 + ... + nr.
For a batch of m ≤ capacity rows, layer k occupies the contiguous block
``[m * u_off[k-1], m * u_off[k])`` viewed as an (m, n_k) row-major matrix, so every layer's block
is contiguous whatever m is (and BLAS can work on it directly).  The input a[0] is the caller's X.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastbp.activations import ACTIVATIONS
from fastbp.spec import LOSSES, NetworkSpec

#: Refuse workspaces larger than this (bytes) with a clear error instead of a MemoryError later.
MAX_WORKSPACE_BYTES = 8 * 2**30


@dataclass(frozen=True)
class Plan:
    """Integer tables describing where each layer lives; built once per spec.

    Attributes
    ----------
    widths:  int64[r + 1], n_0..n_r.
    acts:    int64[r], activation code of layers 1..r (the output entry is unused: the output
             transform is fixed by ``out_kind``).
    out_kind: loss code (:data:`fastbp.losses.RECORDS`' ``code``).
    loss_param: the loss's parameter (Huber's δ, the quantile τ; the spec field the record's
             ``param`` names), NaN for a loss without one; kernels take it next to ``out_kind``.
    w_off, b_off: int64[r], start of W[k] and b[k] in the parameter buffer (index k − 1).
    u_off:   int64[r + 1], prefix sums of n_1..n_r: layer k's units are u_off[k−1]..u_off[k].
    n_params, n_units: sizes of the parameter buffer and of one workspace row.
    weight_mask: 1 where the parameter is a weight, 0 where it is a bias (for L2 penalties).
    dropout: float64[r], the training dropout rate of layers 1..r (the output entry is 0).
    """

    widths: np.ndarray
    acts: np.ndarray
    out_kind: int
    loss_param: float
    w_off: np.ndarray
    b_off: np.ndarray
    u_off: np.ndarray
    n_params: int
    n_units: int
    weight_mask: np.ndarray
    dropout: np.ndarray


def lower(spec: NetworkSpec) -> Plan:
    """Build the offset tables of ``spec`` (no parameter or workspace memory is allocated)."""
    widths = np.asarray(spec.widths, dtype=np.int64)
    r = len(widths) - 1
    acts = np.zeros(r, dtype=np.int64)
    for k, name in enumerate(spec.activations):
        acts[k] = ACTIVATIONS[name]
    w_off = np.zeros(r, dtype=np.int64)
    b_off = np.zeros(r, dtype=np.int64)
    u_off = np.zeros(r + 1, dtype=np.int64)
    pos = 0
    for k in range(1, r + 1):
        w_off[k - 1] = pos
        pos += widths[k] * widths[k - 1]
        b_off[k - 1] = pos
        pos += widths[k]
        u_off[k] = u_off[k - 1] + widths[k]
    weight_mask = np.zeros(pos, dtype=spec.np_dtype)
    for k in range(r):
        weight_mask[w_off[k] : b_off[k]] = 1
    dropout = np.zeros(r, dtype=np.float64)
    dropout[: r - 1] = spec.dropout
    for arr in (widths, acts, w_off, b_off, u_off, weight_mask, dropout):
        arr.setflags(write=False)
    return Plan(
        widths=widths,
        acts=acts,
        out_kind=LOSSES[spec.loss][0],
        loss_param=spec.loss_param,
        w_off=w_off,
        b_off=b_off,
        u_off=u_off,
        n_params=int(pos),
        n_units=int(u_off[-1]),
        weight_mask=weight_mask,
        dropout=dropout,
    )


class Workspace:
    """Flat z, a, dJ/dz, dJ/da buffers for up to ``capacity`` rows, reused across calls."""

    __slots__ = ("A", "Z", "capacity", "dA", "dZ", "dtype", "n_units")

    def __init__(self, n_units: int, capacity: int, dtype: np.dtype) -> None:
        self.n_units = n_units
        self.dtype = np.dtype(dtype)
        self.capacity = 0
        self.Z = self.A = self.dZ = self.dA = np.empty(0, dtype=self.dtype)
        self.ensure(capacity)

    def ensure(self, m: int) -> None:
        """Grow the buffers (never shrink) so that a batch of ``m`` rows fits."""
        if m <= self.capacity:
            return
        size = m * self.n_units
        n_bytes = 4 * size * self.dtype.itemsize
        if n_bytes > MAX_WORKSPACE_BYTES:
            raise ValueError(
                f"a batch of {m} rows needs {n_bytes / 2**30:.1f} GiB of workspace "
                f"(limit {MAX_WORKSPACE_BYTES / 2**30:.0f} GiB); use a smaller batch"
            )
        self.Z = np.zeros(size, dtype=self.dtype)
        self.A = np.zeros(size, dtype=self.dtype)
        self.dZ = np.zeros(size, dtype=self.dtype)
        self.dA = np.zeros(size, dtype=self.dtype)
        self.capacity = m

    def layer(self, buf: np.ndarray, plan: Plan, k: int, m: int) -> np.ndarray:
        """View of layer k (1-based) of workspace ``buf`` for a batch of m rows, shape (m, n_k)."""
        lo, hi = m * plan.u_off[k - 1], m * plan.u_off[k]
        return buf[lo:hi].reshape(m, int(plan.widths[k]))
