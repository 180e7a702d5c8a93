"""ONNX export: a graph of standard operators that computes exactly what ``net.forward`` computes.

The graph, for a network with r layers, in the network's dtype (float32 or float64):

* input ``X`` of shape ``(batch, n0)``, with a dynamic batch dimension;
* layer k = 1..r: ``z[k] = Gemm(a[k−1], W[k], b[k], transB=1)`` = a[k−1] W[k]ᵀ + b[k], with W[k]
  stored as fastbp stores it, (n_k, n_{k−1}) row-major;
* hidden activation of layer k, one operator or an exact composition (table below);
* output ``Y`` of shape ``(batch, nr)``: z[r] (``squared``), ``Softmax(z[r], axis=1)``
  (``softmax_cross_entropy``), ``Sigmoid(z[r])`` (``logistic``) or ``Exp(z[r])`` (``poisson``).

===============  ==============================================================================
activation       ONNX
===============  ==============================================================================
``identity``     ``Identity``
``relu``         ``Relu``
``sigmoid``      ``Sigmoid``
``tanh``         ``Tanh``
``softplus``     ``Relu(z) + Log(1 + Exp(−Abs(z)))``: fastbp's stable form max(z, 0) +
                 log1p(e^−|z|), without overflow for large z.  ONNX has no ``Softplus`` kernel
                 for double in onnxruntime, and its definition log(e^z + 1) overflows.
``leaky_relu``   ``Max(z, 0.01·z)``, with 0.01 a constant in the network's dtype.  The
                 ``LeakyRelu`` operator's ``alpha`` is a 32-bit float attribute, so in a float64
                 graph its slope would be 0.009999999776…, not 0.01.
===============  ==============================================================================

Optional standardisation (what ``fastbp train`` saves with a model as ``net.preprocessing``,
used by default, and what ``fastbp predict`` applies): ``x_scaler`` adds ``(X − mean) / scale``
before layer 1, and ``y_scaler`` (``squared`` only) adds ``Y · scale + mean`` after the output,
both computed in float64 as :class:`fastbp.datasets.Standardizer` computes them (with ``Cast``
around them in a float32 graph).

An :class:`fastbp.Ensemble` exports as its mean (:func:`ensemble_onnx_model`): the layers above
once per member, every member reading the same standardised ``X``, then the mean of the M
members' outputs (``Sum``, then ``Div`` by M), then the target de-standardisation once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastbp.activations import RECORDS
from fastbp.interop._common import check_network, require
from fastbp.spec import NetworkSpec
from fastbp.validate import as_path

if TYPE_CHECKING:
    from fastbp.datasets import Standardizer
    from fastbp.network import Network

#: Opset used when ``opset=None``: supported by every onnxruntime since 1.12.
DEFAULT_OPSET = 17
#: Oldest opset accepted (``Softmax`` has its present single-axis meaning from opset 13 on).
MIN_OPSET = 13


#: erfc(x) = t · exp(−x² + P(2t − 1)), t = 1/(1 + x/2), x ≥ 0 (the form of Numerical Recipes'
#: ``erfcc``, with a longer polynomial): the coefficients of P, constant first, a least-squares
#: Chebyshev fit of degree 22 on t ∈ (0, 1] to values computed with mpmath at 40 digits.  Maximum
#: relative error of erfc 9e-15 for x < 3 and 1e-13 up to x = 27 (where exp(−x²) underflows),
#: set by the rounding of −x² + P.  Used for ``Erf`` in float64 graphs: onnxruntime has no
#: float64 ``Erf`` kernel.
ERFC_POLY = (
    -0.6717940840566898,
    0.6726432239778173,
    0.047343306841384755,
    -0.046895610245421666,
    -0.009872689342534957,
    0.008824938929713881,
    0.0017589331148850536,
    -0.002345816988354947,
    -0.00014624254705840534,
    0.0006737087683887228,
    -9.376012369499855e-05,
    -0.00017442501778159819,
    7.149437740024307e-05,
    3.20635594287092e-05,
    -3.041901192646415e-05,
    -4.0362229587494715e-07,
    8.949864196431952e-06,
    -2.3552323432256903e-06,
    -1.7105636627678945e-06,
    8.560062291482952e-07,
    1.5870054175817714e-07,
    -1.183930666106191e-07,
    1.0048391715480408e-09,
)


def _check_opset(opset: object, onnx) -> int:
    newest = int(onnx.defs.onnx_opset_version())
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, (bool, np.bool_)) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an integer or None, got {opset!r}")
    if not MIN_OPSET <= int(opset) <= newest:
        raise ValueError(
            f"opset must be in {MIN_OPSET}..{newest} (the installed onnx package's newest), "
            f"got {opset}"
        )
    return int(opset)


def _check_dtype(dtype: object) -> np.dtype:
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        dt = None
    if dt is None or dt.name not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32', 'float64' or None, got {dtype!r}")
    return dt


def _check_scaler(scaler: object, width: int, name: str):
    if scaler is None:
        return None
    from fastbp.datasets import Standardizer

    if not isinstance(scaler, Standardizer):
        raise TypeError(
            f"{name} must be a fastbp.datasets.Standardizer, got {type(scaler).__name__}"
        )
    if scaler.mean_ is None:
        raise ValueError(f"{name} is not fitted")
    if scaler.n_features != width:
        raise ValueError(
            f"{name} was fitted on {scaler.n_features} column(s); the network needs {width}"
        )
    return scaler


class _Graph:
    """Nodes and initialisers of the graph being built, with unique tensor names."""

    def __init__(self, onnx, dtype: np.dtype) -> None:
        self.onnx = onnx
        self.dtype = dtype
        self.nodes: list = []
        self.initializers: list = []
        self._constants: dict[str, str] = {}

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(
            self.onnx.helper.make_node(op, inputs, [output], name=f"{output}/{op}", **attrs)
        )
        return output

    def constant(self, name: str, value: np.ndarray) -> str:
        if name not in self._constants:
            self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
            self._constants[name] = name
        return name

    def scalar(self, name: str, value: float) -> str:
        return self.constant(name, np.array(value, dtype=self.dtype))

    def activation(self, act: str, z: str, out: str) -> str:
        """σ(z) as the nodes of the activation's record (:attr:`Activation.onnx`)."""
        if act not in RECORDS:
            raise ValueError(f"activation {act!r} has no ONNX mapping")  # pragma: no cover
        nodes = RECORDS[act].onnx
        names: list[str] = []
        for i, (op, inputs, attrs) in enumerate(nodes):
            args = []
            for x in inputs:
                if isinstance(x, float):
                    args.append(self.scalar(f"c{x!r}", x))
                else:
                    args.append(z if x == "z" else names[int(x[1:])])
            name = out if i == len(nodes) - 1 else f"{out}.{i}"
            if op == "Erf" and self.dtype == np.float64:
                names.append(self.erf64(args[0], name))
            else:
                names.append(self.node(op, args, name, **attrs))
        return names[-1]

    def erf64(self, w: str, out: str) -> str:
        """erf(w) = sign(w) (1 − erfc(|w|)) from basic operators (:data:`ERFC_POLY`)."""
        one, half, two = (self.scalar(f"c{v!r}", v) for v in (1.0, 0.5, 2.0))
        aw = self.node("Abs", [w], f"{out}.abs")
        t = self.node("Div", [one, self.node("Add", [one, self.node(
            "Mul", [aw, half], f"{out}.half")], f"{out}.den")], f"{out}.t")  # fmt: skip
        u = self.node("Sub", [self.node("Mul", [t, two], f"{out}.2t"), one], f"{out}.u")
        p = self.scalar(f"erfc{len(ERFC_POLY) - 1}", ERFC_POLY[-1])
        for i in range(len(ERFC_POLY) - 2, -1, -1):  # Horner
            pu = self.node("Mul", [p, u], f"{out}.pu{i}")
            p = self.node("Add", [pu, self.scalar(f"erfc{i}", ERFC_POLY[i])], f"{out}.p{i}")
        x2 = self.node("Mul", [aw, aw], f"{out}.x2")
        e = self.node("Exp", [self.node("Sub", [p, x2], f"{out}.arg")], f"{out}.exp")
        erfc = self.node("Mul", [t, e], f"{out}.erfc")
        sign = self.node("Sign", [w], f"{out}.sign")
        return self.node("Mul", [sign, self.node("Sub", [one, erfc], f"{out}.1m")], out)

    def network(self, spec, layer, x: str, out: str, prefix: str = "") -> str:
        """One network's layers from input ``x`` to output ``out`` (after the output activation).

        ``layer(k)`` gives ``(W, b)`` of layer k = 1..r; weights and tensors are named with
        ``prefix`` so that several networks can share one graph.
        """
        a = x
        r = spec.n_layers
        for k in range(1, r + 1):
            W, b = layer(k)
            w_name = self.constant(f"{prefix}W{k}", np.array(W, dtype=self.dtype, copy=True))
            b_name = self.constant(f"{prefix}b{k}", np.array(b, dtype=self.dtype, copy=True))
            z = self.node("Gemm", [a, w_name, b_name], f"{prefix}z{k}", transB=1)
            if k < r:
                a = self.activation(spec.activations[k - 1], z, f"{prefix}a{k}")
        out_act = spec.output_activation
        if out_act == "softmax":
            return self.node("Softmax", [z], out, axis=1)
        if out_act == "sigmoid":
            return self.node("Sigmoid", [z], out)
        if out_act == "exp":
            return self.node("Exp", [z], out)
        if out_act == "identity":
            return self.node("Identity", [z], out)
        raise ValueError(f"output activation {out_act!r} has no ONNX mapping")  # pragma: no cover

    def standardize(self, x: str, scaler, out: str, inverse: bool) -> str:
        """(x − mean) / scale, or x · scale + mean if ``inverse``; float64, like Standardizer."""
        onnx = self.onnx
        f64 = onnx.TensorProto.DOUBLE
        prefix = out.split(".")[0]
        mean = self.constant(f"{prefix}_mean", scaler.mean_.astype(np.float64))
        scale = self.constant(f"{prefix}_scale", scaler.scale_.astype(np.float64))
        narrow = self.dtype != np.float64
        if narrow:
            x = self.node("Cast", [x], f"{out}.f64", to=f64)
        if inverse:
            y = self.node("Add", [self.node("Mul", [x, scale], f"{out}.mul"), mean],
                          f"{out}.add" if narrow else out)  # fmt: skip
        else:
            y = self.node("Div", [self.node("Sub", [x, mean], f"{out}.sub"), scale],
                          f"{out}.div" if narrow else out)  # fmt: skip
        if narrow:
            y = self.node("Cast", [y], out, to=onnx.helper.np_dtype_to_tensor_dtype(self.dtype))
        return y


