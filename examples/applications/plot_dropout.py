"""
Dropout against over-fitting
============================

A small noisy regression: 100 training rows of 8 features, of which only two matter,
y = sin(3 x₁) + x₂² / 2 + noise, fitted by an 8-128-128-1 ReLU network with Adam for 300
epochs, once plainly and once with ``NetworkSpec(..., dropout=0.5)`` on both hidden layers.
Dropout is active only in training (inverted: kept units are scaled by 1/(1 − p), so inference
needs no rescaling); the losses plotted are computed by ``net.loss``, which never drops. The
plain network fits the training rows, noise included, while its validation loss stays high;
with dropout the training loss stays above zero and the validation loss ends lower.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb

rng = np.random.default_rng(0)


def make(n):
    X = rng.uniform(-1.5, 1.5, size=(n, 8))
    y = np.sin(3 * X[:, :1]) + 0.5 * X[:, 1:2] ** 2 + 0.3 * rng.normal(size=(n, 1))
    return X, y


X, Y = make(100)
X_val, Y_val = make(1000)
curves = {}
for p in (0.0, 0.5):
    net = fb.Network(fb.NetworkSpec([8, 128, 128, 1], "relu", "squared", dropout=p), seed=0)
    epochs, train, val = [], [], []
    for chunk in range(30):  # 10 epochs a call; warm_start continues Adam and the mask counter
        net.fit(X, Y, epochs=10, batch_size=10, optimizer="adam", lr=2e-3, seed=chunk,
                warm_start=True, progress=False)  # fmt: skip
        epochs.append(10 * (chunk + 1))
        train.append(net.loss(X, Y))
        val.append(net.loss(X_val, Y_val))
    curves[p] = (epochs, train, val)
    print(f"dropout {p}: train {train[-1]:.3f}, validation {val[-1]:.3f}")


# %%
# Train and validation curves
# ---------------------------
# The noise variance 0.3² halved, 0.045, is the lowest mean loss any model can reach.

fig, ax = plt.subplots(figsize=(6, 3.6))
for p, colour in ((0.0, "C0"), (0.5, "C1")):
    epochs, train, val = curves[p]
    name = "no dropout" if p == 0 else f"dropout {p}"
    ax.plot(epochs, train, color=colour, ls="--", label=f"{name}: train")
    ax.plot(epochs, val, color=colour, label=f"{name}: validation")
ax.axhline(0.045, color="grey", lw=0.8, ls=":", label="noise floor")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("mean loss (½ squared error)")
ax.set_title("Dropout on a small noisy regression")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
