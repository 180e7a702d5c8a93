"""Optimizers and learning-rate schedules: small classes holding settings and state.

The update formulas themselves live in the stateless kernel :func:`fastbp.epochs.apply_update`;
these classes only own the state arrays (velocity, Adam moments, step count) between calls, so
that training can be saved and resumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fastbp import epochs
from fastbp.validate import positive_float, positive_int


def check_toolbox(clip_norm: object, warmup: object) -> tuple[float, int]:
    """``clip_norm`` (None or a float > 0) and ``warmup`` (an int ≥ 0), checked.

    Parameters
    ----------
    clip_norm : float or None
        C of the global gradient-norm clipping; None is off.
    warmup : int
        Steps of the linear warm-up; 0 is off.

    Returns
    -------
    tuple of (float, int)
        C (0.0 when off) and W, as the kernels of :mod:`fastbp.toolbox_kernels` take them.

    Raises
    ------
    TypeError, ValueError
        A setting of the wrong type or range.
    """
    clip = 0.0 if clip_norm is None else positive_float(clip_norm, "clip_norm")
    return clip, positive_int(warmup, "warmup", minimum=0)


OPTIMIZERS = {
    "sgd": epochs.SGD,
    "momentum": epochs.MOMENTUM,
    "nesterov": epochs.NESTEROV,
    "adam": epochs.ADAM,
    "adamw": epochs.ADAMW,
}
#: The optimizers that keep Adam's two moments.
ADAM_FAMILY = ("adam", "adamw")
#: ``weight_decay`` when it is not given: torch.optim.AdamW's default for ``adamw``, else none.
DEFAULT_WEIGHT_DECAY = {"adamw": 0.01}
SCHEDULES = ("constant", "invscaling", "step", "cosine")


@dataclass
class Optimizer:
    """Optimizer settings plus state.

    ``name`` is one of ``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw``; ``momentum`` is
    μ for the momentum methods; ``beta1``, ``beta2``, ``eps`` are Adam's (Kingma & Ba defaults).
    State (``s1``: velocity or first moment, ``s2``: second moment, ``step``: number of updates)
    is allocated by :meth:`reset` with the parameter dtype.

    ``weight_decay`` λ_wd follows PyTorch, on the weights only (biases are never decayed, as
    fastbp's ``l2``; the torch equivalent gives the biases a parameter group with
    ``weight_decay=0``):

    * ``adamw``: decoupled (torch.optim.AdamW, Loshchilov & Hutter), θ ← θ (1 − α λ_wd) on the
      weights, then the Adam step with the undecayed gradient.  Default 0.01, torch's, so that
      ``optimizer="adamw"`` is torch.optim.AdamW out of the box (with 0 it is Adam).
    * ``sgd``, ``momentum``, ``nesterov``, ``adam``: coupled, as torch.optim.SGD's and Adam's
      ``weight_decay``: g ← g + λ_wd W-mask ⊙ θ before the step (after ``clip_norm``; fastbp's
      ``l2`` is part of the loss gradient, so it is added before clipping).  Default 0.

    Parameters
    ----------
    name : {"sgd", "momentum", "nesterov", "adam", "adamw"}
        The update rule.
    momentum : float
        μ in [0, 1) for ``momentum`` and ``nesterov``.
    beta1, beta2 : float
        Adam's decay rates of the first and second moments.
    eps : float
        Adam's ε, added to √v̂.
    weight_decay : float or None
        λ_wd ≥ 0 (see above); None is the name's default (0.01 for ``adamw``, else 0).
    s1, s2, step : numpy.ndarray
        The state; leave them to :meth:`reset`.
    """

    name: str = "sgd"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float | None = None
    s1: np.ndarray = field(default_factory=lambda: np.zeros(1), repr=False)
    s2: np.ndarray = field(default_factory=lambda: np.zeros(1), repr=False)
    step: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64), repr=False)

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optimizer = {self.name!r} is unknown; allowed: {list(OPTIMIZERS)}")
        self.momentum = positive_float(self.momentum, "momentum", allow_zero=True)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        for attr in ("beta1", "beta2"):
            v = positive_float(getattr(self, attr), attr, allow_zero=True)
            if v >= 1:
                raise ValueError(f"{attr} must be in [0, 1), got {v}")
            setattr(self, attr, v)
        self.eps = positive_float(self.eps, "eps")
        if self.weight_decay is None:
            self.weight_decay = DEFAULT_WEIGHT_DECAY.get(self.name, 0.0)
        self.weight_decay = positive_float(self.weight_decay, "weight_decay", allow_zero=True)

    @property
    def plain(self) -> bool:
        """Whether the step is one of the original four (no weight decay, not ``adamw``): the
        kernels that know only ``l2`` run it; else the toolbox kernels do
        (:mod:`fastbp.toolbox_kernels`)."""
        return self.weight_decay == 0.0 and self.name != "adamw"

    def require_plain(self, where: str) -> None:
        """Refuse ``adamw`` and weight decay where only the original four steps are compiled.

        Parameters
        ----------
        where : str
            The caller, for the message.

        Raises
        ------
        ValueError
            If the optimizer is not :attr:`plain`.
        """
        if not self.plain:
            raise ValueError(
                f"{where} does not take optimizer='adamw' or weight_decay yet (got "
                f"{self.name!r}, weight_decay={self.weight_decay}); train single networks with "
                f"Network.fit for them"
            )

    @property
    def code(self) -> int:
        """The integer code the epoch kernels switch on."""
        return OPTIMIZERS[self.name]

    def reset(self, n_params: int, dtype: np.dtype) -> None:
        """Fresh state for a parameter buffer of ``n_params`` entries.

        Parameters
        ----------
        n_params : int
            The parameter count.
        dtype : numpy.dtype
            The parameters' dtype.
        """
        size = n_params if self.name != "sgd" else 1
        self.s1 = np.zeros(size, dtype=dtype)
        self.s2 = np.zeros(n_params if self.name in ADAM_FAMILY else 1, dtype=dtype)
        self.step = np.zeros(1, dtype=np.int64)

    def compatible(self, n_params: int, dtype: np.dtype) -> bool:
        """Whether the current state fits a buffer of that size and dtype.

        Parameters
        ----------
        n_params : int
            The parameter count.
        dtype : numpy.dtype
            The parameters' dtype.

        Returns
        -------
        bool
        """
        want1 = n_params if self.name != "sgd" else 1
        want2 = n_params if self.name in ADAM_FAMILY else 1
        return self.s1.shape == (want1,) and self.s2.shape == (want2,) and self.s1.dtype == dtype

    def settings(self) -> dict:
        """JSON-ready settings (no state).

        Returns
        -------
        dict
            ``name``, ``momentum``, ``beta1``, ``beta2`` and ``eps``; ``weight_decay`` too for
            ``adamw`` or when it is not 0 (else the settings, and model files, are those of
            fastbp before weight decay, which older versions still read).
        """
        out: dict = {
            "name": self.name,
            "momentum": self.momentum,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
        }
        if self.weight_decay or self.name == "adamw":
            out["weight_decay"] = self.weight_decay
        return out

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The state arrays, by name (views, not copies).

        Returns
        -------
        dict of str to numpy.ndarray
            ``s1`` (velocity or first moment), ``s2`` (second moment) and ``step``.
        """
        return {"s1": self.s1, "s2": self.s2, "step": self.step}

    @classmethod
    def from_record(
        cls, settings: dict, state: dict[str, np.ndarray] | None, n_params: int, dtype: np.dtype
    ) -> Optimizer:
        """The optimizer of a model file: its :meth:`settings`, and its state or a fresh one.

        Parameters
        ----------
        settings : dict
            As written by :meth:`settings`.
        state : dict of str to numpy.ndarray, or None
            As written by :meth:`state_arrays`; None starts from zero.
        n_params : int
            The network's parameter count.
        dtype : numpy.dtype
            The network's dtype.

        Returns
        -------
        Optimizer

        Raises
        ------
        ValueError
            For unknown keys, a missing name, bad settings or a state that does not fit.
        """
        allowed = {"name", "momentum", "beta1", "beta2", "eps", "weight_decay"}
        if set(settings) - allowed or not isinstance(settings.get("name"), str):
            raise ValueError(
                f"it must hold a 'name' and only the settings {sorted(allowed)}, "
                f"got {settings!r:.120}"
            )
        try:
            opt = cls(**settings)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        if state is not None:
            opt.load_state(state, n_params, dtype)
        else:
            opt.reset(n_params, dtype)
        return opt

    def load_state(self, arrays: dict[str, np.ndarray], n_params: int, dtype: np.dtype) -> None:
        """Restore state saved by :meth:`state_arrays`, checking shapes and dtype.

        Parameters
        ----------
        arrays : dict of str to numpy.ndarray
            ``s1``, ``s2`` and ``step``.
        n_params : int
            The network's parameter count.
        dtype : numpy.dtype
            The network's dtype.

        Raises
        ------
        ValueError
            If an array is missing, has the wrong shape or is not finite.
        """
        try:
            s1, s2, step = arrays["s1"], arrays["s2"], arrays["step"]
        except KeyError as exc:
            raise ValueError(f"optimizer state is missing {exc.args[0]!r}") from None
        self.s1, self.s2 = np.array(s1, dtype=dtype), np.array(s2, dtype=dtype)
        self.step = np.array(step, dtype=np.int64).reshape(1)
        if not self.compatible(n_params, np.dtype(dtype)) or not (
            np.isfinite(self.s1).all() and np.isfinite(self.s2).all()
        ):
            raise ValueError(f"optimizer state does not fit a {self.name!r} optimizer here")


