"""
b. A Hessian-vector product is also O(N)
========================================

Pearlmutter's R-operator turns the forward and backward passes into a pass that computes the
exact product H v of the loss's Hessian with a vector, without ever forming the N × N matrix.
:meth:`fastbp.Network.hvp` runs it in compiled code. Its cost is a small multiple of a
gradient's, at every size.

The full sweep is ``fastbp lecture --only b``.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb


def median_seconds(fn, repeats=7, min_seconds=0.002):
    """Median wall time of ``fn()``, looping each sample until it lasts ``min_seconds``."""
    fn()
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
# Time a gradient and a Hessian-vector product
# --------------------------------------------

rng = np.random.default_rng(0)
X = rng.normal(size=(8, 32))  # batch 8: below 16 rows the kernels use loops, not BLAS
Y = rng.normal(size=(8, 1))
N, t_grad, t_hvp = [], [], []
for w in [64, 128, 256, 512, 1024]:
    net = fb.Network(fb.NetworkSpec([32, w, w, 1], "tanh", "squared"), seed=0)
    v = rng.normal(size=net.n_params)
    N.append(net.n_params)
    t_grad.append(median_seconds(lambda net=net: net.loss_and_gradient(X, Y)))
    t_hvp.append(median_seconds(lambda net=net, v=v: net.hvp(X, Y, v)))

# %%
# Check H v against finite differences of the gradient
# ----------------------------------------------------
# A spot check of the product itself: H v against central differences of the gradient.
net = fb.Network(fb.NetworkSpec([32, 16, 16, 1], "tanh", "squared"), seed=0)
v = rng.normal(size=net.n_params)
theta0 = net.params.copy()
h = 1e-5
net.params = theta0 + h * v
g_up = net.loss_and_gradient(X, Y)[1]
net.params = theta0 - h * v
g_down = net.loss_and_gradient(X, Y)[1]
net.params = theta0
fd = (g_up - g_down) / (2 * h)
print(f"max |Hv − FD| / max |Hv| = {np.abs(net.hvp(X, Y, v) - fd).max() / np.abs(fd).max():.1e}")

# %%
# Cost against N
# --------------

slope = np.polyfit(np.log(N), np.log(t_hvp), 1)[0]
ratio = np.array(t_hvp) / np.array(t_grad)
print(
    f"H v ∝ N^{slope:.2f}; time(H v) / time(gradient) from {ratio.min():.2f} to {ratio.max():.2f}"
)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.6))
ax1.loglog(N, t_grad, "s-", label="gradient")
ax1.loglog(N, t_hvp, "D-", label=f"H v, slope {slope:.2f}")
ax1.set_xlabel("parameters N")
ax1.set_ylabel("seconds per call (batch 8)")
ax1.legend(fontsize=8)
ax2.semilogx(N, ratio, "o-")
ax2.set_ylim(0, max(4.0, ratio.max() * 1.1))
ax2.set_xlabel("parameters N")
ax2.set_ylabel("time(H v) / time(gradient)")
fig.suptitle("A Hessian-vector product costs O(N)")
fig.tight_layout()
plt.show()
