"""The lecture's figures: one function per experiment, drawing from its result dict.

Each takes what the experiment returned (or its JSON file, loaded) and writes one image.
matplotlib is imported only when a figure is drawn (:mod:`fastbp.plot`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from fastbp.lecture.experiments import BOUNDED_RATIO, LEMMA_FD_RTOL
from fastbp.plot import new_figure, save


def _plot_cost(
    data: dict[str, Any],
    path: str | os.PathLike[str],
    ops: dict[str, str],
    ratio: tuple[str, str, str],
) -> None:
    """The three panels of a cost claim: each sweep's times against N, and ``ratio`` against N."""
    fig, axes = new_figure(3)
    for ax, (name, rec) in zip(axes, data["sweeps"].items(), strict=False):
        for op, label in ops.items():
            ax.loglog(
                rec["N"], rec[f"{op}_s"], "o-", label=f"{label} (slope {rec['slope'][op]:.2f})"
            )
        N = np.asarray(rec["N"], dtype=float)
        for op, power in (("grad", 1), ("fd", 2)):
            if f"{op}_s" in rec:  # guides through the first point: ∝ N and ∝ N²
                guide = rec[f"{op}_s"][0] * (N / N[0]) ** power
                style, label = (":", "∝ N") if power == 1 else ("--", "∝ N²")
                ax.loglog(N, guide, style, color="grey", lw=1, label=label)
        ax.set_xlabel("parameters N")
        ax.set_ylabel(f"seconds (median, batch {data['batch']})")
        ax.set_title(f"{name} sweep" + (" (32-w-w-1)" if name == "width" else " (64-…-64-1)"))
        ax.legend(fontsize="small")
        axes[2].semilogx(rec["N"], rec[ratio[0]], "o-", label=f"{name} sweep")
    axes[2].axhline(BOUNDED_RATIO, color="grey", ls=":", label=f"bound {BOUNDED_RATIO:g}")
    axes[2].set_ylim(0, BOUNDED_RATIO * 1.2)
    axes[2].set_xlabel("parameters N")
    axes[2].set_ylabel(ratio[1])
    axes[2].set_title(ratio[2])
    axes[2].legend(fontsize="small")
    save(fig, path)


