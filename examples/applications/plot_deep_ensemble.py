"""
A deep ensemble: uncertainty where there is no data
===================================================

Twelve networks of one spec, trained together by one :meth:`fastbp.Ensemble.fit` call, on a
1-D regression whose inputs leave a gap around x = 0. Their mean is the prediction; their
spread (``predict(X, return_std=True)``) is small where the rows agree with every member and
grows in the gap and beyond the data, where nothing holds the members together.

The members differ only by their seeds (member i starts and shuffles as
``Network(spec, seed=seed + i)``), not by ``bootstrap=True``: as in Lakshminarayanan et al.
(2017), "Simple and scalable predictive uncertainty estimation using deep ensembles", random
initialisation and shuffling already make the members disagree away from the data, while a
bootstrap resample would hide about a third of the 120 rows from each member and widen the band
inside the data too. ``bootstrap=True`` is one argument away, for bagging.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb

rng = np.random.default_rng(0)
x = np.concatenate([rng.uniform(-3, -0.8, 60), rng.uniform(0.8, 3, 60)])
y = np.sin(2 * x) + 0.3 * x + 0.1 * rng.normal(size=x.size)

spec = fb.NetworkSpec([1, 32, 32, 1], ["tanh", "tanh"], "squared")
ens = fb.Ensemble(spec, n_members=12, seed=0)
ens.fit(x[:, None], y, epochs=200, batch_size=8, optimizer="adam", lr=0.01, progress=False)

grid = np.linspace(-4.5, 4.5, 300)
mean, std = ens.predict(grid[:, None], return_std=True)
mean, std = mean[:, 0], std[:, 0]
inside = (np.abs(grid) > 1) & (np.abs(grid) < 2.8)
print(f"mean std over the data: {std[inside].mean():.3f}; at x = 0: {std[150]:.3f}")

# %%
# Mean and a ±2σ band
# -------------------
# Thin lines are the members (``ens.forward`` gives every member's outputs, shape (M, n, 1)).

fig, ax = plt.subplots(figsize=(6.4, 3.8))
for out in ens.forward(grid[:, None]):
    ax.plot(grid, out[:, 0], color="tab:blue", lw=0.5, alpha=0.35)
ax.fill_between(grid, mean - 2 * std, mean + 2 * std, color="tab:blue", alpha=0.2,
                label="mean ± 2σ over members")  # fmt: skip
ax.plot(grid, mean, color="tab:blue", lw=2, label="ensemble mean")
ax.plot(grid, np.sin(2 * grid) + 0.3 * grid, "k--", lw=1, label="true function")
ax.scatter(x, y, s=10, color="k", zorder=3, label="training rows")
ax.axvspan(-0.8, 0.8, color="0.9", zorder=0)
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_ylim(-3, 3)
ax.set_title(f"{len(ens)} members, seeds {ens.seed}..{ens.seed + len(ens) - 1}")
ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()
plt.show()