@dataclass(frozen=True)
class Schedule:
    """Learning rate per epoch e = 0, 1, ... (constant within an epoch).

    * ``constant``:   α_e = α
    * ``invscaling``: α_e = α / (e + 1)^power_t
    * ``step``:       α_e = α · gamma^⌊e / step_size⌋
    * ``cosine``:     α_e = α_min + ½ (α − α_min)(1 + cos(π e / E)), E = number of epochs of the fit

    Parameters
    ----------
    name : {"constant", "invscaling", "step", "cosine"}
        The schedule.
    power_t : float
        The exponent of ``invscaling``.
    step_size : int
        Epochs between the steps of ``step``.
    gamma : float
        The factor of ``step``.
    lr_min : float
        The final rate α_min of ``cosine``.
    """

    name: str = "constant"
    power_t: float = 0.5
    step_size: int = 10
    gamma: float = 0.5
    lr_min: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"schedule = {self.name!r} is unknown; allowed: {list(SCHEDULES)}")
        positive_float(self.power_t, "power_t", allow_zero=True)
        positive_int(self.step_size, "step_size")
        positive_float(self.gamma, "gamma")
        positive_float(self.lr_min, "lr_min", allow_zero=True)

    def rate(self, lr: float, epoch: int, epochs: int) -> float:
        """α for epoch ``epoch`` (0-based) of a fit lasting ``epochs`` epochs.

        Parameters
        ----------
        lr : float
            The base learning rate α.
        epoch : int
            The epoch, from 0.
        epochs : int
            The number of epochs of the fit (for ``cosine``).

        Returns
        -------
        float
            The epoch's learning rate.
        """
        if self.name == "invscaling":
            return lr / (epoch + 1) ** self.power_t
        if self.name == "step":
            return lr * self.gamma ** (epoch // self.step_size)
        if self.name == "cosine":
            return self.lr_min + 0.5 * (lr - self.lr_min) * (
                1 + math.cos(math.pi * epoch / max(epochs, 1))
            )
        return lr
