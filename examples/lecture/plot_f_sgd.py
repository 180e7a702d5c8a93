"""
f. Per-example SGD as written
=============================

The lecture's update, θ ← θ − α ∇J_i(θ) for one example i at a time, is
``net.fit(X, y, batch_size=1, optimizer="sgd", shuffle=False)``. On the standardised diabetes
data with a 10-16-1 tanh network, α = 0.01 lowers the training loss steadily, while α = 0.15
looks fine for a few epochs and then diverges. ``fit`` stops with
:class:`fastbp.FitDivergedError` and restores the parameters of the last good epoch.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb

data = fb.datasets.load_diabetes()
X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
y = (data.y - data.y.mean()) / data.y.std()
spec = fb.NetworkSpec([10, 16, 1], ["tanh"], "squared")

fig, ax = plt.subplots(figsize=(5.5, 3.8))
for lr in [0.01, 0.15]:
    net = fb.Network(spec, seed=0)
    try:
        hist = net.fit(X, y, epochs=60, batch_size=1, lr=lr, shuffle=False, progress=False)
        label = f"α = {lr}"
    except fb.FitDivergedError as err:
        hist = err.history
        finite = bool(np.isfinite(net.params).all())
        label = f"α = {lr}: diverged in epoch {err.epoch}"
        print(f"α = {lr}: {str(err).splitlines()[0]}")
        print(f"  parameters restored from epoch {len(hist.loss)}, all finite: {finite}")
    print(f"α = {lr}: loss {hist.loss[0]:.3f} → {hist.loss[-1]:.3g} over {len(hist.loss)} epochs")
    shown = np.minimum(hist.loss, 1e12)  # the diverging run reaches ~1e300; clip it for the plot
    ax.semilogy(range(1, len(hist.loss) + 1), shown, "o-", ms=2, label=label)

ax.set_xlabel("epoch")
ax.set_ylabel("training loss (clipped at 1e12)")
ax.set_title("Per-example SGD on diabetes, 10-16-1 tanh")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
