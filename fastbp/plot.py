"""Plots of training histories (optional: needs matplotlib, ``pip install "fastbp[plot]"``).

``import fastbp`` never imports matplotlib; this module imports it inside its functions, and
draws on a bare :class:`matplotlib.figure.Figure`, so it never touches pyplot's global state or
the interactive backend.  Display a returned figure in a notebook by evaluating it, or save it
with ``fig.savefig(path)``.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastbp.train import History

INSTALL_HINT = (
    'fastbp.plot needs matplotlib: pip install "fastbp[plot]" (or pip install matplotlib)'
)


def require_matplotlib() -> type:
    """The :class:`matplotlib.figure.Figure` class; a clear ImportError if matplotlib is missing.

    Returns
    -------
    type
        ``matplotlib.figure.Figure``.

    Raises
    ------
    ImportError
        Naming the ``plot`` extra, if matplotlib is not installed.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return Figure


def new_figure(
    ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (4.6, 3.4)
) -> tuple[Any, list[Any]]:
    """A Figure with an (nrows, ncols) grid of axes, ``size`` inches per panel.

    Parameters
    ----------
    ncols : int
        Panels per row.
    nrows : int
        Rows of panels.
    size : tuple of float
        (width, height) of one panel in inches.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure (not registered with pyplot).
    axes : list of matplotlib.axes.Axes
        The panels, row by row (always a flat list).

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    Figure = require_matplotlib()
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    return fig, axes


def save(fig: Any, path: str | os.PathLike[str], dpi: int = 80) -> None:
    """Write ``fig`` to ``path`` (format from the extension; PNG at ``dpi``, small for the docs).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or os.PathLike
        Where to write it.
    dpi : int
        Resolution of raster formats.
    """
    fig.savefig(os.fspath(path), dpi=dpi)


def _field(history, name: str):
    return history.get(name, []) if isinstance(history, dict) else getattr(history, name, [])


def plot_history(
    history: History | dict[str, Any], path: str | os.PathLike[str] | None = None
) -> Any:
    """Loss curves, and per-layer gradient norms when recorded; returns the Figure.

    ``history`` is a :class:`fastbp.train.History` (or its ``to_dict()``, e.g. from a saved
    model's header).  The first panel shows the training loss (mean over each epoch's steps) and
    the validation loss when there is one, on a log scale.  When the history was recorded with
    ``fit(..., diagnostics=True)``, a second panel shows ‖dJ/dW[k]‖ per layer k and epoch, and a
    third the fraction of dead ReLU units or saturated sigmoid/tanh entries per hidden layer
    (see :mod:`fastbp.diagnostics`).  With ``path`` the figure is also saved there.

    Parameters
    ----------
    history : fastbp.History or dict
        What ``fit`` returned, or its ``to_dict()``.
    path : str or os.PathLike, optional
        If given, save the figure there as well.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    epochs = list(_field(history, "epoch"))
    loss = list(_field(history, "loss"))
    val_loss = list(_field(history, "val_loss"))
    diags = list(_field(history, "diagnostics"))
    n_panels = 1 + (2 if diags else 0)
    fig, axes = new_figure(n_panels)

    ax = axes[0]
    ax.plot(epochs, loss, marker="." if len(epochs) < 30 else None, label="training loss")
    if any(v is not None and math.isfinite(v) for v in val_loss):
        ax.plot(epochs, val_loss, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss J")
    if loss and all(v is not None and math.isfinite(v) and v > 0 for v in loss + val_loss):
        ax.set_yscale("log")
    title = "training history"
    for flag in ("diverged", "interrupted", "stopped_early"):
        if _field(history, flag):
            title += f" ({flag.replace('_', ' ')})"
    ax.set_title(title)
    ax.legend(fontsize="small")

    if diags:
        from matplotlib import colormaps

        d_epochs = [d["epoch"] for d in diags]
        r = len(diags[0]["grad_W_norm"])
        colour = [colormaps["viridis"](0.9 * k / max(r - 1, 1)) for k in range(r)]
        ax = axes[1]
        for k in range(r):
            norms = [d["grad_W_norm"][k] for d in diags]
            ax.plot(d_epochs, norms, color=colour[k], label=f"‖dJ/dW[{k + 1}]‖")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("gradient norm (≤ 512 training rows)")
        ax.set_title("per-layer gradient norms")
        ax.legend(fontsize="x-small", ncol=2 if r > 6 else 1)

        ax = axes[2]
        for k in range(r - 1):
            for key, what in (("dead_fraction", "dead"), ("saturated_fraction", "saturated")):
                values = [d[key][k] for d in diags]
                if any(v is not None and math.isfinite(v) for v in values):
                    ax.plot(d_epochs, values, color=colour[k], label=f"layer {k + 1} {what}")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("epoch")
        ax.set_ylabel("fraction")
        ax.set_title("dead ReLU units / saturated entries")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
        else:
            ax.text(0.5, 0.5, "no ReLU, sigmoid or tanh layers", ha="center",
                    transform=ax.transAxes)  # fmt: skip
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if path is not None:
        save(fig, path)
    return fig
