"""Circuit: a differentiable function lowered to a tape of static arrays.

A tape of N nodes is six arrays.  Node i computes ``ops[i]`` (a code from
:mod:`fastbp.circuit.ops`) of the values of nodes ``arg0[i]`` and ``arg1[i]`` (−1 when the op
does not read that argument) and its own constant ``consts[i]`` (the value of a CONST node, the
exponent of POWC, 0 otherwise).  ``inputs[k]`` is the INPUT node that receives x[k] and
``outputs`` lists the output node(s).  Every argument refers to an earlier node, so index order
is a topological order and each sweep is one pass over the arrays.

The tape is validated once, when the Circuit is built (:mod:`fastbp.circuit.validation`), and
stored in read-only copies; every method validates its arguments before a compiled kernel runs,
so no kernel can index out of bounds whatever the caller passes.  The file format lives in
:mod:`fastbp.circuit.files`.  Batches are processed in chunks whose (N, chunk) buffers stay
under :data:`MAX_BUFFER_BYTES`; the buffers are kept and reused between calls.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import threading
from collections.abc import Callable, Iterator

import numba
import numpy as np
from numpy.typing import ArrayLike

from fastbp.circuit import batch_kernels, files, kernels
from fastbp.circuit import ops as O
from fastbp.circuit.files import FORMAT_NAME, FORMAT_VERSION
from fastbp.circuit.validation import (
    ARRAY_NAMES,
    as_tape_arrays,
    check_forward,
    check_reverse,
    check_tape,
    flag,
    real_array,
)

__all__ = ["ARRAY_NAMES", "FORMAT_NAME", "FORMAT_VERSION", "MAX_BUFFER_BYTES", "Circuit"]

#: A batch is split into chunks so that each (N, chunk) float64 buffer stays below this size
#: (at least one point per chunk, however large N is).
MAX_BUFFER_BYTES = 16 * 2**20


class Circuit:
    """A differentiable circuit of N nodes with l inputs and one or more outputs.

    Build one with :func:`fastbp.circuit.record` (from a Python function),
    :meth:`from_arrays` (from a tape) or :meth:`load` (from a file).  ``x`` is one point of shape
    (l,) or a batch of shape (B, l); results have the matching shape.  The tape arrays are
    read-only attributes: ``ops``, ``arg0``, ``arg1``, ``consts``, ``inputs``, ``outputs``.

    The value-and-gradient vocabulary is fastbp's (a Network has ``loss``, ``gradient`` and
    ``loss_and_gradient``): :meth:`value` is the scalar that is differentiated, output k
    (``output=k``) or Σ_k weights[k] output_k (``weights``); :meth:`gradient` is its gradient
    with respect to x; :meth:`value_and_gradient` returns both from one forward and one reverse
    sweep.  :meth:`forward` returns every output.

    Parameters
    ----------
    ops, arg0, arg1, consts, inputs, outputs : array_like
        The tape, as :meth:`from_arrays` takes it (copied and validated).

    Raises
    ------
    TypeError
        If an array is not numeric or an index array is not integer.
    ValueError
        If the tape is malformed (the message names the first bad node).
    """

    def __init__(
        self,
        ops: ArrayLike,
        arg0: ArrayLike,
        arg1: ArrayLike,
        consts: ArrayLike,
        inputs: ArrayLike,
        outputs: ArrayLike,
    ) -> None:
        arrays = as_tape_arrays(ops, arg0, arg1, consts, inputs, outputs)
        check_tape(*arrays)
        for arr in arrays:
            arr.flags.writeable = False
        self._tape = dict(zip(ARRAY_NAMES, arrays, strict=True))
        self._lock = threading.Lock()
        self._buffers: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        ops: ArrayLike,
        arg0: ArrayLike,
        arg1: ArrayLike,
        consts: ArrayLike,
        inputs: ArrayLike,
        outputs: ArrayLike,
    ) -> Circuit:
        """A circuit from its tape arrays (copied and validated; see the module docstring).

        Parameters
        ----------
        ops : array_like of int8
            Op code of each node (``fastbp.circuit.OPS``).
        arg0, arg1 : array_like of int64
            Argument nodes, −1 where unused; each points to an earlier node.
        consts : array_like of float64
            Constants and pow exponents.
        inputs, outputs : array_like of int64
            Node ids of the inputs and of the outputs.

        Returns
        -------
        Circuit
            The validated circuit.

        Raises
        ------
        TypeError
            If an array is not numeric or an index array is not integer.
        ValueError
            If the tape is malformed (the message names the first bad node).
        """
        return cls(ops, arg0, arg1, consts, inputs, outputs)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The tape as writable copies.

        Returns
        -------
        dict of str to numpy.ndarray
            The six arrays, keyed like :meth:`from_arrays`'s arguments.
        """
        return {name: getattr(self, name).copy() for name in ARRAY_NAMES}

    def __reduce__(self) -> tuple[Callable[..., Circuit], tuple[np.ndarray, ...]]:
        return (Circuit.from_arrays, tuple(getattr(self, name) for name in ARRAY_NAMES))

    # ------------------------------------------------------------------ the tape (read-only)
    @property
    def ops(self) -> np.ndarray:
        """Op code of each node (int8, see :mod:`fastbp.circuit.ops`)."""
        return self._tape["ops"]

    @property
    def arg0(self) -> np.ndarray:
        """First argument of each node (int64 node index, −1 when unused)."""
        return self._tape["arg0"]

    @property
    def arg1(self) -> np.ndarray:
        """Second argument of each node (int64 node index, −1 when unused)."""
        return self._tape["arg1"]

    @property
    def consts(self) -> np.ndarray:
        """Constant of each node (float64): CONST values and POWC exponents, 0 elsewhere."""
        return self._tape["consts"]

    @property
    def inputs(self) -> np.ndarray:
        """Node of each input: x[k] is the value of node inputs[k] (int64)."""
        return self._tape["inputs"]

    @property
    def outputs(self) -> np.ndarray:
        """Output nodes, in output order (int64)."""
        return self._tape["outputs"]

    # ------------------------------------------------------------------ description
    def __len__(self) -> int:
        return int(self.ops.shape[0])

    @property
    def n_nodes(self) -> int:
        """N, the number of nodes (inputs and constants included)."""
        return len(self)

    @property
    def n_inputs(self) -> int:
        """l, the number of inputs."""
        return int(self.inputs.shape[0])

    @property
    def n_outputs(self) -> int:
        """The number of outputs."""
        return int(self.outputs.shape[0])

    def op_counts(self) -> dict[str, int]:
        """Histogram of the tape.

        Returns
        -------
        dict of str to int
            Op name -> number of nodes, in registry order, for the ops that occur.
        """
        counts = np.bincount(self.ops.astype(np.int64), minlength=O.N_OPS)
        return {op.name: int(counts[op.code]) for op in O.BY_CODE if counts[op.code]}

    def __repr__(self) -> str:
        outs = self.outputs.tolist()
        shown = str(outs) if len(outs) <= 8 else f"[{', '.join(map(str, outs[:8]))}, ...]"
        hist = ", ".join(f"{name}: {n}" for name, n in self.op_counts().items())
        return (
            f"Circuit(N={self.n_nodes} nodes, l={self.n_inputs} inputs, "
            f"{self.n_outputs} output(s) {shown}, ops={{{hist}}})"
        )

    # ------------------------------------------------------------------ sweeps
    def values(self, x: ArrayLike, *, check: bool = False) -> np.ndarray:
        """Every node's value at x: shape (N,) for one point, (B, N) for a batch (a copy).

        Parameters
        ----------
        x : array_like
            One point (l,) or a batch (B, l).
        check : bool
            Raise ``FloatingPointError`` naming the first node whose value is not finite (default:
            IEEE semantics).

        Returns
        -------
        numpy.ndarray
            (N,) or (B, N) node values.

        Raises
        ------
        ValueError
            If x has the wrong shape.
        TypeError
            If x is not real numbers or check is not a bool.
        FloatingPointError
            With ``check=True``, at the first non-finite value.
        """
        X, single = self._points(x, "x")
        check = flag(check, "check")
        out = np.empty((X.shape[0], self.n_nodes))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                V = ws.get("V", s.stop - s.start)
                _run(kernels.forward, batch_kernels.forward_batch, single, self._tape_in(), X[s], V)
                if check:
                    check_forward(self._tape, V, "value", s.start)
                out[s] = V.T
        return out[0] if single else out

    def forward(self, x: ArrayLike, *, check: bool = False) -> np.ndarray:
        """Every output at x: shape (n_out,) for x of shape (l,), (B, n_out) for (B, l).

        Parameters
        ----------
        x : array_like
            One point (l,) or a batch (B, l).
        check : bool
            Raise ``FloatingPointError`` naming the first node whose value is not finite (default:
            IEEE semantics).

        Returns
        -------
        numpy.ndarray
            (n_out,) or (B, n_out) outputs.

        Raises
        ------
        ValueError
            If x has the wrong shape.
        TypeError
            If x is not real numbers or check is not a bool.
        FloatingPointError
            With ``check=True``, at the first non-finite value.
        """
        X, single = self._points(x, "x")
        check = flag(check, "check")
        out = self._forward(X, single, check)
        return out[0] if single else out

    def value(
        self,
        x: ArrayLike,
        *,
        output: int | None = None,
        weights: ArrayLike | None = None,
        check: bool = False,
    ) -> float | np.ndarray:
        """The scalar that :meth:`gradient` differentiates: output k (``output=k``, default the
        only one) or Σ_k weights[k] output_k (``weights``).  One forward sweep.

        Parameters
        ----------
        x : array_like
            One point (l,) or a batch (B, l).
        output : int, optional
            Which output (default: the only one).
        weights : array_like, optional
            Σ_k weights[k] output_k instead: (n_out,) or one row per point (B, n_out).
        check : bool
            Raise ``FloatingPointError`` naming the first node whose value is not finite (default:
            IEEE semantics).

        Returns
        -------
        float or numpy.ndarray
            A float for one point, shape (B,) for a batch.

        Raises
        ------
        ValueError
            If x or weights have the wrong shape, both or neither of output/weights are given
            for a circuit with several outputs, or output is out of range.
        TypeError
            If x or weights are not real numbers, output is not an integer or check not a bool.
        FloatingPointError
            With ``check=True``, at the first non-finite value.
        """
        X, single = self._points(x, "x")
        Wt, k = self._selection(output, weights, X.shape[0], single)
        check = flag(check, "check")
        val = _select(self._forward(X, single, check), Wt, k)
        return float(val[0]) if single else val

    def gradient(
        self,
        x: ArrayLike,
        *,
        output: int | None = None,
        weights: ArrayLike | None = None,
        check: bool = False,
    ) -> np.ndarray:
        """d/dx of :meth:`value`: of one output (``output=k``, default the only one) or of
        Σ_k weights[k] output_k (``weights``: a vector-Jacobian product).  Shape (l,) for one
        point, (B, l) for a batch; ``weights`` may be (n_out,) or one row per point (B, n_out).

        Parameters
        ----------
        x : array_like
            One point (l,) or a batch (B, l).
        output : int, optional
            Which output to differentiate (default: the only one).
        weights : array_like, optional
            Differentiate Σ_k weights[k] output_k instead: (n_out,) or one row per point.
        check : bool
            Raise ``FloatingPointError`` naming the first node whose value is not finite (default:
            IEEE semantics).

        Returns
        -------
        numpy.ndarray
            (l,) or (B, l) gradient.

        Raises
        ------
        ValueError, TypeError, FloatingPointError
            As :meth:`value` raises them.
        """
        return self.value_and_gradient(x, output=output, weights=weights, check=check)[1]

    def value_and_gradient(
        self,
        x: ArrayLike,
        *,
        output: int | None = None,
        weights: ArrayLike | None = None,
        check: bool = False,
    ) -> tuple[float | np.ndarray, np.ndarray]:
        """(:meth:`value`, :meth:`gradient`) from one forward and one reverse sweep.

        Parameters
        ----------
        x : array_like
            One point (l,) or a batch (B, l).
        output : int, optional
            Which output to differentiate (default: the only one).
        weights : array_like, optional
            Differentiate Σ_k weights[k] output_k instead: (n_out,) or one row per point.
        check : bool
            Raise ``FloatingPointError`` naming the first node whose value is not finite (default:
            IEEE semantics).

        Returns
        -------
        value : float or numpy.ndarray
            As :meth:`value` returns it: a float for one point, (B,) for a batch.
        gradient : numpy.ndarray
            As :meth:`gradient` returns it: (l,) or (B, l).

        Raises
        ------
        ValueError, TypeError, FloatingPointError
            As :meth:`value` raises them.
        """
        X, single = self._points(x, "x")
        Wt, k = self._selection(output, weights, X.shape[0], single)
        check = flag(check, "check")
        out = np.empty((X.shape[0], self.n_outputs))
        grad = np.empty((X.shape[0], self.n_inputs))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                m = s.stop - s.start
                V, G = ws.get("V", m), ws.get("G", m)
                _run(kernels.forward, batch_kernels.forward_batch, single, self._tape_in(), X[s], V)
                if check:
                    check_forward(self._tape, V, "value", s.start)
                _run(
                    kernels.reverse, batch_kernels.reverse_batch, single, self._tape_out(),
                    Wt[0] if single else Wt[s], V, G,
                )  # fmt: skip
                if check:
                    check_reverse(self._tape, G, V, "adjoint", s.start)
                out[s] = _gather(V, self.outputs, single)
                grad[s] = _gather(G, self.inputs, single)
        val = _select(out, Wt, k)
        return (float(val[0]), grad[0]) if single else (val, grad)

    def jvp(self, x: ArrayLike, v: ArrayLike, *, check: bool = False) -> np.ndarray:
        """J(x) v, the directional derivative of every output along v (forward mode).  v has the
        shape of x, or (l,) to use one direction for every point of a batch.

        Parameters
        ----------
        x : array_like
            One point (l,) or a batch (B, l).
        v : array_like
            The direction: the shape of x, or (l,) for every point of a batch.
        check : bool
            Raise ``FloatingPointError`` naming the first node whose value is not finite (default:
            IEEE semantics).

        Returns
        -------
        numpy.ndarray
            (n_out,) or (B, n_out) directional derivatives.

        Raises
        ------
        ValueError
            If x or v have the wrong shape.
        TypeError
            If x or v are not real numbers or check is not a bool.
        FloatingPointError
            With ``check=True``, at the first non-finite value or tangent.
        """
        X, single = self._points(x, "x")
        D = self._directions(v, X, single)
        check = flag(check, "check")
        out = np.empty((X.shape[0], self.n_outputs))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                m = s.stop - s.start
                V, T = ws.get("V", m), ws.get("T", m)
                _run(
                    kernels.forward_tangent, batch_kernels.forward_tangent_batch, single,
                    self._tape_in(), X[s], D[s], V, T,
                )  # fmt: skip
                if check:
                    check_forward(self._tape, V, "value", s.start)
                    check_forward(self._tape, T, "tangent", s.start)
                out[s] = _gather(T, self.outputs, single)
        return out[0] if single else out

    def hvp(
        self,
        x: ArrayLike,
        v: ArrayLike,
        *,
        output: int | None = None,
        weights: ArrayLike | None = None,
        check: bool = False,
    ) -> np.ndarray:
        """H(x) v, the Hessian of the chosen output (``output``/``weights`` as in
        :meth:`gradient`) times v, by forward-over-reverse: O(N) like the gradient.

        Parameters
        ----------
        x : array_like
            One point (l,) or a batch (B, l).
        v : array_like
            The direction, shaped like x (or (l,) for every point of a batch).
        output : int, optional
            Which output to differentiate (default: the only one).
        weights : array_like, optional
            Differentiate Σ_k weights[k] output_k instead: (n_out,) or one row per point.
        check : bool
            Raise ``FloatingPointError`` naming the first node whose value is not finite (default:
            IEEE semantics).

        Returns
        -------
        numpy.ndarray
            (l,) or (B, l) Hessian-vector products.

        Raises
        ------
        ValueError, TypeError, FloatingPointError
            As :meth:`value` and :meth:`jvp` raise them.
        """
        X, single = self._points(x, "x")
        D = self._directions(v, X, single)
        Wt, _ = self._selection(output, weights, X.shape[0], single)
        check = flag(check, "check")
        out = np.empty((X.shape[0], self.n_inputs))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                m = s.stop - s.start
                V, T, G, H = (ws.get(name, m) for name in "VTGH")
                _run(
                    kernels.forward_tangent, batch_kernels.forward_tangent_batch, single,
                    self._tape_in(), X[s], D[s], V, T,
                )  # fmt: skip
                if check:
                    check_forward(self._tape, V, "value", s.start)
                    check_forward(self._tape, T, "tangent", s.start)
                _run(
                    kernels.reverse_tangent, batch_kernels.reverse_tangent_batch, single,
                    self._tape_out(), Wt[0] if single else Wt[s], V, T, G, H,
                )  # fmt: skip
                if check:
                    check_reverse(self._tape, G, V, "adjoint", s.start)
                    check_reverse(self._tape, H, V, "adjoint tangent", s.start)
                out[s] = _gather(H, self.inputs, single)
        return out[0] if single else out

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tape to ``path`` as an ``.npz`` file with a JSON header naming the format,
        version and op table, atomically (see :mod:`fastbp.circuit.files`).

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the ``.npz`` file; its folder must exist.

        Raises
        ------
        FileNotFoundError
            If the folder does not exist.
        IsADirectoryError
            If ``path`` is a directory.
        """
        files.write_tape(path, self._tape)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Circuit:
        """Read a file written by :meth:`save`.  The file is opened with ``allow_pickle=False``
        (nothing in it is executed); any other format, version or op table is refused, and the
        tape is validated as in :meth:`from_arrays`.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        Circuit
            The validated circuit.

        Raises
        ------
        ValueError
            If the file is not a fastbp circuit file of this version or its tape is malformed.
        OSError
            If the file cannot be opened.
        """
        return cls.from_arrays(**files.read_tape(path))

    # ------------------------------------------------------------------ internals
    def _forward(self, X: np.ndarray, single: bool, check: bool) -> np.ndarray:
        """The (B, n_out) outputs at the points X (one forward sweep per chunk)."""
        out = np.empty((X.shape[0], self.n_outputs))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                V = ws.get("V", s.stop - s.start)
                _run(kernels.forward, batch_kernels.forward_batch, single, self._tape_in(), X[s], V)
                if check:
                    check_forward(self._tape, V, "value", s.start)
                out[s] = _gather(V, self.outputs, single)
        return out

    def _tape_in(self) -> tuple:
        return (self.ops, self.arg0, self.arg1, self.consts, self.inputs)

    def _tape_out(self) -> tuple:
        return (self.ops, self.arg0, self.arg1, self.consts, self.outputs)

    def _chunks(self, n: int) -> Iterator[slice]:
        step = max(1, MAX_BUFFER_BYTES // (8 * max(1, self.n_nodes)))
        for lo in range(0, n, step):
            yield slice(lo, min(n, lo + step))
        if n == 0:
            yield slice(0, 0)

    @contextlib.contextmanager
    def _workspace(self) -> Iterator[_Workspace]:
        # The kept buffers serve one call at a time; a concurrent call gets fresh ones.  Compiled
        # kernels never warn; with NUMBA_DISABLE_JIT=1 they run as numpy code, and errstate keeps
        # the IEEE results (inf, nan) free of RuntimeWarnings there too.
        interpreted = getattr(numba.config, "DISABLE_JIT", False)
        quiet = np.errstate(all="ignore") if interpreted else contextlib.nullcontext()
        if self._lock.acquire(blocking=False):
            try:
                with quiet:
                    yield _Workspace(self.n_nodes, self._buffers)
            finally:
                self._lock.release()
        else:
            with quiet:
                yield _Workspace(self.n_nodes, {})

    def _points(self, x, name: str) -> tuple[np.ndarray, bool]:
        arr = real_array(x, name)
        l = self.n_inputs
        if arr.ndim == 1 and arr.shape[0] == l:
            return np.ascontiguousarray(arr.reshape(1, l), dtype=np.float64), True
        if arr.ndim == 2 and arr.shape[1] == l:
            return np.ascontiguousarray(arr, dtype=np.float64), False
        raise ValueError(
            f"{name} must have shape ({l},) for one point or (B, {l}) for a batch of points "
            f"(the circuit has l = {l} inputs), got shape {arr.shape}"
        )

    def _directions(self, v, X: np.ndarray, single: bool) -> np.ndarray:
        arr = real_array(v, "v")
        l = self.n_inputs
        if arr.shape == (l,):
            arr = np.broadcast_to(arr, X.shape)
        elif single or arr.shape != X.shape:
            expected = f"({l},)" if single else f"({l},) or {X.shape}"
            raise ValueError(f"v must have shape {expected} like x, got shape {arr.shape}")
        return np.ascontiguousarray(arr, dtype=np.float64)

    def _selection(
        self, output: object, weights: object, n_points: int, single: bool
    ) -> tuple[np.ndarray, int | None]:
        """The (n_points, n_out) weights of the differentiated scalar, and the output index when
        it is one output (``output=k`` or the default), None when ``weights`` were given."""
        n_out = self.n_outputs
        if output is not None and weights is not None:
            raise ValueError("pass either output=k or weights=..., not both")
        if weights is None:
            if output is None:
                if n_out != 1:
                    raise ValueError(
                        f"the circuit has {n_out} outputs: choose one with output=k "
                        f"(0 <= k < {n_out}) or pass weights=(one per output) for a VJP"
                    )
                output = 0
            if isinstance(output, (bool, np.bool_)) or not isinstance(output, numbers.Integral):
                raise TypeError(f"output must be an integer index, got {output!r}")
            k = int(output)
            if not 0 <= k < n_out:
                raise ValueError(f"output = {output} is out of range for {n_out} output(s)")
            W = np.zeros((n_points, n_out))
            W[:, k] = 1.0
            return W, k
        arr = real_array(weights, "weights")
        if arr.shape == (n_out,):
            arr = np.broadcast_to(arr, (n_points, n_out))
        elif single or arr.shape != (n_points, n_out):
            expected = f"({n_out},)" + ("" if single else f" or ({n_points}, {n_out})")
            raise ValueError(f"weights must have shape {expected}, got shape {arr.shape}")
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ValueError("weights contain NaN or inf")
        return arr, None


class _Workspace:
    """Buffers of shape (N, m) (or (N,) for one point), C-contiguous views of flat arrays that
    are kept in ``store`` and grown when a larger chunk needs them."""

    def __init__(self, n_nodes: int, store: dict[str, np.ndarray]) -> None:
        self.n = n_nodes
        self.store = store

    def get(self, name: str, m: int) -> np.ndarray:
        size = self.n * m
        flat = self.store.get(name)
        if flat is None or flat.shape[0] < size:
            flat = np.empty(max(size, 1))
            self.store[name] = flat
        return flat[:size].reshape(self.n, m)


def _run(single_kernel, batch_kernel, single: bool, tape: tuple, points, *bufs) -> None:
    """Call the one-point kernel on (N,) views, or the batch kernel on the (N, m) buffers."""
    if single:
        rest = [b if b.ndim == 1 else b.reshape(-1) for b in bufs]
        single_kernel(*tape, points[0] if points.ndim == 2 else points, *rest)
    else:
        batch_kernel(*tape, points, *bufs)


def _select(out: np.ndarray, W: np.ndarray, k: int | None) -> np.ndarray:
    """The differentiated scalar per point from the (B, n_out) outputs: output k itself (so a
    non-finite other output does not leak in through 0 · inf), or Σ_k W[:, k] out[:, k]."""
    if k is not None:
        return out[:, k].copy()
    return np.einsum("pk,pk->p", out, W)


def _gather(buf: np.ndarray, nodes: np.ndarray, single: bool) -> np.ndarray:
    rows = buf[nodes]  # (k, m)
    return rows[:, 0] if single else rows.T
