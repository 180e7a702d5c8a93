"""scikit-learn conversion: fitted ``sklearn.neural_network`` MLPs to and from fastbp.

scikit-learn's ``MLPClassifier``/``MLPRegressor`` compute
``a = act(a @ coefs_[k] + intercepts_[k])`` layer by layer, then the output activation
``out_activation_``.  fastbp's W[k + 1] is ``coefs_[k].T`` and b[k + 1] is ``intercepts_[k]``;
the hidden activation and the output map as

==========================  ==========================================
scikit-learn                fastbp
==========================  ==========================================
``activation="identity"``   ``identity``
``activation="logistic"``   ``sigmoid``
``activation="tanh"``       ``tanh``
``activation="relu"``       ``relu``
``out_activation_``         loss: ``identity`` → ``squared``,
                            ``softmax`` → ``softmax_cross_entropy``,
                            ``logistic`` → ``logistic``,
                            ``exp`` → ``poisson``
==========================  ==========================================

fastbp's other activations (``softplus``, ``leaky_relu``, ``gelu``, ``silu``, ``elu``, ``selu``,
``mish``) have no scikit-learn counterpart: those are refused.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from fastbp.activations import RECORDS
from fastbp.interop._common import build_network, require
from fastbp.spec import NetworkSpec

#: scikit-learn hidden activation -> fastbp activation (from the records' ``sklearn`` names).
SKLEARN_TO_FASTBP = {r.sklearn: r.name for r in RECORDS.values() if r.sklearn is not None}
FASTBP_TO_SKLEARN = {v: k for k, v in SKLEARN_TO_FASTBP.items()}
#: scikit-learn output activation -> fastbp loss.
OUTPUT_TO_LOSS = {
    "identity": "squared",
    "softmax": "softmax_cross_entropy",
    "logistic": "logistic",
    "exp": "poisson",
}
LOSS_TO_OUTPUT = {v: k for k, v in OUTPUT_TO_LOSS.items()}

#: Fitted attributes copied as they are between the estimators of the two libraries.
FITTED_COPIED = (
    "n_features_in_",
    "feature_names_in_",
    "n_outputs_",
    "n_layers_",
    "out_activation_",
    "n_iter_",
    "t_",
    "loss_",
    "loss_curve_",
    "best_loss_",
    "validation_scores_",
    "best_validation_score_",
    "classes_",
    "_label_binarizer",
    "_no_improvement_count",
)


def sklearn_mlps() -> tuple[Any, Any]:
    """scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` classes.

    Returns
    -------
    tuple of type
        ``(MLPClassifier, MLPRegressor)``.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    """
    nn = require("sklearn.neural_network", "scikit-learn conversion")
    return nn.MLPClassifier, nn.MLPRegressor


def estimator_name(estimator: object) -> str:
    """``sklearn.neural_network.MLPClassifier`` and the like, for messages.

    Parameters
    ----------
    estimator : object
        An estimator.

    Returns
    -------
    str
        Its package and class name.
    """
    package = type(estimator).__module__.split(".")[0]
    where = "sklearn.neural_network" if package == "sklearn" else package
    return f"{where}.{type(estimator).__name__}"


def _check_fitted_sklearn(estimator: object) -> None:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, ["coefs_", "intercepts_", "out_activation_"])


def network_from_sklearn_mlp(network_class: Any, estimator: Any) -> Any:
    """The network of a fitted scikit-learn ``MLPClassifier``/``MLPRegressor``.

    Parameters
    ----------
    network_class : type
        :class:`fastbp.Network` or a subclass.
    estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
        A fitted estimator.

    Returns
    -------
    fastbp.Network
        With the estimator's weights; see :func:`sklearn_network`.

    Raises
    ------
    ValueError
        If the estimator is not fitted or uses an activation or output fastbp cannot express.
    """
    _check_fitted_sklearn(estimator)
    what = estimator_name(estimator)
    act = estimator.activation
    if act not in SKLEARN_TO_FASTBP:
        raise ValueError(f"{what}: activation={act!r} has no fastbp counterpart")
    out = estimator.out_activation_
    if out not in OUTPUT_TO_LOSS:
        raise ValueError(
            f"{what}: output activation {out!r} has no fastbp loss; supported: "
            f"{sorted(OUTPUT_TO_LOSS)}"
        )
    coefs, intercepts = list(estimator.coefs_), list(estimator.intercepts_)
    if not coefs or len(coefs) != len(intercepts):
        raise ValueError(f"{what}: coefs_ and intercepts_ must be two lists of one array per layer")
    dtypes = {np.asarray(a).dtype.name for a in coefs + intercepts}
    if len(dtypes) != 1 or not dtypes <= {"float32", "float64"}:
        raise ValueError(
            f"{what}: coefs_/intercepts_ must all be float32 or all float64, got {dtypes}"
        )
    widths = [int(np.shape(coefs[0])[0])]
    for k, (c, b) in enumerate(zip(coefs, intercepts, strict=True)):
        c, b = np.asarray(c), np.asarray(b)
        if c.ndim != 2 or c.shape[0] != widths[-1] or b.shape != (c.shape[1],):
            raise ValueError(
                f"{what}: coefs_[{k}] has shape {c.shape} and intercepts_[{k}] {b.shape}; expected "
                f"({widths[-1]}, n) and (n,)"
            )
        if not (np.isfinite(c).all() and np.isfinite(b).all()):
            raise ValueError(f"{what}: coefs_[{k}] or intercepts_[{k}] contains NaN or inf")
        widths.append(int(c.shape[1]))
    loss = OUTPUT_TO_LOSS[out]
    if out == "softmax" and widths[-1] < 2:
        raise ValueError(f"{what}: a softmax output needs at least 2 units, got {widths[-1]}")
    spec = NetworkSpec(widths, [SKLEARN_TO_FASTBP[act]] * (len(widths) - 2), loss, dtypes.pop())
    meta: dict[str, Any] = {"source": what}
    classes = getattr(estimator, "classes_", None)
    multilabel = out == "logistic" and widths[-1] > 1
    if classes is not None and not multilabel:
        meta["target_names"] = [str(c) for c in classes]
    layers = [(np.asarray(c).T, np.asarray(b)) for c, b in zip(coefs, intercepts, strict=True)]
    return build_network(network_class, spec, layers, meta)


def sklearn_network(network_class: Any, estimator: Any) -> Any:
    """A network of ``network_class`` with the weights of a fitted scikit-learn MLP.

    The converter behind :func:`fastbp.interop.from_sklearn` and ``Network.from_sklearn``; it
    takes the class so that it never imports :mod:`fastbp.network`.  A fastbp estimator is
    recognised by its ``to_sklearn`` method (this module does not import :mod:`fastbp.sklearn`,
    which imports it).

    Parameters
    ----------
    network_class : type
        :class:`fastbp.Network` or a subclass.
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
        For an activation or output fastbp does not have (``loss="poisson"``).
    TypeError
        For anything that is not one of these estimators.
    """
    MLPClassifier, MLPRegressor = sklearn_mlps()
    if isinstance(estimator, (MLPClassifier, MLPRegressor)):
        return network_from_sklearn_mlp(network_class, estimator)
    if callable(getattr(estimator, "to_sklearn", None)) and callable(
        getattr(estimator, "get_params", None)
    ):  # a fastbp.sklearn estimator
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator, "network_")
        return estimator.network_.copy()
    raise TypeError(
        "from_sklearn needs a fitted sklearn.neural_network.MLPClassifier or MLPRegressor "
        f"(or a fastbp.sklearn estimator), got {type(estimator).__name__}"
    )


def sklearn_estimator_from_fastbp(estimator: Any) -> Any:
    """A fitted scikit-learn estimator from a fitted ``fastbp.sklearn`` one (see ``to_sklearn``).

    Parameters
    ----------
    estimator : fastbp.sklearn.MLPClassifier or MLPRegressor
        A fitted fastbp estimator.

    Returns
    -------
    sklearn.neural_network.MLPClassifier or MLPRegressor
        Fitted, with the same weights and hyperparameters.

    Raises
    ------
    ValueError
        If the network uses an activation or loss scikit-learn does not have (the robust losses
        ``huber``, ``absolute_error``, ``quantile``).
    """
    from sklearn.utils.validation import check_is_fitted

    MLPClassifier, MLPRegressor = sklearn_mlps()
    check_is_fitted(estimator, "network_")
    net = estimator.network_
    if net.spec.loss not in LOSS_TO_OUTPUT:  # the robust losses: fastbp's own
        raise ValueError(
            f"loss {net.spec.loss!r} has no scikit-learn MLP counterpart (scikit-learn's MLPs "
            f"have {sorted(LOSS_TO_OUTPUT)})"
        )
    peer = MLPClassifier if estimator._is_classifier() else MLPRegressor
    theirs_names = set(peer().get_params(deep=False))
    # fastbp's own parameters (dtype, progress, DP-SGD's, weight_decay, clip_norm, class_weight,
    # huber_delta, quantile, ...) have no scikit-learn counterpart: dropped, as documented.
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k in theirs_names}
    if net.spec.activations:
        act = net.spec.activations[0]
        if act not in FASTBP_TO_SKLEARN:
            raise ValueError(
                f"activation {act!r} has no scikit-learn counterpart (scikit-learn has "
                f"{sorted(SKLEARN_TO_FASTBP)})"
            )
        params["activation"] = FASTBP_TO_SKLEARN[act]
    elif params["activation"] not in SKLEARN_TO_FASTBP:  # no hidden layer: never applied
        params["activation"] = "identity"
    if params["solver"] in ("momentum", "nesterov"):  # the same updates under scikit-learn's names
        params["nesterovs_momentum"] = params["solver"] == "nesterov"
        params["solver"] = "sgd"
    if params["solver"] == "adamw":  # Adam's settings; the weight decay is dropped with the rest
        params["solver"] = "adam"
    theirs = peer(**params)
    for name in FITTED_COPIED:
        if hasattr(estimator, name):
            setattr(theirs, name, copy.deepcopy(getattr(estimator, name)))
    theirs.coefs_ = [np.array(c, order="C") for c in estimator.coefs_]
    theirs.intercepts_ = [np.array(b) for b in estimator.intercepts_]
    theirs.out_activation_ = LOSS_TO_OUTPUT[net.spec.loss]
    theirs.n_layers_ = len(net.spec.widths)
    if getattr(estimator, "early_stopping", False):
        theirs._best_coefs = [c.copy() for c in theirs.coefs_]
        theirs._best_intercepts = [b.copy() for b in theirs.intercepts_]
    return theirs
