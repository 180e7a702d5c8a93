"""
e. The two-layer lemmas hold
============================

For a two-layer network, each lemma of the lecture gives one derivative in closed form:

* dJ/dz[2] = −(y − z[2]) for squared loss with an identity output;
* dJ/dW = dJ/dz aᵀ and dJ/db = dJ/dz for a linear layer;
* dJ/da = Wᵀ dJ/dz for its input;
* dJ/dz = dJ/da ⊙ σ'(z) through an activation.

:func:`fastbp.lecture.two_layer_lemmas` perturbs z, a, W or b directly and compares each
formula with central differences and with fastbp's compiled passes.
"""

import matplotlib.pyplot as plt
import numpy as np

from fastbp import lecture

fig, ax = plt.subplots(figsize=(7, 3.8))
width = 0.27
for i, activation in enumerate(["sigmoid", "tanh", "relu"]):
    rows = lecture.two_layer_lemmas(activation, seed=0)
    if i == 0:
        for row in rows:
            print(f"{row['lemma']:16s} {row['equation']}")
    errors = [max(row["fd_error"], 1e-17) for row in rows]
    ax.bar(np.arange(len(rows)) + (i - 1) * width, errors, width, label=activation)
    print(
        f"{activation}: worst error vs finite differences {max(errors):.1e}, "
        f"vs compiled passes {max(row['compiled_error'] for row in rows):.1e}"
    )

ax.set_yscale("log")
ax.set_xticks(np.arange(len(rows)))
ax.set_xticklabels([row["equation"].split("=")[0].strip() for row in rows], fontsize=8)
ax.set_ylabel("max |formula − central difference|")
ax.set_title("Each lemma against finite differences (4-5-3 network)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
