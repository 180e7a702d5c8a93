"""NetworkSpec: what a multilayer perceptron is, validated once, before anything is allocated."""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

import numpy as np

from fastbp.activations import ACTIVATIONS
from fastbp.losses import LOSSES, PARAMS, RECORDS, Loss, check_param

DTYPES = ("float32", "float64")

#: Refuse specs whose parameter buffer alone would exceed this many bytes (a typo guard; the
#: workspaces scale with batch capacity and are checked when they are allocated).
MAX_PARAM_BYTES = 16 * 2**30


@dataclass(frozen=True)
class NetworkSpec:
    """A multilayer perceptron: layer widths, hidden activations, loss and dtype.

    Parameters
    ----------
    widths : sequence of int
        ``[n0, n1, ..., nr]``: n0 inputs, hidden widths, nr outputs (at least two entries).
    activations : sequence of str or str
        One name per hidden layer (``len(widths) - 2`` names), each from
        :data:`fastbp.activations.ACTIVATIONS`.  A single string is repeated for every hidden layer.
    loss : str
        ``"squared"`` (identity output, J = ½‖a[r] − y‖²), ``"softmax_cross_entropy"`` (softmax
        output, J = −Σ y log softmax(z[r])), ``"logistic"`` (sigmoid outputs, binary
        cross-entropy) or ``"poisson"`` (log link: exponential outputs, J = Σ_j exp(z_j) − y_j z_j,
        the Poisson deviance up to terms free of z); for these four dJ/dz[r] = prediction −
        target.  The robust losses have an identity output and r = a[r] − y: ``"huber"``
        (Σ_j ½ r_j² if abs(r_j) ≤ δ else δ (abs(r_j) − ½ δ)), ``"absolute_error"``
        (Σ_j abs(r_j)) and ``"quantile"`` (the pinball loss Σ_j max(τ (y_j − a_j),
        (τ − 1)(y_j − a_j))).  The table of :data:`fastbp.losses.RECORDS` lists them all.
    dtype : str or numpy dtype
        ``"float32"`` or ``"float64"``; fixes the dtype of every array of the network.
    huber_delta : float, default=1.0
        Huber's δ > 0 (finite), in units of y; only with ``loss="huber"``.
    quantile : float, default=0.5
        The quantile τ, 0 < τ < 1, of ``loss="quantile"``; only with that loss.
    dropout : float or sequence of float
        Inverted dropout on the hidden layers, active only in training: a rate 0 ≤ p < 1 for
        every hidden layer, or one rate per hidden layer (``len(widths) - 2`` rates); stored as
        that tuple.  The output layer never drops; inference ignores it (see
        :mod:`fastbp.dropout`).

    Raises
    ------
    ValueError
        For an invalid field, naming the field and the allowed values.
    """

    widths: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str = "squared"
    dtype: str = "float64"
    huber_delta: float = 1.0
    quantile: float = 0.5
    dropout: tuple[float, ...] = ()

    def __init__(
        self,
        widths: Sequence[int],
        activations: Sequence[str] | str = (),
        loss: str = "squared",
        dtype: str | type | np.dtype = "float64",
        *,
        dropout: float | Sequence[float] = 0.0,
        huber_delta: float = 1.0,
        quantile: float = 0.5,
    ) -> None:
        widths_t = _check_widths(widths)
        n_hidden = len(widths_t) - 2
        if isinstance(activations, str):
            activations = [activations] * n_hidden
        try:
            acts = tuple(activations)
        except TypeError:
            raise ValueError(
                f"activations must be a list of names, got {type(activations).__name__}"
            ) from None
        if len(acts) != n_hidden:
            raise ValueError(
                f"activations must have one name per hidden layer: widths {list(widths_t)} has "
                f"{n_hidden} hidden layer(s), got {len(acts)} activation(s)"
            )
        for i, name in enumerate(acts):
            if not isinstance(name, str) or name not in ACTIVATIONS:
                raise ValueError(
                    f"activations[{i}] = {name!r} is unknown; allowed: {sorted(ACTIVATIONS)}"
                )
        if not isinstance(loss, str) or loss not in LOSSES:
            raise ValueError(f"loss = {loss!r} is unknown; allowed: {sorted(LOSSES)}")
        if LOSSES[loss][1] == "softmax" and widths_t[-1] < 2:
            raise ValueError(
                "loss = 'softmax_cross_entropy' needs at least 2 outputs (widths[-1] >= 2); "
                "use loss='logistic' for a single binary output"
            )
        given = {"huber_delta": huber_delta, "quantile": quantile}
        values = {}
        for field, value in given.items():
            owner = PARAMS[field]
            values[field] = check_param(owner, value)
            if owner.name != loss and values[field] != owner.default:
                raise ValueError(
                    f"{field} = {value!r} applies to loss={owner.name!r} only (loss={loss!r})"
                )
        try:
            dt = np.dtype(dtype).name
        except (TypeError, ValueError):
            dt = None
        if dt not in DTYPES:
            raise ValueError(f"dtype = {dtype!r} is not supported; allowed: {list(DTYPES)}")
        n_bytes = count_params(widths_t) * np.dtype(dt).itemsize
        if n_bytes > MAX_PARAM_BYTES:
            raise ValueError(
                f"widths {list(widths_t)} need {n_bytes / 2**30:.1f} GiB for the parameters alone "
                f"(limit {MAX_PARAM_BYTES / 2**30:.0f} GiB)"
            )
        object.__setattr__(self, "widths", widths_t)
        object.__setattr__(self, "activations", acts)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "dtype", dt)
        object.__setattr__(self, "dropout", check_dropout_rates(dropout, n_hidden))
        for field, value in values.items():
            object.__setattr__(self, field, value)

    @property
    def loss_record(self) -> Loss:
        """The loss's record (:data:`fastbp.losses.RECORDS`)."""
        return RECORDS[self.loss]

    @property
    def loss_param(self) -> float:
        """The loss's parameter (``huber_delta``, ``quantile``), NaN for a loss without one."""
        param = self.loss_record.param
        return float("nan") if param is None else float(getattr(self, param))

    @property
    def n_layers(self) -> int:
        """r, the number of weight layers."""
        return len(self.widths) - 1

    @property
    def n_inputs(self) -> int:
        """n0, the number of input features."""
        return self.widths[0]

    @property
    def n_outputs(self) -> int:
        """nr, the number of outputs."""
        return self.widths[-1]

    @property
    def n_params(self) -> int:
        """Total number of weights and biases."""
        return count_params(self.widths)

    @property
    def output_activation(self) -> str:
        """The output activation implied by the loss."""
        return LOSSES[self.loss][1]

    @functools.cached_property
    def has_dropout(self) -> bool:
        """Whether some hidden layer drops units in training (a rate > 0).

        Computed once per spec (the one-row ``partial_fit`` asks on every call)."""
        return any(p > 0.0 for p in self.dropout)

    @property
    def np_dtype(self) -> np.dtype:
        """The dtype as a :class:`numpy.dtype`."""
        return np.dtype(self.dtype)

    def to_dict(self) -> dict:
        """A JSON-ready description (used by the file format).

        Returns
        -------
        dict
            ``widths``, ``activations``, ``loss`` and ``dtype``, the loss's parameter
            (``huber_delta``, ``quantile``) for a loss that has one, and ``dropout`` (one rate per
            hidden layer) only when a rate is not 0, so specs without them write what they did.
        """
        d: dict = {
            "widths": list(self.widths),
            "activations": list(self.activations),
            "loss": self.loss,
            "dtype": self.dtype,
        }
        param = self.loss_record.param
        if param is not None:
            d[param] = getattr(self, param)
        if self.has_dropout:
            d["dropout"] = list(self.dropout)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NetworkSpec:
        """Inverse of :meth:`to_dict`; validates like the constructor.

        Parameters
        ----------
        d : dict
            As written by :meth:`to_dict`.

        Returns
        -------
        NetworkSpec

        Raises
        ------
        ValueError
            For anything the constructor refuses, or a missing or unknown key.
        """
        if not isinstance(d, dict):
            raise ValueError(f"spec must be a mapping, got {type(d).__name__}")
        missing = {"widths", "activations", "loss", "dtype"} - set(d)
        if missing:
            raise ValueError(f"spec is missing field(s) {sorted(missing)}")
        unknown = set(d) - {"widths", "activations", "loss", "dtype", "dropout", *PARAMS}
        if unknown:
            raise ValueError(f"spec has unknown field(s) {sorted(unknown)}")
        params = {k: d[k] for k in PARAMS if k in d}
        return cls(d["widths"], d["activations"], d["loss"], d["dtype"],
                   dropout=d.get("dropout", 0.0), **params)  # fmt: skip

    def __repr__(self) -> str:
        param = self.loss_record.param
        extra = "" if param is None else f", {param}={getattr(self, param)!r}"
        drop = f", dropout={list(self.dropout)}" if self.has_dropout else ""
        return (
            f"NetworkSpec(widths={list(self.widths)}, activations={list(self.activations)}, "
            f"loss={self.loss!r}, dtype={self.dtype!r}{extra}{drop})"
        )


