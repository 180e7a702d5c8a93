"""
Huber against squared loss with outliers
========================================

y = sin(2x) + 0.1 ε on 600 training rows, of which 15 % had their target replaced by a gross
error: a value 3 to 6 above the truth (a sensor that sticks high, say). A 1-32-32-1 tanh
network is fitted three times with the same seed and steps: with the squared error, with
``"huber"`` (``huber_delta=0.3``, about three noise scales: residuals beyond it count linearly)
and with ``"absolute_error"`` (the conditional median).

The squared error's optimum is the conditional *mean*, which the outliers pull up by about
0.15 × 4.5 ≈ 0.7 everywhere; the Huber and absolute-error fits stay near sin(2x). The error
printed is against the clean function on fresh inputs.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb

rng = np.random.default_rng(1)
x = rng.uniform(-2.5, 2.5, size=(600, 1))
y = np.sin(2 * x) + 0.1 * rng.normal(size=x.shape)
outlier = rng.random(600) < 0.15
y[outlier] = np.sin(2 * x[outlier]) + rng.uniform(3.0, 6.0, size=(outlier.sum(), 1))
print(f"{outlier.sum()} of {len(y)} targets are gross errors")

x_test = np.linspace(-2.5, 2.5, 400)[:, None]
fits = {}
for loss, params in (("squared", {}), ("huber", {"huber_delta": 0.3}), ("absolute_error", {})):
    spec = fb.NetworkSpec([1, 32, 32, 1], "tanh", loss, **params)
    net = fb.Network(spec, seed=0)
    net.fit(x, y, epochs=150, batch_size=32, optimizer="adam", lr=1e-2, schedule="step",
            seed=0, progress=False)  # fmt: skip
    fits[loss] = net.predict(x_test)
    rmse = np.sqrt(np.mean((fits[loss] - np.sin(2 * x_test)) ** 2))
    print(f"{loss:>14}: RMS error against the clean sin(2x) {rmse:.3f}")

# %%
# The fits
# --------
# Red points are the corrupted targets. The squared error's curve is lifted towards them; the
# robust losses ignore them, beyond their bounded pull.

fig, ax = plt.subplots(figsize=(6, 3.6))
ax.scatter(x[~outlier, 0], y[~outlier, 0], s=4, color="grey", alpha=0.5, label="clean rows")
ax.scatter(x[outlier, 0], y[outlier, 0], s=6, color="C3", alpha=0.6, label="gross errors")
for (loss, pred), colour in zip(fits.items(), ("C0", "C1", "C2"), strict=True):
    ax.plot(x_test[:, 0], pred[:, 0], color=colour, label=loss)
ax.plot(x_test[:, 0], np.sin(2 * x_test[:, 0]), color="k", lw=0.8, ls=":", label="sin(2x)")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_title("Squared, Huber (δ = 0.3) and absolute error with 15 % outliers")
ax.legend(fontsize=8, ncol=2, loc="upper left")
fig.tight_layout()
plt.show()
