"""
Online learning with ``partial_fit``
====================================

A stream of rows whose target drifts: y = sin(w(t)·x), with the direction w(t) slowly
rotating. The online network predicts each row first and then learns from it with
:meth:`fastbp.Network.partial_fit` (momentum SGD, state kept between calls). A copy frozen
after the first 1,000 rows falls behind as the target moves. The full-length version is
``python scripts/examples/online_drift.py``.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb

rng = np.random.default_rng(0)
n_rows, period = 6000, 4000
net = fb.Network(fb.NetworkSpec([4, 32, 32, 1], ["tanh", "tanh"], "squared"), seed=0)
frozen = None
err_online, err_frozen = np.empty(n_rows), np.full(n_rows, np.nan)
for t in range(n_rows):
    angle = 2 * np.pi * t / period
    w = np.array([np.cos(angle), np.sin(angle), 0.5, -0.5])
    x = rng.normal(size=(1, 4))
    y = np.sin(x @ w)  # shape (1,)
    err_online[t] = (net.forward(x)[0, 0] - y[0]) ** 2  # predict first ...
    net.partial_fit(x, y, optimizer="momentum", momentum=0.9, lr=0.01)  # ... then learn
    if t == 1000:
        frozen = net.copy()
    if frozen is not None:
        err_frozen[t] = (frozen.forward(x)[0, 0] - y[0]) ** 2


# %%
# Errors over the stream
# ----------------------


def smooth(e, k=200):
    return np.convolve(e, np.ones(k) / k, mode="valid")


print(
    f"mean squared error over the last 1,000 rows: online {err_online[-1000:].mean():.3f}, "
    f"frozen {np.nanmean(err_frozen[-1000:]):.3f}"
)
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(smooth(err_online), label="online (partial_fit on every row)")
ax.plot(smooth(err_frozen), label="frozen after 1,000 rows")
ax.set_xlabel("row of the stream")
ax.set_ylabel("squared error (moving mean of 200)")
ax.set_title("Tracking a drifting target")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
