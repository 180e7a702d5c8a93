"""
a. Backprop is O(N); finite differences are O(N·l)
==================================================

The lecture's first claim: the whole gradient of a network with N parameters costs a small
constant times one forward pass, so O(N), while central finite differences need two forward
passes per parameter, O(N·l) with l = N inputs to differentiate.

We time :meth:`fastbp.Network.loss` (the forward pass), :meth:`fastbp.Network.loss_and_gradient`
(forward and backward) and central differences on ReLU networks of growing width, and fit the
log-log slope of time against N. Finite differences are timed on a random subset of 20
parameters and scaled by N/20, because every parameter costs the same two forward passes.
The batch is 8 rows, small enough for the explicit-loop kernels: on a shared machine, BLAS
threads spinning for other jobs can make the timings of small matrix products erratic. The
full sweep, up to a million parameters at batch 32, is ``fastbp lecture --only a``.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb


def median_seconds(fn, repeats=7, min_seconds=0.002):
    """Median wall time of ``fn()``, looping each sample until it lasts ``min_seconds``."""
    fn()  # compile (cached on disk after the first run) and warm up
    loops = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        if time.perf_counter() - t0 >= min_seconds:
            break
        loops *= 2
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - t0) / loops)
    return float(np.median(samples))


# %%
# Time the forward pass, the backprop gradient and central differences
# ---------------------------------------------------------------------
# ``net.params`` is the flat parameter buffer itself, so central differences can nudge one
# entry in place and call the compiled forward pass twice.

rng = np.random.default_rng(0)
X = rng.normal(size=(8, 32))  # batch 8: below 16 rows the kernels use loops, not BLAS
Y = rng.normal(size=(8, 1))
widths = [64, 128, 256, 512, 1024]
N, t_loss, t_grad, t_fd = [], [], [], []
for w in widths:
    net = fb.Network(fb.NetworkSpec([32, w, w, 1], "relu", "squared"), init="he_normal", seed=0)
    theta = net.params  # the parameter buffer itself; writing into it changes the network
    sample = rng.choice(net.n_params, size=20, replace=False)

    def central_differences(theta=theta, sample=sample, net=net, h=1e-6):
        for q in sample:
            old = theta[q]
            theta[q] = old + h
            up = net.loss(X, Y)
            theta[q] = old - h
            down = net.loss(X, Y)
            theta[q] = old
            _ = (up - down) / (2 * h)

    N.append(net.n_params)
    t_loss.append(median_seconds(lambda net=net: net.loss(X, Y)))
    t_grad.append(median_seconds(lambda net=net: net.loss_and_gradient(X, Y)))
    t_fd.append(median_seconds(central_differences, repeats=3) * net.n_params / len(sample))

# %%
# Log-log slopes
# --------------
# A slope of 1 is O(N); 2 is O(N²), which is O(N·l) with l = N.

slope_grad = np.polyfit(np.log(N), np.log(t_grad), 1)[0]
slope_fd = np.polyfit(np.log(N), np.log(t_fd), 1)[0]
print(f"backprop ∝ N^{slope_grad:.2f}, finite differences ∝ N^{slope_fd:.2f}")
print("gradient / forward time:", np.round(np.array(t_grad) / np.array(t_loss), 2))

fig, ax = plt.subplots(figsize=(5.5, 4))
ax.loglog(N, t_loss, "o-", label="forward (loss)")
ax.loglog(N, t_grad, "s-", label=f"backprop gradient, slope {slope_grad:.2f}")
ax.loglog(N, t_fd, "^-", label=f"central differences, slope {slope_fd:.2f}")
ax.set_xlabel("parameters N")
ax.set_ylabel("seconds per call (batch 8)")
ax.set_title("Backprop is O(N), finite differences O(N²)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