def count_params(widths: Sequence[int]) -> int:
    """Σ_k n_k (n_{k−1} + 1): weights plus biases of every layer."""
    return sum(widths[k] * (widths[k - 1] + 1) for k in range(1, len(widths)))


def check_dropout_rates(dropout: object, n_hidden: int) -> tuple[float, ...]:
    """``dropout`` as one rate per hidden layer, each a real number with 0 <= p < 1.

    Parameters
    ----------
    dropout : float or sequence of float
        One rate for every hidden layer, or one per hidden layer.
    n_hidden : int
        The number of hidden layers.

    Returns
    -------
    tuple of float
        ``n_hidden`` rates.

    Raises
    ------
    ValueError
        For a rate outside [0, 1), a non-number, the wrong count, or a rate > 0 without hidden
        layers.
    """
    if isinstance(dropout, (str, bytes, Mapping, Set)):
        raise ValueError(f"dropout must be a rate or a list of rates, got {dropout!r}")
    if not hasattr(dropout, "__iter__"):
        if n_hidden == 0 and _rate(dropout, "dropout") > 0.0:
            raise ValueError(f"dropout = {dropout!r} needs a hidden layer; widths have none")
        return (_rate(dropout, "dropout"),) * n_hidden
    rates = tuple(_rate(p, f"dropout[{i}]") for i, p in enumerate(dropout))  # type: ignore
    if len(rates) != n_hidden:
        raise ValueError(
            f"dropout must be one rate, or one rate per hidden layer ({n_hidden}), got "
            f"{len(rates)} rate(s)"
        )
    return rates


def _rate(p: object, name: str) -> float:
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} = {p!r} must be a number in [0, 1)")
    rate = float(p)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} = {rate!r} must be in [0, 1) (the probability to drop a unit)")
    return rate + 0.0  # -0.0 becomes 0.0


def _check_widths(widths: object) -> tuple[int, ...]:
    if isinstance(widths, (str, bytes, Mapping, Set)) or not hasattr(widths, "__iter__"):
        raise ValueError(f"widths must be a list of positive integers, got {widths!r}")
    out = []
    for i, w in enumerate(widths):
        if isinstance(w, (bool, np.bool_)):
            raise ValueError(f"widths[{i}] = {w!r} must be a positive integer")
        try:
            w_int = operator.index(w)
        except TypeError:
            raise ValueError(f"widths[{i}] = {w!r} must be a positive integer") from None
        if w_int < 1:
            raise ValueError(f"widths[{i}] = {w_int} must be >= 1")
        out.append(int(w_int))
    if len(out) < 2:
        raise ValueError(
            f"widths must list at least an input and an output width, e.g. [8, 1]; got {out}"
        )
    return tuple(out)