def onnx_model(
    net: Network,
    *,
    opset: int | None = None,
    x_scaler: Standardizer | None = None,
    y_scaler: Standardizer | None = None,
    dtype: str | np.dtype | None = None,
    preprocessing: bool = True,
) -> Any:
    """The ONNX model of ``net`` (an ``onnx.ModelProto``, checked with ``full_check=True``).

    The graph computes inference, ``net.forward``: a spec's ``dropout`` (training only) adds no
    node; the spec in the metadata keeps its rates.

    Parameters
    ----------
    net : fastbp.Network
        The network; its parameters must be finite.
    opset : int or None
        ONNX opset of the default domain, in ``MIN_OPSET``..(the onnx package's newest);
        ``None`` uses :data:`DEFAULT_OPSET`.
    x_scaler, y_scaler : fastbp.datasets.Standardizer or None
        Feature standardisation to apply to ``X`` first, and (``squared`` loss only) target
        standardisation to undo on the output, as ``fastbp predict`` does.  When both are None
        and ``preprocessing`` is True, the network's own ``net.preprocessing`` (if any) is used.
    dtype : {"float32", "float64"} or None
        The graph's dtype (its input, output, weights and constants); None uses the network's.
        A float64 network exported as float32 has its parameters rounded to float32.
    preprocessing : bool
        Build ``net.preprocessing`` into the graph (default); False exports the bare network
        unless scalers are given.

    Returns
    -------
    onnx.ModelProto
        Input ``X`` (batch, n0) and output ``Y`` (batch, nr), both in the graph's dtype.
    """
    onnx = require("onnx", "ONNX export")
    net = check_network(net, "ONNX export")
    opset = _check_opset(opset, onnx)
    spec = net.spec
    if not isinstance(preprocessing, (bool, np.bool_)):
        raise TypeError(f"preprocessing must be True or False, got {preprocessing!r}")
    pre = getattr(net, "preprocessing", None)
    if preprocessing and pre is not None and x_scaler is None and y_scaler is None:
        x_scaler, y_scaler = pre.x, pre.y
    x_scaler = _check_scaler(x_scaler, spec.n_inputs, "x_scaler")
    if y_scaler is not None and not spec.loss_record.standardise_y:
        raise ValueError(f"y_scaler needs a loss with standardised targets; not {spec.loss!r}")
    y_scaler = _check_scaler(y_scaler, spec.n_outputs, "y_scaler")
    dtype = spec.np_dtype if dtype is None else _check_dtype(dtype)
    g = _Graph(onnx, dtype)
    a = "X"
    if x_scaler is not None:
        a = g.standardize(a, x_scaler, "x.standardized", inverse=False)
    last = "Y" if y_scaler is None else "y.standardized"
    g.network(spec, net.layer, a, last)
    if y_scaler is not None:
        g.standardize(last, y_scaler, "Y", inverse=True)
    return _finish(
        onnx, g, spec, dtype, opset, "fastbp_mlp",
        f"{spec!r}: Y = net.forward(X)"
        + (" with standardised inputs" if x_scaler is not None else "")
        + (" and de-standardised outputs" if y_scaler is not None else "")
        + (f", exported as {dtype.name}" if dtype != spec.np_dtype else ""),
    )  # fmt: skip


