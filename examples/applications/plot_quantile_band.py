"""
A prediction band from quantile losses
======================================

Noise whose spread grows with x: y = sin(2x) + (0.1 + 0.25 abs(x)) ε, ε standard normal, 1,000
training rows. Three 1-32-32-1 tanh networks are fitted with the pinball loss,
``NetworkSpec(..., "quantile", quantile=τ)`` for τ = 0.05, 0.5 and 0.95: each predicts the τ
quantile of y given x, so the outer two bound a 90 % prediction band that widens where the
noise does, which no fit of the mean with a constant error bar can do.

On 5,000 fresh rows the share of targets below each curve is close to its τ, and the band holds
close to 90 % of them. The pinball loss's gradient does not shrink near the optimum (it is
1 − τ or −τ), so Adam with a step decay settles it.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb

rng = np.random.default_rng(0)


def make(n):
    x = rng.uniform(-2.5, 2.5, size=(n, 1))
    return x, np.sin(2 * x) + (0.1 + 0.25 * np.abs(x)) * rng.normal(size=(n, 1))


X, Y = make(1000)
X_test, Y_test = make(5000)
taus = (0.05, 0.5, 0.95)
nets = {}
for tau in taus:
    net = fb.Network(fb.NetworkSpec([1, 32, 32, 1], "tanh", "quantile", quantile=tau), seed=0)
    net.fit(X, Y, epochs=150, batch_size=32, optimizer="adam", lr=1e-2, schedule="step",
            seed=0, progress=False)  # fmt: skip
    nets[tau] = net
    below = np.mean(Y_test < net.predict(X_test))
    print(f"tau {tau:.2f}: {below:.3f} of the test targets lie below the curve")
inside = np.mean((nets[0.05].predict(X_test) < Y_test) & (Y_test < nets[0.95].predict(X_test)))
print(f"the 5-95 % band holds {inside:.3f} of the test targets")

# %%
# The band
# --------
# The median curve follows sin(2x); the band is narrow near x = 0 and wide at the ends.

grid = np.linspace(-2.5, 2.5, 300)[:, None]
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.scatter(X[:, 0], Y[:, 0], s=4, color="grey", alpha=0.4, label="training rows")
ax.fill_between(grid[:, 0], nets[0.05].predict(grid)[:, 0], nets[0.95].predict(grid)[:, 0],
                color="C0", alpha=0.25, label="τ = 0.05 to 0.95")  # fmt: skip
ax.plot(grid[:, 0], nets[0.5].predict(grid)[:, 0], color="C0", label="τ = 0.5 (median)")
ax.plot(grid[:, 0], np.sin(2 * grid[:, 0]), color="k", lw=0.8, ls=":", label="sin(2x)")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_title("Quantile regression with the pinball loss")
ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()
plt.show()
