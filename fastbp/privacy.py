"""Differentially private training (DP-SGD): the settings, the noise, and the privacy spent.

``Network.fit(..., max_grad_norm=C, noise_multiplier=σ)`` (and ``partial_fit``, and the
estimators' parameters of the same names) trains by DP-SGD with Opacus's semantics: each
example's gradient is clipped to norm C with the factor min(1, C / (‖g_i‖ + 10⁻⁶)), the clipped
gradients of a batch are summed, Gaussian noise of standard deviation σ C is added to the sum,
and the result is divided by Opacus's expected batch size (:func:`opacus_rate`: the batch size
when it divides the number of rows; the same divisor for a short last batch).  The kernels are
in :mod:`fastbp.dp_kernels`.

The privacy spent is Opacus's Rényi-DP accountant (:func:`epsilon`), an optional extra
(``pip install "fastbp[privacy]"``), at Opacus's sampling rate for a data loader of fixed
batches, q = 1 / (number of batches) (B/N when B divides N).  It assumes Poisson sampling;
fastbp, as Opacus with ``poisson_sampling=False`` and most DP-SGD code in practice, draws
shuffled batches of fixed size B, for which the same number is the customary approximation, not
a proof.  For a real guarantee the noise must also be secret:
pass ``seed=None`` (fresh entropy from the operating system) and keep the trained parameters'
seed private; a fixed seed is for reproducible experiments.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from fastbp.validate import positive_float

#: The spawn key that separates the noise stream from the shuffling stream of the same seed.
NOISE_STREAM = 0x44505347  # "DPSG"

#: Standard normals drawn per compiled call are capped at this many (one row per batch).
NOISE_BLOCK_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class DPSettings:
    """Clipping norm C (``max_grad_norm``) and noise multiplier σ of a DP-SGD run.

    Parameters
    ----------
    max_grad_norm : float
        C > 0: each example's gradient is scaled to norm at most C.
    noise_multiplier : float
        σ ≥ 0: the noise added to a batch's sum of clipped gradients has standard deviation σ C.
    """

    max_grad_norm: float
    noise_multiplier: float

    @property
    def noise_std(self) -> float:
        """σ C, the standard deviation of the noise on the sum of clipped gradients."""
        return self.noise_multiplier * self.max_grad_norm


def opacus_rate(n_rows: int, batch_size: int) -> tuple[float, int]:
    """Opacus's sampling rate and expected batch size for ``n_rows`` in batches of ``batch_size``.

    ``PrivacyEngine.make_private`` sets q = 1 / len(data_loader) and D = int(N q); every step's
    clipped sum is divided by D.

    Parameters
    ----------
    n_rows, batch_size : int
        N and B.

    Returns
    -------
    tuple of (float, int)
        q and D (D = B when B divides N).
    """
    q = 1 / -(-n_rows // batch_size)
    return q, max(1, int(n_rows * q))


def check_privacy(max_grad_norm: object, noise_multiplier: object) -> DPSettings | None:
    """The DP-SGD settings of a fit, checked; None when ``max_grad_norm`` is None (no DP).

    Parameters
    ----------
    max_grad_norm : float or None
        C > 0, or None for ordinary training.
    noise_multiplier : float
        σ ≥ 0; must be 0 without ``max_grad_norm`` (noise without clipping has no meaning here).

    Returns
    -------
    DPSettings or None

    Raises
    ------
    TypeError, ValueError
        A setting of the wrong type or range.
    """
    sigma = positive_float(noise_multiplier, "noise_multiplier", allow_zero=True)
    if max_grad_norm is None:
        if sigma != 0.0:
            raise ValueError(
                f"noise_multiplier={sigma} needs max_grad_norm (the clipping norm C): the noise's "
                f"standard deviation is noise_multiplier * max_grad_norm"
            )
        return None
    return DPSettings(positive_float(max_grad_norm, "max_grad_norm"), sigma)


def noise_generator(seed: int | None, *keys: int) -> np.random.Generator:
    """The generator of a DP fit's noise: its own stream of ``seed`` (fresh entropy for None).

    Parameters
    ----------
    seed : int or None
        The fit's seed.
    *keys : int
        More entropy mixed with the seed (the estimators' ``partial_fit`` passes the number of
        samples seen, so that calls with one ``random_state`` do not repeat their noise).

    Returns
    -------
    numpy.random.Generator
    """
    entropy = seed if seed is None or not keys else [seed, *keys]
    # SFC64: NumPy's fastest bit generator here (Gaussians 8 ns each against PCG64's 9.9); the
    # noise is the bound of a noised DP epoch (the performance notes in the second-order guide).
    sfc = np.random.SFC64(np.random.SeedSequence(entropy, spawn_key=(NOISE_STREAM,)))
    return np.random.Generator(sfc)


def noise_rows(settings: DPSettings, rng: np.random.Generator, batches: int, n_params: int,
               dtype: np.dtype) -> np.ndarray:  # fmt: skip
    """One row of ``n_params`` standard normals per batch, in the network's dtype.

    With σ = 0 no noise is drawn (a (0, n_params) array), so such a fit draws nothing.

    Parameters
    ----------
    settings : DPSettings
        The fit's DP settings.
    rng : numpy.random.Generator
        From :func:`noise_generator`.
    batches : int
        Batches in the compiled call.
    n_params : int
        Parameters of the network.
    dtype : numpy.dtype
        float32 or float64.

    Returns
    -------
    numpy.ndarray
    """
    if settings.noise_multiplier == 0.0:
        return np.empty((0, n_params), dtype=dtype)
    return rng.standard_normal((batches, n_params), dtype=dtype)


def batches_per_call(n_params: int, chunk_batches: int) -> int:
    """Batches per compiled DP call: at most ``chunk_batches``, and the noise block (one row of
    ``n_params`` normals per batch, whatever its size) bounded by :data:`NOISE_BLOCK_ELEMENTS`.

    Parameters
    ----------
    n_params, chunk_batches : int
        Parameters, and the batches of an ordinary chunk.

    Returns
    -------
    int
        At least 1.
    """
    return max(1, min(chunk_batches, NOISE_BLOCK_ELEMENTS // max(n_params, 1)))


def dp_call(net, X, Y, part, batch_size: int, Xb, Yb, opt, lr: float, l2: float,
            info: np.ndarray, settings: DPSettings, divisor: float, noise: np.ndarray,
            norms: np.ndarray) -> None:  # fmt: skip
    """One compiled DP-SGD call (:func:`fastbp.dp_kernels.dp_minibatch_epoch`) on ``net``'s
    buffers, over the rows ``part`` of X, Y in batches of ``batch_size``.

    Parameters
    ----------
    net : fastbp.lowered.LoweredNetwork
        The network being trained (parameters, gradient, workspaces, plan).
    X, Y, part, batch_size, Xb, Yb
        The rows, their order, rows per batch and the gather buffers.
    opt : fastbp.optim.Optimizer
        The optimizer and its state.
    lr, l2 : float
        Learning rate and L2 strength (added after the noise).
    info : numpy.ndarray
        float64[4], as the epoch kernels write it (info[3]: clipped examples).
    settings : DPSettings
        C and σ.
    divisor : float
        Opacus's expected batch size (:func:`opacus_rate`).
    noise : numpy.ndarray
        One row of standard normals per batch (no rows for σ = 0).
    norms : numpy.ndarray
        float64 scratch of at least ``batch_size``.
    """
    from fastbp.dp_kernels import dp_minibatch_epoch

    p, ws, s = net.plan, net.ws, settings
    dp_minibatch_epoch(
        X, Y, part, batch_size, net.params, p.widths, p.acts, p.out_kind, p.loss_param, p.w_off,
        p.b_off, p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA, net.grad, p.weight_mask, float(l2),
        net.blas_min_rows, opt.code, float(lr), opt.momentum, opt.beta1, opt.beta2, opt.eps, opt.s1,
        opt.s2, opt.step, info, s.max_grad_norm, s.noise_std, float(divisor), noise, norms,
    )  # fmt: skip


def call_plan(per_epoch: list[int], epochs: int):
    """The batches of every compiled DP call of a fit, in order.

    An epoch's chunks (``per_epoch``: whole chunks, then the rest) are one call each, but the
    fit's first chunk is cut into calls of 1, 2, 4, ... batches, so that the helper thread can
    draw the next call's noise while the first calls run.

    Parameters
    ----------
    per_epoch : list of int
        The batches of each chunk of an epoch.
    epochs : int
        Epochs of the fit.

    Yields
    ------
    int
        Batches of the next call.
    """
    first = True
    for _ in range(epochs):
        for batches in per_epoch:
            if not first:
                yield batches
                continue
            first, size = False, 1
            while batches > 0:
                yield min(size, batches)
                batches -= min(size, batches)
                size *= 2


class DPRun:
    """Runs a DP fit's chunks through :func:`fastbp.dp_kernels.dp_minibatch_epoch`.

    Holds the settings, the noise generator, the norms scratch and the step count; ``record``
    writes them into the fit's :class:`~fastbp.history.History` (``history.privacy``).

    With σ > 0 the noise of the next compiled call is drawn by a helper thread while the current
    one runs (NumPy's generator releases the GIL while it fills an array, and the kernel runs
    without it): on W2 at batch 128 drawing the normals takes about as long as the clipped steps
    themselves.  The calls' sizes are known in advance (:func:`call_plan`), so each block has
    exactly the rows of its call, drawn in order from one generator in one thread: the noise is
    the same run after run, and the same as one draw of every batch's row in turn.  Nothing is
    drawn past the fit's last call.  :meth:`close` stops the thread.

    Parameters
    ----------
    settings : DPSettings
        C and σ.
    net : fastbp.lowered.LoweredNetwork
        The network being trained.
    batch_size : int
        Rows per batch.
    chunk_batches : int
        The batches of an ordinary chunk (the call size is bounded further by the noise).
    seed : int or None
        The fit's seed (:func:`noise_generator`).
    n_train : int
        Training rows (the sampling rate and divisor are :func:`opacus_rate`'s).
    epochs : int
        Epochs of the fit (no noise is drawn beyond them).
    """

    def __init__(self, settings: DPSettings, net, batch_size: int, chunk_batches: int,
                 seed: int | None, n_train: int, epochs: int) -> None:  # fmt: skip
        self.settings, self.net, self.batch_size = settings, net, batch_size
        self.batches = batches_per_call(net.plan.n_params, chunk_batches)
        self.rng = noise_generator(seed)
        self.norms = np.zeros(batch_size, dtype=np.float64)
        self.sample_rate, self.divisor = opacus_rate(n_train, batch_size)
        self.steps = 0
        self.clipped = 0
        total = -(-n_train // batch_size)
        per_epoch = [self.batches] * (total // self.batches)
        if total % self.batches:
            per_epoch.append(total % self.batches)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[np.ndarray] | None = None
        if settings.noise_multiplier != 0.0:
            # Two walks along the same plan: the drawing thread's, and the calls'.
            self._draws, self._calls = call_plan(per_epoch, epochs), call_plan(per_epoch, epochs)
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastbp-dp-noise")
            self._submit()

    def _submit(self) -> None:
        """Start drawing the next planned call's block (nothing after the last call)."""
        assert self._pool is not None
        rows = next(self._draws, None)
        net = self.net
        self._pending = None if rows is None else self._pool.submit(
            noise_rows, self.settings, self.rng, rows, net.plan.n_params, net.spec.np_dtype
        )  # fmt: skip

    def close(self) -> None:
        """Stop the noise thread (the fit's end, or its failure)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = self._pending = None

    def __call__(self, X, Y, part, Xb, Yb, opt, lr: float, l2: float, info: np.ndarray) -> None:
        """Train on the rows ``part`` of X, Y (whole batches, the last one maybe short), in the
        planned compiled calls."""
        net, bs = self.net, self.batch_size
        if self._pool is None:  # σ = 0: no noise, one call
            self._run(
                X,
                Y,
                part,
                Xb,
                Yb,
                opt,
                lr,
                l2,
                info,
                noise_rows(self.settings, self.rng, 0, net.plan.n_params, net.spec.np_dtype),
            )
            return  # fmt: skip
        lo = 0
        while lo < part.shape[0] and info[2] == 0.0:
            rows = next(self._calls, None)
            if self._pending is None or rows is None:
                raise RuntimeError("DP-SGD's noise plan ran out before the fit's rows")
            noise = self._pending.result()
            self._submit()
            if noise.shape[0] != rows:  # the kernel reads one row per batch: never past it
                raise RuntimeError("DP-SGD's noise block is out of step with its call")
            self._run(X, Y, part[lo : lo + rows * bs], Xb, Yb, opt, lr, l2, info, noise)
            lo += rows * bs

    def _run(self, X, Y, part, Xb, Yb, opt, lr, l2, info, noise) -> None:
        before = info[1]
        dp_call(self.net, X, Y, part, self.batch_size, Xb, Yb, opt, lr, l2, info, self.settings,
                self.divisor, noise, self.norms)  # fmt: skip
        self.steps += -(-int(info[1] - before) // self.batch_size)

    def record(self, history, info: np.ndarray | None = None) -> None:
        """Write the run's settings, steps and clipped count so far into ``history.privacy``."""
        if info is not None:
            self.clipped += int(info[3])
        history.privacy = {
            "max_grad_norm": self.settings.max_grad_norm,
            "noise_multiplier": self.settings.noise_multiplier,
            "sample_rate": self.sample_rate,
            "steps": self.steps,
            "clipped": self.clipped,
        }


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """The ε of (ε, δ)-DP spent by ``steps`` DP-SGD steps, by Opacus's Rényi-DP accountant.

    Parameters
    ----------
    noise_multiplier : float
        σ > 0.
    sample_rate : float
        q in (0, 1]: of a fit, :func:`opacus_rate`'s (B / N when B divides N).
    steps : int
        Optimizer steps taken.
    delta : float
        δ in (0, 1), commonly below 1/N.

    Returns
    -------
    float
        ε (``inf`` for σ = 0: no noise, no privacy).

    Raises
    ------
    ImportError
        Opacus is not installed (``pip install "fastbp[privacy]"``).
    ValueError
        A setting out of range.
    """
    sigma = positive_float(noise_multiplier, "noise_multiplier", allow_zero=True)
    q = positive_float(sample_rate, "sample_rate")
    d = positive_float(delta, "delta")
    if q > 1 or d >= 1:
        raise ValueError(f"need 0 < sample_rate <= 1 and 0 < delta < 1, got {q} and {d}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if steps == 0:
        return 0.0
    if sigma == 0.0:
        return math.inf
    try:
        from opacus.accountants import RDPAccountant
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'privacy accounting uses Opacus\'s RDP accountant: pip install "fastbp[privacy]"'
        ) from exc
    accountant = RDPAccountant()
    accountant.history = [(sigma, q, int(steps))]
    return float(accountant.get_epsilon(delta=d))


def privacy_spent(history, delta: float) -> float:
    """The ε a DP fit spent, from its :class:`~fastbp.history.History` (see :func:`epsilon`).

    Parameters
    ----------
    history : fastbp.History
        Of a fit with ``max_grad_norm`` set (its ``privacy`` record).
    delta : float
        δ in (0, 1).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        The history is not of a DP fit.
    """
    record = getattr(history, "privacy", None)
    if not record:
        raise ValueError("this history is not of a DP-SGD fit (fit(..., max_grad_norm=C))")
    try:
        sigma, q, steps = record["noise_multiplier"], record["sample_rate"], record["steps"]
    except (KeyError, TypeError):
        raise ValueError(f"history.privacy lacks noise_multiplier, sample_rate or steps: "
                         f"{record!r:.200}") from None  # fmt: skip
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)
    return epsilon(sigma, q, steps, delta)
