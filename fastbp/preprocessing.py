"""The preprocessing a network carries: feature standardisation before it, and target
de-standardisation after it (what ``fastbp train`` and ``fastbp sweep`` fit on the training rows).

A network has two sets of units.  The *network's units* are what its layers see: standardised
features ``(X − x_mean) / x_scale`` in, and for ``squared`` regression standardised targets
``(y − y_mean) / y_scale``.  The *user's units* are the raw features and targets of the data
file.  ``forward``, ``loss``, ``gradient``, ``fit`` and ``partial_fit`` work in the network's
units; ``predict``, ``predict_proba`` and ``score`` (and the ONNX and torch exports) work in the
user's units, applying :attr:`fastbp.Network.preprocessing` when it is set.  A network without
preprocessing (``preprocessing is None``, the default) has one set of units and is unchanged.

In a model file the preprocessing is stored as the extra arrays ``x_mean``/``x_scale`` and
``y_mean``/``y_scale`` (see the user guide's "File format" page); the names are reserved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fastbp.datasets._preprocessing import Standardizer
from fastbp.rows import LazyRows
from fastbp.validate import as_features

if TYPE_CHECKING:
    from fastbp.spec import NetworkSpec

#: The extra-array names of a model file that hold the preprocessing.
ARRAY_NAMES = ("x_mean", "x_scale", "y_mean", "y_scale")


class Preprocessing:
    """Feature standardisation before a network, and target de-standardisation after it.

    Parameters
    ----------
    x : fastbp.datasets.Standardizer or None
        Fitted on the training features: the network sees ``(X − x.mean_) / x.scale_``.
    y : fastbp.datasets.Standardizer or None
        Fitted on the training targets (``squared`` networks only): the network's outputs are
        ``(y − y.mean_) / y.scale_``, and :meth:`to_user_outputs` undoes that.

    Raises
    ------
    TypeError
        If ``x`` or ``y`` is not a Standardizer (or None).
    ValueError
        If one is not fitted, or both are None.
    """

    def __init__(self, x: Standardizer | None = None, y: Standardizer | None = None) -> None:
        for name, s in (("x", x), ("y", y)):
            if s is None:
                continue
            if not isinstance(s, Standardizer):
                raise TypeError(
                    f"{name} must be a fastbp.datasets.Standardizer or None, got {type(s).__name__}"
                )
            if s.mean_ is None:
                raise ValueError(f"{name} is not fitted")
        if x is None and y is None:
            raise ValueError("a Preprocessing needs x, y or both (use None for no preprocessing)")
        self.x = x
        self.y = y

    def check(self, spec: NetworkSpec) -> None:
        """Raise ValueError unless this preprocessing fits a network of ``spec``.

        Parameters
        ----------
        spec : NetworkSpec
            The network's spec.

        Raises
        ------
        ValueError
            If ``x`` does not have ``n_inputs`` columns, or ``y`` is set for a loss other than
            ``squared`` or does not have ``n_outputs`` columns.
        """
        if self.x is not None and self.x.n_features != spec.n_inputs:
            raise ValueError(
                f"x_mean/x_scale hold {self.x.n_features} column(s); the network {spec!r} takes "
                f"{spec.n_inputs} inputs"
            )
        if self.y is not None:
            if not spec.loss_record.standardise_y:
                raise ValueError(
                    f"y_mean/y_scale (target standardisation) need a loss whose targets may be "
                    f"standardised (squared, absolute_error, quantile); this one is {spec.loss!r}"
                )
            if self.y.n_features != spec.n_outputs:
                raise ValueError(
                    f"y_mean/y_scale hold {self.y.n_features} column(s); the network {spec!r} has "
                    f"{spec.n_outputs} outputs"
                )

    def to_network_inputs(self, X: Any, spec: NetworkSpec) -> np.ndarray | LazyRows:
        """Raw rows X (user's units) as the network's inputs: ``(X − x_mean) / x_scale``.

        Checked as :meth:`fastbp.Network.forward` checks X, and computed in float64 before the
        cast to the network's dtype (as :class:`fastbp.datasets.Standardizer` computes it).  A
        memory map, or an X whose copy would be large, comes back as a
        :class:`fastbp.rows.LazyRows` that standardises each chunk as it is read.

        Parameters
        ----------
        X : array_like
            (n, n0) raw rows.
        spec : NetworkSpec
            The network's spec.

        Returns
        -------
        numpy.ndarray or fastbp.rows.LazyRows
            (n, n0) standardised rows in the network's dtype.
        """
        if isinstance(X, LazyRows):
            raise TypeError(
                "a network with preprocessing takes raw rows (an array or a memory map), not "
                "LazyRows prepared for its inputs"
            )
        checked = as_features(X, spec)
        if self.x is None:
            return checked
        mean, scale = self.x._fitted()
        if isinstance(checked, LazyRows):
            return LazyRows(checked.source, checked.dtype, checked.n_cols, index=checked.index,
                            shift=mean, scale=scale)  # fmt: skip
        out = (np.asarray(X, dtype=np.float64) - mean) / scale
        return np.ascontiguousarray(out, dtype=spec.np_dtype)

    def to_network_targets(self, Y: Any) -> np.ndarray:
        """Regression targets (user's units) as the network's: ``(Y − y_mean) / y_scale``.

        For :meth:`fastbp.Network.fit` on a network with preprocessing: ``net.fit(
        pre.to_network_inputs(X, net.spec), pre.to_network_targets(y))``.  Without ``y`` (a
        classifier, or no target standardisation) Y is returned as it is.

        Parameters
        ----------
        Y : array_like
            (n,) or (n, nr) targets.

        Returns
        -------
        numpy.ndarray
            Standardised targets of Y's shape.
        """
        return np.asarray(Y) if self.y is None else self.y.transform(Y)

    def to_user_outputs(self, out: np.ndarray) -> np.ndarray:
        """Network outputs (n, nr) in the user's units: ``out · y_scale + y_mean``.

        Computed in float64 and returned in ``out``'s dtype; ``out`` itself if there is no ``y``.

        Parameters
        ----------
        out : numpy.ndarray
            (n, nr) outputs of :meth:`fastbp.Network.forward`.

        Returns
        -------
        numpy.ndarray
            (n, nr) values in the targets' units.
        """
        if self.y is None:
            return out
        mean, scale = self.y._fitted()
        user = np.asarray(out, dtype=np.float64) * scale + mean
        return np.ascontiguousarray(user, dtype=out.dtype)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays stored in a model file: ``x_mean``, ``x_scale`` (and ``y_*``), float64.

        Returns
        -------
        dict of str to numpy.ndarray
            Copies, keyed by the names in :data:`ARRAY_NAMES` that are set.
        """
        out: dict[str, np.ndarray] = {}
        for prefix, s in (("x", self.x), ("y", self.y)):
            if s is not None:
                out.update({f"{prefix}_{k}": v for k, v in s.to_arrays().items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Preprocessing | None:
        """The preprocessing a model file's extra arrays hold, or None if they hold none.

        A standardiser is read from a complete pair (``x_mean`` with ``x_scale``, ``y_mean``
        with ``y_scale``); a lone ``x_mean`` or ``y_mean`` is left alone, an ordinary extra array.

        Parameters
        ----------
        arrays : mapping of str to numpy.ndarray
            ``net.extras``.

        Returns
        -------
        Preprocessing or None
            None if neither pair is present.

        Raises
        ------
        ValueError
            If a pair is malformed (shapes, non-finite values, a scale ≤ 0).
        """
        parts: dict[str, Standardizer | None] = {"x": None, "y": None}
        for prefix in parts:
            mean, scale = arrays.get(f"{prefix}_mean"), arrays.get(f"{prefix}_scale")
            if mean is None or scale is None:
                continue
            try:
                parts[prefix] = Standardizer.from_arrays({"mean": mean, "scale": scale})
            except ValueError as exc:
                raise ValueError(f"bad {prefix}_mean/{prefix}_scale arrays: {exc}") from None
        if parts["x"] is None and parts["y"] is None:
            return None
        return cls(parts["x"], parts["y"])

    def copy(self) -> Preprocessing:
        """An independent copy.

        Returns
        -------
        Preprocessing
            With copied standardisers.
        """
        pre = Preprocessing.from_arrays(self.to_arrays())
        assert pre is not None
        return pre

    def __repr__(self) -> str:
        parts = [f"{name}={s.n_features} column(s)" for name, s in (("x", self.x), ("y", self.y))
                 if s is not None]  # fmt: skip
        return f"Preprocessing({', '.join(parts)})"


def merged_arrays(
    pre: Preprocessing | None, arrays: Mapping[str, np.ndarray] | None
) -> Mapping[str, np.ndarray] | None:
    """The extra arrays to save: ``arrays`` plus the preprocessing's (see :func:`Network.save`).

    Parameters
    ----------
    pre : Preprocessing or None
        ``net.preprocessing``.
    arrays : mapping or None
        The caller's extra arrays.

    Returns
    -------
    mapping or None
        ``arrays`` as given without preprocessing, else a dict of both together.

    Raises
    ------
    ValueError
        If ``arrays`` holds a reserved name with other values than the preprocessing's.
    """
    if pre is None:
        return arrays  # as given: fastbp.io.save_model checks it
    if arrays is not None and not isinstance(arrays, Mapping):
        raise TypeError(
            f"arrays must be a dict of named arrays or None, got {type(arrays).__name__}"
        )
    out = dict(arrays or {})
    for name, value in pre.to_arrays().items():
        if name in out and not np.array_equal(np.asarray(out[name]), value):
            raise ValueError(
                f"arrays[{name!r}] differs from net.preprocessing's; the names {ARRAY_NAMES} "
                "are reserved for the preprocessing (set net.preprocessing instead)"
            )
        out[name] = value
    return out
