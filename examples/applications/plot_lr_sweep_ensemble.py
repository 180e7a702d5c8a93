"""
A learning-rate sweep in one call
=================================

An :class:`fastbp.Ensemble` takes one learning rate per member, so 32 rates from
``np.geomspace(1e-4, 3, 32)`` train side by side in one :meth:`fastbp.Ensemble.fit` call
(members spread over the cores), each member exactly the network that
``Network(spec, seed=i).fit(..., lr=lrs[i], seed=i)`` would give. Every member keeps its own
history in ``ens.histories``. The largest rates diverge: those members are restored to their
last good epoch and stopped, the others train on, and ``fit`` warns once with a
:class:`~fastbp.ensemble_train.MemberDivergedWarning` naming them.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb
from fastbp.ensemble_train import MemberDivergedWarning

data = fb.datasets.load_diabetes()
X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
y = (data.y - data.y.mean()) / data.y.std()

lrs = np.geomspace(1e-4, 3, 32)
spec = fb.NetworkSpec([10, 16, 1], ["tanh"], "squared")
ens = fb.Ensemble(spec, n_members=lrs.size, seed=0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", MemberDivergedWarning)
    histories = ens.fit(X, y, epochs=40, batch_size=16, lr=lrs, momentum=0.0, progress=False)
for w in caught:
    print(f"{w.category.__name__}: {str(w.message)[:90]}...")

diverged = ens.diverged
final = np.array([h.loss[-1] for h in histories])
best = int(np.argmin(np.where(diverged, np.inf, final)))
print(f"best lr {lrs[best]:.3g}: final training loss {final[best]:.3f}")

# %%
# Loss curves and final loss against the learning rate
# ----------------------------------------------------

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
colors = plt.cm.viridis(np.linspace(0, 1, lrs.size))
for h, color, bad in zip(histories, colors, diverged, strict=True):
    loss = np.minimum(h.loss, 10.0)  # drawn clipped: a diverging member reaches 1e300
    left.plot(np.arange(1, loss.size + 1), loss, color=color, ls=":" if bad else "-")
left.set_yscale("log")
left.set_ylim(0.15, 12)
left.set_xlabel("epoch")
left.set_ylabel("training loss (½ mean squared error)")
left.set_title("member histories (dotted: diverged)", fontsize=10)
fig.colorbar(plt.cm.ScalarMappable(norm=plt.matplotlib.colors.LogNorm(lrs[0], lrs[-1])),
             ax=left, label="learning rate")  # fmt: skip

ok = ~diverged
right.loglog(lrs[ok], final[ok], "o-", ms=4, label="final loss")
right.scatter(lrs[diverged], np.full(diverged.sum(), 8.0), marker="x", color="tab:red",
              label="diverged (restored, stopped)")  # fmt: skip
right.axvline(lrs[best], color="0.6", lw=1)
right.set_ylim(0.15, 12)
right.set_xlabel("learning rate")
right.set_ylabel("training loss after the last epoch")
right.legend(fontsize=8)
fig.tight_layout()
plt.show()