def _finish(
    onnx, g: _Graph, spec, dtype: np.dtype, opset: int, name: str, doc: str, **props: str
) -> Any:
    """The checked model of graph ``g``: input ``X`` (batch, n0), output ``Y`` (batch, nr);
    ``props`` are added to the model's metadata beside ``fastbp.spec``."""
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    graph = onnx.helper.make_graph(
        g.nodes,
        name,
        [onnx.helper.make_tensor_value_info("X", elem, ["batch", spec.n_inputs])],
        [onnx.helper.make_tensor_value_info("Y", elem, ["batch", spec.n_outputs])],
        initializer=g.initializers,
    )
    from fastbp._version import __version__

    opset_ids = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(
        graph,
        opset_imports=opset_ids,
        producer_name="fastbp",
        producer_version=__version__,
        doc_string=doc,
    )
    # The oldest IR version that can hold this opset, so that older runtimes load the file.
    model.ir_version = onnx.helper.find_min_ir_version_for(opset_ids)
    onnx.helper.set_model_props(model, {"fastbp.spec": json.dumps(spec.to_dict()), **props})
    onnx.checker.check_model(model, full_check=True)
    return model


def to_onnx(
    net: Any,  # a Network; Any because Network's mixin passes itself
    path: str | os.PathLike[str],
    *,
    opset: int | None = None,
    x_scaler: Standardizer | None = None,
    y_scaler: Standardizer | None = None,
    dtype: str | np.dtype | None = None,
    preprocessing: bool = True,
) -> Path:
    """Write :func:`onnx_model` of ``net`` to ``path`` (atomically) and return the path.

    Parameters
    ----------
    net : fastbp.Network
        The network to export.
    path : str or os.PathLike
        The file to write (replaced if it exists; its directory must exist).
    opset : int or None
        ONNX opset (see :func:`onnx_model`).
    x_scaler, y_scaler : fastbp.datasets.Standardizer or None
        Standardisation to build into the graph (see :func:`onnx_model`).
    dtype : {"float32", "float64"} or None
        The graph's dtype; None uses the network's (see :func:`onnx_model`).
    preprocessing : bool
        Build ``net.preprocessing`` into the graph (see :func:`onnx_model`).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = as_path(path)
    model = onnx_model(net, opset=opset, x_scaler=x_scaler, y_scaler=y_scaler, dtype=dtype,
                       preprocessing=preprocessing)  # fmt: skip
    write_bytes_atomically(path, model.SerializeToString(), "ONNX model")
    return path


def ensemble_onnx_model(
    ens: Any,
    *,
    opset: int | None = None,
    dtype: str | np.dtype | None = None,
    preprocessing: bool = True,
) -> Any:
    """The ONNX model of an ensemble's mean (an ``onnx.ModelProto``, fully checked).

    The graph holds one copy of :func:`onnx_model`'s layers per member (member i's weights
    named ``m{i}.W{k}``, ``m{i}.b{k}``), all reading the same (standardised) ``X``, and the
    mean of the members' outputs (values, or softmax/sigmoid probabilities), as ``Sum`` and
    ``Div`` (onnxruntime has no float64 ``Mean``):
    ``Y = (1/M) Σ_i f_i(X)``, what :meth:`fastbp.Ensemble.predict` (regression) and
    :meth:`fastbp.Ensemble.predict_proba` (classification) return.  A target standardisation
    is undone once, after the mean (it is affine, so this equals undoing it per member up to
    rounding).

    Parameters
    ----------
    ens : fastbp.Ensemble
        The ensemble; every member's parameters must be finite.
    opset : int or None
        ONNX opset, as for :func:`onnx_model`.
    dtype : {"float32", "float64"} or None
        The graph's dtype; None uses the ensemble's.
    preprocessing : bool
        Build ``ens.preprocessing`` (if any) into the graph (default).

    Returns
    -------
    onnx.ModelProto
        Input ``X`` (batch, n0) and output ``Y`` (batch, nr), both in the graph's dtype.
    """
    onnx = require("onnx", "ONNX export")
    # Recognised by what is used, as check_network does: importing fastbp.ensemble here would
    # point an import back at the network classes.
    if not (isinstance(getattr(ens, "spec", None), NetworkSpec) and hasattr(ens, "member")):
        raise TypeError(
            f"ONNX export of an ensemble needs a fastbp.Ensemble, got {type(ens).__name__}"
        )
    if not isinstance(preprocessing, (bool, np.bool_)):
        raise TypeError(f"preprocessing must be True or False, got {preprocessing!r}")
    opset = _check_opset(opset, onnx)
    spec = ens.spec
    dtype = spec.np_dtype if dtype is None else _check_dtype(dtype)
    x_scaler = y_scaler = None
    if preprocessing and ens.preprocessing is not None:
        x_scaler = _check_scaler(ens.preprocessing.x, spec.n_inputs, "x_scaler")
        y_scaler = _check_scaler(ens.preprocessing.y, spec.n_outputs, "y_scaler")
    g = _Graph(onnx, dtype)
    with ens.reading():
        ens.check_params()
        a = "X"
        if x_scaler is not None:
            a = g.standardize(a, x_scaler, "x.standardized", inverse=False)
        M = len(ens)
        outs = [
            g.network(spec, ens.member(i).layer, a, f"m{i}.out", prefix=f"m{i}.") for i in range(M)
        ]
    last = "Y" if y_scaler is None else "y.standardized"
    # Sum, then divide by M, as numpy's mean does (onnxruntime has no double kernel for Mean).
    total = g.node("Sum", outs, "members.sum") if M > 1 else outs[0]
    g.node("Div", [total, g.scalar("n_members", float(M))], last)
    if y_scaler is not None:
        g.standardize(last, y_scaler, "Y", inverse=True)
    return _finish(
        onnx, g, spec, dtype, opset, "fastbp_ensemble_mean",
        f"{spec!r} x {M} members: Y = mean over members of net_i.forward(X)"
        + (" with standardised inputs" if x_scaler is not None else "")
        + (" and de-standardised outputs" if y_scaler is not None else "")
        + (f", exported as {dtype.name}" if dtype != spec.np_dtype else ""),
        **{"fastbp.n_members": str(M)},
    )  # fmt: skip


def ensemble_to_onnx(
    ens: Any,
    path: str | os.PathLike[str],
    *,
    opset: int | None = None,
    dtype: str | np.dtype | None = None,
    preprocessing: bool = True,
) -> Path:
    """Write :func:`ensemble_onnx_model` of ``ens`` to ``path`` (atomically); return the path.

    Parameters
    ----------
    ens : fastbp.Ensemble
        The ensemble to export.
    path : str or os.PathLike
        The file to write (replaced if it exists; its directory must exist).
    opset : int or None
        ONNX opset (see :func:`onnx_model`).
    dtype : {"float32", "float64"} or None
        The graph's dtype; None uses the ensemble's.
    preprocessing : bool
        Build ``ens.preprocessing`` into the graph.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = as_path(path)
    model = ensemble_onnx_model(ens, opset=opset, dtype=dtype, preprocessing=preprocessing)
    write_bytes_atomically(path, model.SerializeToString(), "ONNX model")
    return path


def write_bytes_atomically(path: Path, data: bytes, what: str) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`fastbp.io.write_atomically`).

    Parameters
    ----------
    path : pathlib.Path
        The file to write; its folder must exist.
    data : bytes
        The whole content.
    what : str
        What the file is, for error messages.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    """
    from fastbp.io import write_atomically

    write_atomically(path, lambda f: f.write(data), what)
