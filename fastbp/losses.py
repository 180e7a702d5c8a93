"""Loss registry: names map to small integer codes that kernels switch on.

Each loss is matched with the output activation that makes its output gradient the seed
dJ/dz[r] = a[r] − y (:func:`fastbp.kernels.output_delta`).  The codes are defined here once;
:mod:`fastbp.spec` validates names against :data:`LOSSES`, :mod:`fastbp.lowering` writes the code
into the plan (``out_kind``), and the kernels and generated kernels compare against these
constants.
"""

from __future__ import annotations

#: Squared error ½‖a − y‖², identity output.
SQUARED = 0
#: Cross-entropy −Σ y log a over a softmax output.
SOFTMAX_CE = 1
#: Binary cross-entropy per output over sigmoid outputs.
LOGISTIC = 2
#: Poisson deviance a − y log a over an exp output (a = exp z).
POISSON = 3

#: loss name -> (integer code, output activation it pairs with).
LOSSES: dict[str, tuple[int, str]] = {
    "squared": (SQUARED, "identity"),
    "softmax_cross_entropy": (SOFTMAX_CE, "softmax"),
    "logistic": (LOGISTIC, "sigmoid"),
    "poisson": (POISSON, "exp"),
}
