"""
The Hessian's spectrum at initialisation and after training
===========================================================

:func:`fastbp.curvature.spectral_density` estimates the eigenvalue density of the Hessian H of
the mean loss by stochastic Lanczos quadrature (Ghorbani, Krishnan and Xiao 2019; PyHessian's
``density``), and :func:`fastbp.curvature.eigenvalues` finds its largest eigenvalues by
Lanczos; both use Hessian-vector products only, never the N × N matrix. We train a 64-32-10
tanh network with softmax cross-entropy on the bundled digits for a few epochs and compare the
spectrum on a fixed subset of 256 training rows before and after training, with the
Gauss-Newton matrix G (``matrix="gauss_newton"``, positive semidefinite) alongside.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp as fb
from fastbp.curvature import eigenvalues, spectral_density

data = fb.datasets.load_digits()
X_train, X_test, y_train, y_test = fb.datasets.train_test_split(
    data.X / 16, data.y, test_fraction=0.2, seed=0, stratify=True
)
rows = np.random.default_rng(0).choice(len(X_train), size=256, replace=False)
X_sub, y_sub = X_train[rows], y_train[rows]  # the same rows at both points

spec = fb.NetworkSpec([64, 32, 10], "tanh", "softmax_cross_entropy")
net = fb.Network(spec, seed=0)
print(f"{net.n_params} parameters; spectra on {len(X_sub)} training rows")

# %%
# Spectra at initialisation and after training
# --------------------------------------------
# Each density is 4 Rademacher probes of 60 Lanczos steps (240 products over the 256 rows);
# the top 3 eigenvalues come from a separate Lanczos run. The trace estimate is Hutchinson's,
# from the same probes.


def spectra(net):
    out = {}
    for matrix in ("hessian", "gauss_newton"):
        slq = spectral_density(net, X_sub, y_sub, probes=4, steps=60, matrix=matrix, seed=0)
        top = eigenvalues(net, X_sub, y_sub, k=3, matrix=matrix, tol=1e-6)
        out[matrix] = slq, top
    return out


def report(stage, net, result):
    print(f"{stage}: loss {net.loss(X_sub, y_sub):.3f} on the 256 rows")
    for matrix, (slq, top) in result.items():
        values = ", ".join(f"{v:.4g}" for v in top.values)
        print(
            f"  {matrix:12s} top 3 = [{values}] ({top.steps} Lanczos steps), "
            f"trace ≈ {slq.trace:.4g} ± {slq.trace_std_error:.2g}, "
            f"smallest node {slq.nodes.min():.3g}"
        )


at_init = spectra(net)
report("initialisation", net, at_init)

hist = net.fit(
    X_train, y_train, epochs=10, batch_size=16, optimizer="momentum", lr=0.02, progress=False
)
print(f"test accuracy after {len(hist.loss)} epochs: {net.score(X_test, y_test):.3f}")
trained = spectra(net)
report("after training", net, trained)

# %%
# Densities on a log scale
# ------------------------
# As in Ghorbani et al. and PyHessian, the smoothed density is drawn on a logarithmic y axis:
# most of the mass sits in a spike at 0 and a few outliers lie well to the right of it; the
# dotted lines mark the top 3 eigenvalues from ``eigenvalues``, which match the rightmost
# peaks. G has no negative eigenvalues; H differs from G by a term weighted by the residuals
# (softmax output minus one-hot target), so its negative part shrinks as the training loss
# falls and H comes close to G. Here the outliers also move left during training: the
# cross-entropy's curvature in the logits, diag(p) − p pᵀ, is small where the softmax output p
# is confident.

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
stages = [("initialisation", at_init), ("after training", trained)]
for ax, (stage, result) in zip(axes, stages, strict=True):
    for matrix, colour in [("hessian", "C0"), ("gauss_newton", "C1")]:
        slq, top = result[matrix]
        shown = np.maximum(slq.density, 1e-8)  # the Gaussian tails underflow to 0
        label = "Hessian H" if matrix == "hessian" else "Gauss-Newton G"
        ax.semilogy(slq.grid, shown, color=colour, label=label)
        for v in top.values:
            ax.axvline(v, color=colour, ls=":", lw=1)
    ax.set_ylim(1e-6, None)
    ax.set_xlabel("eigenvalue")
    ax.set_title(stage)
axes[0].set_ylabel("density (SLQ, smoothed)")
axes[0].legend(fontsize=8)
fig.suptitle("64-32-10 tanh on the digits: spectrum on 256 training rows")
fig.tight_layout()
plt.show()
