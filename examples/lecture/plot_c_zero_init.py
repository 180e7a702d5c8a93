"""
c. Zero initialisation fails by symmetry; Xavier does not
=========================================================

If every weight starts at zero, all hidden units of a layer compute the same function and
receive the same gradient, so per-example SGD keeps them identical forever: the network
behaves as if each hidden layer had one unit. Xavier initialisation
(Var(w) = 2/(n_in + n_out)) breaks the symmetry.

We train a 2-16-16-1 sigmoid network on a smooth 2-D target from both starts, and measure the
spread of the first hidden layer's incoming weight rows (0 means all units are copies).
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb

rng = np.random.default_rng(0)
X = rng.uniform(-1, 1, size=(256, 2))
Y = np.sin(2 * X[:, 0]) * np.cos(2 * X[:, 1])
spec = fb.NetworkSpec([2, 16, 16, 1], "sigmoid", "squared")

curves, spreads = {}, {}
for init in ["zeros", "xavier_normal"]:
    net = fb.Network(spec, init=init, seed=0)
    hist = net.fit(X, Y, epochs=60, batch_size=1, lr=0.3, shuffle=False, progress=False)
    W1, _ = net.layer(1)
    curves[init] = hist.loss
    spreads[init] = float(np.abs(W1 - W1.mean(axis=0)).max())
    print(f"{init:14s} final loss {hist.loss[-1]:.4f}, spread of hidden units {spreads[init]:.1e}")

print(f"a constant predictor's loss: {0.5 * np.var(Y):.4f}")

fig, ax = plt.subplots(figsize=(5.5, 3.8))
for init, loss in curves.items():
    ax.semilogy(loss, label=f"{init} (unit spread {spreads[init]:.0e})")
ax.axhline(0.5 * np.var(Y), color="grey", ls=":", label="constant predictor")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_title("Zero init keeps hidden units identical")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
