"""
Newton-CG against SGD
=====================

:func:`fastbp.curvature.scipy_objective` gives SciPy the mean loss, its gradient and exact
Hessian-vector products (the R-operator), so ``scipy.optimize.minimize(method="Newton-CG")``
can train a network. We compare it with minibatch SGD from the same start on the
standardised diabetes data, as training loss against wall time. Needs SciPy.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.optimize

import fastbp as fb
from fastbp.curvature import scipy_objective

data = fb.datasets.load_diabetes()
X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
y = (data.y - data.y.mean()) / data.y.std()
spec = fb.NetworkSpec([10, 16, 1], ["tanh"], "squared")
start = fb.Network(spec, seed=0)

# %%
# Newton-CG with exact Hessian-vector products
# --------------------------------------------
# Newton-CG; the loss at each iterate is evaluated outside the timed region.
fun, jac, hessp = scipy_objective(start, X, y)
newton_t, newton_loss = [0.0], [fun(start.params.copy())]
iterates = []
t0 = time.perf_counter()
result = scipy.optimize.minimize(
    fun,
    start.params.copy(),
    jac=jac,
    hessp=hessp,
    method="Newton-CG",
    callback=lambda xk: iterates.append((time.perf_counter() - t0, xk.copy())),
    options={"maxiter": 30, "xtol": 1e-10},
)
for seconds, xk in iterates:
    newton_t.append(seconds)
    newton_loss.append(fun(xk))

# %%
# Minibatch SGD from the same start
# ---------------------------------
# Minibatch SGD, one epoch per call.
net = start.copy()
sgd_t, sgd_loss, elapsed = [0.0], [net.loss(X, y)], 0.0
for epoch in range(300):
    t1 = time.perf_counter()
    net.fit(X, y, epochs=1, batch_size=16, lr=0.02, seed=epoch, progress=False)
    elapsed += time.perf_counter() - t1
    sgd_t.append(elapsed)
    sgd_loss.append(net.loss(X, y))

# %%
# Loss against wall time
# ----------------------

target = sgd_loss[-1]
hit = next((i for i, v in enumerate(newton_loss) if v <= target), None)
print(f"SGD after 300 epochs: loss {target:.4f} in {sgd_t[-1]:.2f} s")
print(
    f"Newton-CG: loss {newton_loss[-1]:.4f} after {len(newton_loss) - 1} iterations "
    f"in {newton_t[-1]:.2f} s; reaches SGD's final loss at iteration {hit}"
)

fig, ax = plt.subplots(figsize=(5.5, 3.8))
ax.semilogx(np.maximum(sgd_t, 1e-4), sgd_loss, label="SGD, batch 16, α = 0.02")
ax.semilogx(np.maximum(newton_t, 1e-4), newton_loss, "o-", ms=3, label="Newton-CG (exact H v)")
ax.set_xlabel("wall time (s)")
ax.set_ylabel("training loss")
ax.set_title("10-16-1 tanh on diabetes")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
