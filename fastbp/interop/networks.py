"""The converters that return a new :class:`fastbp.Network` or estimator: ``from_torch``,
``from_sklearn`` and the fitted ``fastbp.sklearn`` estimator of a scikit-learn one.

They live apart from the converters proper (:mod:`~fastbp.interop.torch_convert`,
:mod:`~fastbp.interop.sklearn_convert`, :mod:`~fastbp.interop.onnx_export`) because they
import :mod:`fastbp.network`, while ``Network``'s own methods (``to_onnx``, ``from_torch``, ...)
call those converters: the converters take the network class as an argument instead, so the
imports point one way.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from fastbp.interop.sklearn_convert import (
    FITTED_COPIED,
    estimator_name,
    network_from_sklearn_mlp,
    sklearn_mlps,
)

if TYPE_CHECKING:
    from fastbp.network import Network


def from_torch(
    module: Any, *, loss: str = "squared", huber_delta: float = 1.0, quantile: float = 0.5
) -> Network:
    """A :class:`fastbp.Network` computing what a ``torch.nn.Sequential`` computes.

    Same as ``Network.from_torch(module, loss=loss)``; what is accepted is listed in
    :mod:`fastbp.interop.torch_convert`.

    Parameters
    ----------
    module : torch.nn.Sequential
        ``Linear`` layers (with bias, float32 or float64, all one dtype) separated by at most one
        supported activation each.
    loss : str
        The network's loss: ``"squared"`` (the module must end with its last ``Linear``),
        ``"softmax_cross_entropy"``, ``"logistic"`` or ``"poisson"`` (the module may end with
        the matching ``Softmax``, ``Sigmoid`` or ``Exp``, or with the last ``Linear``); the
        robust losses ``"huber"``, ``"absolute_error"`` and ``"quantile"`` end like ``"squared"``.
    huber_delta, quantile : float
        The loss's parameter for ``loss="huber"`` or ``loss="quantile"`` (as for
        :class:`~fastbp.NetworkSpec`; the module holds no loss).

    Returns
    -------
    fastbp.Network
        With the module's weights copied into the parameter buffer, in the module's dtype.

    Raises
    ------
    ImportError
        If torch is not installed.
    TypeError
        If ``module`` is not a ``torch.nn.Sequential``.
    ValueError
        Naming the first module (by index and repr) that fastbp cannot express.
    """
    from fastbp.interop.torch_convert import torch_network
    from fastbp.network import Network

    return torch_network(Network, module, loss=loss, huber_delta=huber_delta, quantile=quantile)


def from_sklearn(estimator: Any) -> Network:
    """A :class:`fastbp.Network` with the weights of a fitted scikit-learn MLP.

    Same as ``Network.from_sklearn(estimator)``.

    Parameters
    ----------
    estimator : sklearn.neural_network.MLPClassifier or MLPRegressor, or a fastbp.sklearn one
        A fitted estimator (any solver).  For a fastbp estimator, a copy of its ``network_``.

    Returns
    -------
    fastbp.Network
        ``net.forward(X)`` equals the estimator's ``predict`` (regression, as (n, n_outputs)),
        its ``predict_proba`` (multiclass and multilabel) or its ``predict_proba(X)[:, 1]``
        (binary: one sigmoid output), to rounding.  ``net.metadata`` records the source class and,
        for classifiers, the class labels as strings (``target_names``).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted (a ValueError).
    ValueError
        For an activation or output fastbp does not have.
    TypeError
        For anything that is not one of these estimators.
    """
    from fastbp.interop.sklearn_convert import sklearn_network
    from fastbp.network import Network

    return sklearn_network(Network, estimator)


def fastbp_estimator_from_sklearn(klass: Any, estimator: Any) -> Any:
    """A fitted ``fastbp.sklearn`` estimator of class ``klass`` from a fitted scikit-learn one.

    Parameters
    ----------
    klass : type
        ``fastbp.sklearn.MLPClassifier`` or ``MLPRegressor``.
    estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
        A fitted scikit-learn estimator of the matching kind.

    Returns
    -------
    fastbp.sklearn.MLPClassifier or MLPRegressor
        Fitted, with the same weights and hyperparameters.

    Raises
    ------
    TypeError
        If ``estimator`` is not the scikit-learn peer of ``klass``.
    ValueError
        If its settings or weights cannot be expressed in fastbp.
    """
    from fastbp.network import Network

    MLPClassifier, MLPRegressor = sklearn_mlps()
    peer = MLPClassifier if klass()._is_classifier() else MLPRegressor
    if not isinstance(estimator, peer):
        raise TypeError(
            f"{klass.__name__}.from_sklearn needs a fitted sklearn.neural_network.{peer.__name__}, "
            f"got {type(estimator).__name__}"
        )
    net = network_from_sklearn_mlp(Network, estimator)
    params = estimator.get_params(deep=False)
    ours = klass(**{k: v for k, v in params.items() if k in klass._get_param_names()})
    ours.dtype = net.spec.dtype
    try:
        ours._check_settings()
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{estimator_name(estimator)} has a setting {klass.__name__} cannot train with: {exc}. "
            "fastbp.Network.from_sklearn(estimator) converts the fitted network alone"
        ) from None
    for name in FITTED_COPIED:
        if hasattr(estimator, name):
            setattr(ours, name, copy.deepcopy(getattr(estimator, name)))
    ours.network_ = net
    ours._best_params = net.params.copy()
    return ours
