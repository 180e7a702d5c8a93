"""
d. Sigmoid chains vanish; ReLU much less
========================================

Backprop multiplies dJ/da by σ'(z) at every layer. Since σ' ≤ ¼ for the sigmoid, the
gradient shrinks geometrically as it travels back through a deep sigmoid network. ReLU's
derivative is 0 or 1, so it shrinks much less.

:meth:`fastbp.Network.trace` returns every layer's ``dJ/dz`` for one pass; we plot its norm
per layer at initialisation for 10 hidden layers of width 64.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb

rng = np.random.default_rng(0)
X = rng.normal(size=(128, 64))
Y = rng.normal(size=(128, 1))
depth = 10

fig, ax = plt.subplots(figsize=(5.5, 3.8))
for activation in ["sigmoid", "tanh", "relu"]:
    spec = fb.NetworkSpec([64] + [64] * depth + [1], activation, "squared")
    net = fb.Network(spec, init="xavier_normal", seed=0)
    t = net.trace(X, Y)
    norms = [np.linalg.norm(t.dJ_dz[k]) for k in range(1, depth + 2)]
    per_layer = (norms[0] / norms[-2]) ** (1 / (depth - 1))
    print(
        f"{activation:8s} ‖dJ/dz[1]‖ / ‖dJ/dz[{depth}]‖ = {norms[0] / norms[-2]:.1e} "
        f"(×{per_layer:.2f} per layer)"
    )
    ax.semilogy(range(1, depth + 2), norms, "o-", label=activation)

ax.set_xlabel("layer k (1 = first hidden layer)")
ax.set_ylabel("‖dJ/dz[k]‖ at initialisation")
ax.set_title(f"Gradient norms through {depth} hidden layers")
ax.legend()
fig.tight_layout()
plt.show()