def plot_backprop_cost(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the figure of claim a (:func:`fastbp.lecture.backprop_cost`) to ``path``.

    Parameters
    ----------
    data : dict
        What :func:`fastbp.lecture.backprop_cost` returned (or its JSON file, loaded).
    path : str or os.PathLike
        The image file; its extension sets the format.

    Raises
    ------
    ImportError
        Without matplotlib (the ``plot`` extra).
    """
    ops = {"loss": "loss", "grad": "backprop gradient", "fd": "finite differences"}
    _plot_cost(data, path, ops, ("grad_over_loss", "time(gradient) / time(loss)", "gradient/loss"))


def plot_hvp_cost(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the figure of claim b (:func:`fastbp.lecture.hvp_cost`) to ``path``.

    Parameters
    ----------
    data : dict
        What :func:`fastbp.lecture.hvp_cost` returned (or its JSON file, loaded).
    path : str or os.PathLike
        The image file; its extension sets the format.

    Raises
    ------
    ImportError
        Without matplotlib (the ``plot`` extra).
    """
    ops = {"loss": "loss", "grad": "gradient", "hvp": "H v"}
    _plot_cost(data, path, ops, ("hvp_over_grad", "time(H v) / time(gradient)", "hvp/gradient"))


def plot_zero_init(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the figure of claim c (:func:`fastbp.lecture.zero_init`) to ``path``.

    Parameters
    ----------
    data : dict
        What :func:`fastbp.lecture.zero_init` returned (or its JSON file, loaded).
    path : str or os.PathLike
        The image file; its extension sets the format.

    Raises
    ------
    ImportError
        Without matplotlib (the ``plot`` extra).
    """
    fig, axes = new_figure(3)
    sym = data["symmetry"]
    for init, rec in sym["compiled"].items():
        axes[0].semilogy(range(1, len(rec["loss_curve"]) + 1), rec["loss_curve"], label=init)
    axes[0].axhline(sym["constant_predictor_loss"], color="grey", ls=":", label="constant")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("training loss")
    axes[0].set_title(f"2-16-16-1 sigmoid, per-example SGD α={sym['lr']:g}")
    axes[0].legend(fontsize="small")
    layers = data["scale"]["layers"]
    for key, style in (("tanh", "-"), ("relu", "--")):
        for init in ("xavier_normal", "normal"):
            rec = data["scale"][f"{key}/{init}"]
            axes[1].semilogy(layers, rec["z_std"], style, marker="o", label=f"{key}, {init}")
            if key == "tanh":
                axes[2].plot(layers, rec["saturated_fraction"], marker="o", label=f"tanh, {init}")
    axes[1].set_xlabel("hidden layer k")
    axes[1].set_ylabel("std of z[k] at initialisation")
    axes[1].set_title("64-wide, 10 hidden layers, N(0, 1) inputs")
    axes[1].legend(fontsize="small")
    axes[2].set_ylim(-0.02, 1.02)
    axes[2].set_xlabel("hidden layer k")
    axes[2].set_ylabel("fraction with σ'(z) < 1% of max")
    axes[2].set_title("saturated tanh activations at initialisation")
    axes[2].legend(fontsize="small")
    save(fig, path)


def plot_vanishing(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the figure of claim d (:func:`fastbp.lecture.vanishing`) to ``path``.

    Parameters
    ----------
    data : dict
        What :func:`fastbp.lecture.vanishing` returned (or its JSON file, loaded).
    path : str or os.PathLike
        The image file; its extension sets the format.

    Raises
    ------
    ImportError
        Without matplotlib (the ``plot`` extra).
    """
    fig, axes = new_figure(3)
    L = data["depths"][-1]
    for act, color in (("sigmoid", "C3"), ("relu", "C0")):
        rec = data[act]
        k = list(range(1, L + 2))
        axes[0].semilogy(k, rec["grad_z_norm"][-1], "o-", color=color, label=f"{act}")
        axes[1].semilogy(k, rec["grad_W_norm"][-1], "o-", color=color, label=f"{act}")
        axes[2].semilogy(data["depths"], rec["first_layer"], "o-", color=color, label=f"{act}")
    top = data["sigmoid"]["grad_z_norm"][-1][-2]
    axes[0].semilogy(range(1, L + 1), [top * 0.25 ** (L - k) for k in range(1, L + 1)], ":",
                     color="grey", label="×¼ per layer")  # fmt: skip
    axes[0].set_title(f"‖dJ/dz[k]‖ (RMS over examples), {L} hidden layers")
    axes[1].set_title(f"‖dJ/dW[k]‖, {L} hidden layers")
    axes[2].set_title("first layer ‖dJ/dW[1]‖ against depth")
    for ax in axes[:2]:
        ax.set_xlabel("layer k")
    axes[2].set_xlabel("hidden layers L")
    for ax in axes:
        ax.legend(fontsize="small")
    save(fig, path)


def plot_lemmas(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the figure of claim e (:func:`fastbp.lecture.lemmas`) to ``path``.

    Parameters
    ----------
    data : dict
        What :func:`fastbp.lecture.lemmas` returned (or its JSON file, loaded).
    path : str or os.PathLike
        The image file; its extension sets the format.

    Raises
    ------
    ImportError
        Without matplotlib (the ``plot`` extra).
    """
    fig, axes = new_figure(1, size=(9.0, 3.8))
    ax = axes[0]
    names = [row["equation"] for row in data["tables"]["sigmoid"]]
    pos = np.arange(len(names))
    for i, act in enumerate(data["tables"]):
        errs = [max(row["fd_error"], 1e-17) for row in data["tables"][act]]
        ax.bar(pos + (i - 1) * 0.27, errs, width=0.27, label=f"{act}: vs finite differences")
    ax.axhline(LEMMA_FD_RTOL, color="grey", ls=":", label=f"tolerance {LEMMA_FD_RTOL:g}")
    ax.set_yscale("log")
    ax.set_xticks(pos, names, rotation=20, ha="right", fontsize="small")
    ax.set_ylabel("relative error")
    ax.set_title("two-layer lemmas against central differences (h = 1e-6)")
    ax.legend(fontsize="small")
    save(fig, path)


def plot_sgd(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the figure of claim f (:func:`fastbp.lecture.sgd`) to ``path``.

    Parameters
    ----------
    data : dict
        What :func:`fastbp.lecture.sgd` returned (or its JSON file, loaded).
    path : str or os.PathLike
        The image file; its extension sets the format.

    Raises
    ------
    ImportError
        Without matplotlib (the ``plot`` extra).
    """
    fig, axes = new_figure(2, size=(5.0, 3.8))
    for r in data["runs"].values():
        epochs = list(range(1, len(r["loss"]) + 1))
        if r["diverged_epoch"] is None:
            axes[0].semilogy(epochs, r["loss"], label=f"α = {r['lr']:g}")
            continue
        # log10 on a linear axis: losses near 1e300 overflow a log axis's margins.
        ax = axes[1]
        ax.plot(epochs, np.log10(r["loss"]), "o-", color="C3", label=f"α = {r['lr']:g}")
        top = float(np.log10(max(r["loss"]))) if r["loss"] else 0.0
        ax.plot([r["diverged_epoch"]], [top], "x", ms=12, mew=3, color="C3",
                label=f"non-finite in epoch {r['diverged_epoch']}: stopped")  # fmt: skip
        if r["diverged_epoch"] > 1 and r["restored_loss"] is not None:
            good = r["diverged_epoch"] - 1
            ax.plot([good], [np.log10(r["restored_loss"])], "s", mfc="none", ms=10, color="k",
                    label=f"restored: epoch {good}'s parameters")  # fmt: skip
        ax.set_title(f"α = {r['lr']:g}: the loss explodes, then overflows")
        ax.set_xlabel("epoch")
        ax.set_ylabel("log₁₀ training loss")
        ax.legend(fontsize="small")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("training loss (mean over the epoch's steps)")
    axes[0].set_title(f"per-example SGD, diabetes, {'-'.join(map(str, data['widths']))} tanh")
    axes[0].legend(fontsize="small")
    save(fig, path)
