"""Circuit: a differentiable function lowered to a tape of static arrays.

A tape of N nodes is six arrays.  Node i computes ``ops[i]`` (a code from
:mod:`fastbp.circuit.ops`) of the values of nodes ``arg0[i]`` and ``arg1[i]`` (−1 when the op
does not read that argument) and its own constant ``consts[i]`` (the value of a CONST node, the
exponent of POWC, 0 otherwise).  ``inputs[k]`` is the INPUT node that receives x[k] and
``outputs`` lists the output node(s).  Every argument refers to an earlier node, so index order
is a topological order and each sweep is one pass over the arrays.

The tape is validated once, when the Circuit is built, and stored in read-only copies; every
method validates its arguments before a compiled kernel runs, so no kernel can index out of
bounds whatever the caller passes.  Batches are processed in chunks whose (N, chunk) buffers stay
under :data:`MAX_BUFFER_BYTES`; the buffers are kept and reused between calls.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import tempfile
import threading
import zipfile
from collections.abc import Iterator

import numba
import numpy as np

from fastbp.circuit import kernels, reference
from fastbp.circuit import ops as O

#: ``format`` field of the JSON header of a saved circuit.
FORMAT_NAME = "fastbp.circuit"
#: The only file-format version this code reads and writes.
FORMAT_VERSION = 1
#: Arrays stored in a circuit file besides the header.
ARRAY_NAMES = ("ops", "arg0", "arg1", "consts", "inputs", "outputs")

#: A batch is split into chunks so that each (N, chunk) float64 buffer stays below this size
#: (at least one point per chunk, however large N is).
MAX_BUFFER_BYTES = 16 * 2**20


class Circuit:
    """A differentiable circuit of N nodes with l inputs and one or more outputs.

    Build one with :func:`fastbp.circuit.trace` (from a Python function),
    :meth:`from_arrays` (from a tape) or :meth:`load` (from a file).  ``x`` is one point of shape
    (l,) or a batch of shape (B, l); results have the matching shape.  The tape arrays are
    read-only attributes: ``ops``, ``arg0``, ``arg1``, ``consts``, ``inputs``, ``outputs``.
    """

    def __init__(self, ops, arg0, arg1, consts, inputs, outputs) -> None:
        arrays = _as_tape_arrays(ops, arg0, arg1, consts, inputs, outputs)
        check_tape(*arrays)
        for arr in arrays:
            arr.flags.writeable = False
        self._tape = dict(zip(ARRAY_NAMES, arrays, strict=True))
        self._lock = threading.Lock()
        self._buffers: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, ops, arg0, arg1, consts, inputs, outputs) -> Circuit:
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
        """
        return cls(ops, arg0, arg1, consts, inputs, outputs)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The tape as a dict of writable copies, keyed like :meth:`from_arrays`'s arguments."""
        return {name: getattr(self, name).copy() for name in ARRAY_NAMES}

    def __reduce__(self):
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
        return int(self.outputs.shape[0])

    def op_counts(self) -> dict[str, int]:
        """Histogram of the tape: op name -> number of nodes, in registry order."""
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
    def values(self, x, *, check: bool = False) -> np.ndarray:
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
        """
        X, single = self._points(x, "x")
        check = _flag(check, "check")
        out = np.empty((X.shape[0], self.n_nodes))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                V = ws.get("V", s.stop - s.start)
                _run(kernels.forward, kernels.forward_batch, single, self._tape_in(), X[s], V)
                if check:
                    self._check_forward(V, "value", s.start)
                out[s] = V.T
        return out[0] if single else out

    def forward(self, x, *, check: bool = False) -> np.ndarray:
        """Outputs at x: shape (n_out,) for x of shape (l,), (B, n_out) for (B, l).

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
        """
        X, single = self._points(x, "x")
        check = _flag(check, "check")
        out = np.empty((X.shape[0], self.n_outputs))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                V = ws.get("V", s.stop - s.start)
                _run(kernels.forward, kernels.forward_batch, single, self._tape_in(), X[s], V)
                if check:
                    self._check_forward(V, "value", s.start)
                out[s] = _gather(V, self.outputs, single)
        return out[0] if single else out

    def gradient(self, x, *, output=None, weights=None, check: bool = False) -> np.ndarray:
        """d/dx of one output (``output=k``, default the only one) or of Σ_k weights[k] output_k
        (``weights``: a vector-Jacobian product).  Shape (l,) for one point, (B, l) for a batch;
        ``weights`` may be (n_out,) or one row per point (B, n_out).

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
        """
        return self.value_and_gradient(x, output=output, weights=weights, check=check)[1]

    def value_and_gradient(
        self, x, *, output=None, weights=None, check: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(:meth:`forward`, :meth:`gradient`) from one forward and one reverse sweep.

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
        values : numpy.ndarray
            As :meth:`forward` returns them.
        gradient : numpy.ndarray
            As :meth:`gradient` returns it.
        """
        X, single = self._points(x, "x")
        Wt = self._weights(output, weights, X.shape[0], single)
        check = _flag(check, "check")
        out = np.empty((X.shape[0], self.n_outputs))
        grad = np.empty((X.shape[0], self.n_inputs))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                m = s.stop - s.start
                V, G = ws.get("V", m), ws.get("G", m)
                _run(kernels.forward, kernels.forward_batch, single, self._tape_in(), X[s], V)
                if check:
                    self._check_forward(V, "value", s.start)
                _run(
                    kernels.reverse, kernels.reverse_batch, single, self._tape_out(),
                    Wt[0] if single else Wt[s], V, G,
                )  # fmt: skip
                if check:
                    self._check_reverse(G, V, "adjoint", s.start)
                out[s] = _gather(V, self.outputs, single)
                grad[s] = _gather(G, self.inputs, single)
        return (out[0], grad[0]) if single else (out, grad)

    def jvp(self, x, v, *, check: bool = False) -> np.ndarray:
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
        """
        X, single = self._points(x, "x")
        D = self._directions(v, X, single)
        check = _flag(check, "check")
        out = np.empty((X.shape[0], self.n_outputs))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                m = s.stop - s.start
                V, T = ws.get("V", m), ws.get("T", m)
                _run(
                    kernels.forward_tangent, kernels.forward_tangent_batch, single,
                    self._tape_in(), X[s], D[s], V, T,
                )  # fmt: skip
                if check:
                    self._check_forward(V, "value", s.start)
                    self._check_forward(T, "tangent", s.start)
                out[s] = _gather(T, self.outputs, single)
        return out[0] if single else out

    def hvp(self, x, v, *, output=None, weights=None, check: bool = False) -> np.ndarray:
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
        """
        X, single = self._points(x, "x")
        D = self._directions(v, X, single)
        Wt = self._weights(output, weights, X.shape[0], single)
        check = _flag(check, "check")
        out = np.empty((X.shape[0], self.n_inputs))
        with self._workspace() as ws:
            for s in self._chunks(X.shape[0]):
                m = s.stop - s.start
                V, T, G, H = (ws.get(name, m) for name in "VTGH")
                _run(
                    kernels.forward_tangent, kernels.forward_tangent_batch, single,
                    self._tape_in(), X[s], D[s], V, T,
                )  # fmt: skip
                if check:
                    self._check_forward(V, "value", s.start)
                    self._check_forward(T, "tangent", s.start)
                _run(
                    kernels.reverse_tangent, kernels.reverse_tangent_batch, single,
                    self._tape_out(), Wt[0] if single else Wt[s], V, T, G, H,
                )  # fmt: skip
                if check:
                    self._check_reverse(G, V, "adjoint", s.start)
                    self._check_reverse(H, V, "adjoint tangent", s.start)
                out[s] = _gather(H, self.inputs, single)
        return out[0] if single else out

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write the tape to ``path`` as an .npz file (atomically: a temporary file in the same
        folder, then os.replace), with a JSON header naming the format, version and op table.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the ``.npz`` file.
        """
        path = os.fspath(path)
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "n_nodes": self.n_nodes,
            "n_inputs": self.n_inputs,
            "n_outputs": self.n_outputs,
            "op_names": [op.name for op in O.BY_CODE],
        }
        raw = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".circuit-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, header=raw, **{name: getattr(self, name) for name in ARRAY_NAMES})
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> Circuit:
        """Read a file written by :meth:`save`.  The file is opened with ``allow_pickle=False``
        (nothing in it is executed); any other format, version or op table is refused with a
        ValueError, and the tape is validated as in :meth:`from_arrays`.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        Circuit
            The validated circuit.
        """
        path = os.fspath(path)
        with open(path, "rb") as fh:  # our handle, closed even when numpy fails half-way
            try:
                data = np.load(fh, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise ValueError("it holds a bare array, not an .npz archive")
                with data:
                    keys = set(data.files)
                    if keys != {"header", *ARRAY_NAMES}:
                        raise ValueError(
                            f"its arrays are {sorted(keys)}, expected "
                            f"{sorted({'header', *ARRAY_NAMES})}"
                        )
                    header = _read_header(data["header"])
                    arrays = {name: data[name] for name in ARRAY_NAMES}
            except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
                raise ValueError(f"{path} is not a fastbp circuit file: {exc}") from None
        for key, name in (("n_nodes", "ops"), ("n_inputs", "inputs"), ("n_outputs", "outputs")):
            if header.get(key) != arrays[name].shape[0]:
                raise ValueError(
                    f"{path}: header says {key} = {header.get(key)!r} but array {name!r} has "
                    f"shape {arrays[name].shape}"
                )
        circuit = cls.from_arrays(**arrays)
        names = header.get("op_names")
        names = names if isinstance(names, list) else []
        for code in np.unique(circuit.ops).tolist():
            theirs = names[code] if code < len(names) else None
            if theirs != O.op_name(code):
                raise ValueError(
                    f"{path}: op code {code} means {theirs!r} in the file but "
                    f"{O.op_name(code)!r} here"
                )
        return circuit

    # ------------------------------------------------------------------ internals
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
        quiet = np.errstate(all="ignore") if numba.config.DISABLE_JIT else contextlib.nullcontext()
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
        arr = _real_array(x, name)
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
        arr = _real_array(v, "v")
        l = self.n_inputs
        if arr.shape == (l,):
            arr = np.broadcast_to(arr, X.shape)
        elif single or arr.shape != X.shape:
            expected = f"({l},)" if single else f"({l},) or {X.shape}"
            raise ValueError(f"v must have shape {expected} like x, got shape {arr.shape}")
        return np.ascontiguousarray(arr, dtype=np.float64)

    def _weights(self, output, weights, n_points: int, single: bool) -> np.ndarray:
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
            if not 0 <= output < n_out:
                raise ValueError(f"output = {output} is out of range for {n_out} output(s)")
            W = np.zeros((n_points, n_out))
            W[:, int(output)] = 1.0
            return W
        arr = _real_array(weights, "weights")
        if arr.shape == (n_out,):
            arr = np.broadcast_to(arr, (n_points, n_out))
        elif single or arr.shape != (n_points, n_out):
            expected = f"({n_out},)" + ("" if single else f" or ({n_points}, {n_out})")
            raise ValueError(f"weights must have shape {expected}, got shape {arr.shape}")
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ValueError("weights contain NaN or inf")
        return arr

    def _check_forward(self, buf: np.ndarray, what: str, offset: int) -> None:
        """Raise FloatingPointError at the first node (in tape order) whose ``what`` is not
        finite: its arguments, being earlier nodes, are finite, so that node made it."""
        rows = buf.reshape(self.n_nodes, -1)
        bad = ~np.isfinite(rows)
        if not bad.any():
            return
        i = int(np.argmax(bad.any(axis=1)))
        p = int(np.argmax(bad[i]))
        op = int(self.ops[i])
        where = f" at point {offset + p}" if rows.shape[1] > 1 or offset else ""
        if op == O.INPUT:
            k = int(np.flatnonzero(self.inputs == i)[0])
            raise FloatingPointError(
                f"input {k} (node {i}) has non-finite {what} {float(rows[i, p])!r}{where}"
            )
        args = ", ".join(
            f"node {j} = {float(rows[j, p])!r}"
            for j in (int(self.arg0[i]), int(self.arg1[i]))
            if j >= 0
        )
        raise FloatingPointError(
            f"node {i} ({O.op_name(op)}) is the first non-finite {what}: "
            f"{float(rows[i, p])!r}{where}" + (f" (its arguments' {what}s: {args})" if args else "")
        )

    def _check_reverse(self, buf, V, what: str, offset: int) -> None:
        """Raise FloatingPointError naming the node whose local derivative made an adjoint
        non-finite.  The reverse sweep runs from the last node down, so the highest node j with a
        non-finite adjoint has finite-adjoint consumers; the culprit is among them."""
        N = self.n_nodes
        rows = buf.reshape(N, -1)
        bad = ~np.isfinite(rows)
        if not bad.any():
            return
        j = int(N - 1 - np.argmax(bad.any(axis=1)[::-1]))
        p = int(np.argmax(bad[j]))
        vals = V.reshape(N, -1)[:, p]
        where = f" at point {offset + p}" if rows.shape[1] > 1 or offset else ""
        consumers = np.flatnonzero((self.arg0 == j) | (self.arg1 == j)).tolist()
        culprits = []
        for i in consumers:
            op = int(self.ops[i])
            a = float(vals[self.arg0[i]])
            b = float(vals[self.arg1[i]]) if self.arg1[i] >= 0 else 0.0
            da, db = reference.local(op, a, b, float(self.consts[i]), float(vals[i]))
            d = da if self.arg0[i] == j else db
            if not np.isfinite(d):
                culprits.append(f"node {i} ({O.op_name(op)}) has local derivative {d!r} at {a!r}")
        detail = (
            "; ".join(culprits)
            if culprits
            else (
                f"its consumers are nodes {consumers[:8]}" if consumers else "it has no consumers"
            )
        )
        raise FloatingPointError(
            f"the {what} of node {j} ({O.op_name(int(self.ops[j]))}) is "
            f"{float(rows[j, p])!r}{where}, "
            f"the first non-finite {what} of the reverse sweep: {detail}"
        )


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


def _gather(buf: np.ndarray, nodes: np.ndarray, single: bool) -> np.ndarray:
    rows = buf[nodes]  # (k, m)
    return rows[:, 0] if single else rows.T


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _real_array(value: object, name: str) -> np.ndarray:
    """``value`` as an array of real numbers: ints and floats are accepted (and converted to
    float64 by the caller); bool, complex, object, string and structured data are refused."""
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} could not be read as a numeric array: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} has dtype {arr.dtype}; expected real numbers (int or float; bool, complex, "
            f"object, string and structured arrays are refused)"
        )
    return arr


# ---------------------------------------------------------------------- tape validation


def _as_tape_arrays(ops, arg0, arg1, consts, inputs, outputs) -> tuple[np.ndarray, ...]:
    out = []
    for name, value in zip(ARRAY_NAMES, (ops, arg0, arg1, consts, inputs, outputs), strict=True):
        arr = _real_array(value, name)
        if name != "consts" and arr.dtype.kind not in "iu" and arr.size:  # [] reads as float
            raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
        out.append(arr)
    ops_a = out[0]
    unknown = np.flatnonzero((ops_a < 0) | (ops_a >= O.N_OPS))  # before the cast to int8 wraps
    if unknown.size:
        i = int(unknown[0])
        raise ValueError(
            f"node {i}: op code {int(ops_a[i])} is not a known op (valid codes 0..{O.N_OPS - 1})"
        )
    idx = O.INDEX_DTYPE
    return (
        np.array(ops_a, dtype=O.OP_DTYPE),
        np.array(out[1], dtype=idx),
        np.array(out[2], dtype=idx),
        np.array(out[3], dtype=O.VALUE_DTYPE),
        np.array(out[4], dtype=idx),
        np.array(out[5], dtype=idx),
    )


def check_tape(ops, arg0, arg1, consts, inputs, outputs) -> None:
    """Refuse a malformed tape with a ValueError naming the first bad node and the problem.

    Checks: equal lengths N ≥ 1; known op codes; each argument an earlier node (0 ≤ arg < i)
    where the op's arity needs it and −1 where it does not; finite constants; ``inputs`` are
    distinct INPUT nodes and list every INPUT node; ≥ 1 output, each in 0..N−1.
    """
    N = ops.shape[0]
    for name, arr in (("arg0", arg0), ("arg1", arg1), ("consts", consts)):
        if arr.shape[0] != N:
            raise ValueError(f"{name} has {arr.shape[0]} entries but ops has {N}: one per node")
    if N == 0:
        raise ValueError("a circuit needs at least one node")
    codes = ops.astype(np.int64)
    bad = np.flatnonzero((codes < 0) | (codes >= O.N_OPS))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"node {i}: op code {codes[i]} is not a known op (valid codes 0..{O.N_OPS - 1})"
        )
    arity = O.ARITY[codes]
    node = np.arange(N)
    problems = [
        np.where(arity > slot, (arr < 0) | (arr >= node), arr != -1)
        for slot, arr in ((0, arg0), (1, arg1))
    ]
    bad = np.flatnonzero(problems[0] | problems[1])
    if bad.size:
        i = int(bad[0])
        slot = 0 if problems[0][i] else 1
        j = int((arg0, arg1)[slot][i])
        n_args = int(arity[i])
        label = f"node {i} ({O.op_name(int(codes[i]))}, {n_args} argument{'s' * (n_args != 1)})"
        if n_args <= slot:
            raise ValueError(f"{label}: arg{slot} must be -1 (unused), got {j}")
        if j < 0:
            raise ValueError(f"{label}: arg{slot} = {j} is missing or negative")
        what = "is out of range" if j >= N else "is not an earlier node (a forward reference)"
        raise ValueError(
            f"{label}: arg{slot} = {j} {what}; arguments must be earlier nodes 0..{i - 1}"
        )
    nonfinite = np.flatnonzero(~np.isfinite(consts))
    if nonfinite.size:
        i = int(nonfinite[0])
        raise ValueError(
            f"node {i} ({O.op_name(int(codes[i]))}): constant {float(consts[i])!r} is not finite"
        )
    l = inputs.shape[0]
    for k in range(l):
        if not 0 <= inputs[k] < N:
            raise ValueError(f"inputs[{k}] = {int(inputs[k])} is out of range for {N} nodes")
    if l:
        not_input = np.flatnonzero(codes[inputs] != O.INPUT)
        if not_input.size:
            k = int(not_input[0])
            i = int(inputs[k])
            raise ValueError(
                f"inputs[{k}] = {i} is node {i} ({O.op_name(int(codes[i]))}), not an input node"
            )
    seen = np.zeros(N, dtype=np.int64)
    np.add.at(seen, inputs, 1)
    twice = np.flatnonzero(seen > 1)
    if twice.size:
        raise ValueError(f"node {int(twice[0])} is listed more than once in inputs")
    unlisted = np.flatnonzero((codes == O.INPUT) & (seen == 0))
    if unlisted.size:
        raise ValueError(
            f"node {int(unlisted[0])} is an input node but is not listed in inputs, so it "
            f"would have no value"
        )
    if outputs.shape[0] == 0:
        raise ValueError("a circuit needs at least one output")
    out_of_range = np.flatnonzero((outputs < 0) | (outputs >= N))
    if out_of_range.size:
        k = int(out_of_range[0])
        raise ValueError(f"outputs[{k}] = {int(outputs[k])} is out of range for {N} nodes")


def _read_header(raw: np.ndarray) -> dict:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError("its header is not a byte string")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        fmt = header.get("format") if isinstance(header, dict) else None
        raise ValueError(f"its header names format {fmt!r}, expected {FORMAT_NAME!r}")
    version = header.get("version")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise ValueError(
            f"format version {version!r} is not supported (this fastbp reads version "
            f"{FORMAT_VERSION})"
        )
    return header
