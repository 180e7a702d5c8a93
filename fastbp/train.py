"""Training driver: a Python loop over epochs around compiled epoch kernels.

Per epoch: one compiled call per chunk of examples (one chunk unless the epoch is very long),
then the checks that need Python: non-finite parameters, validation loss, early stopping, the
progress bar.  Faults never leave broken parameters behind:

* divergence (a non-finite loss or parameter) restores the parameters and optimizer state of the
  end of the last good epoch and raises :class:`FitDivergedError`;
* Ctrl-C (KeyboardInterrupt) restores the same snapshot and returns the history so far with
  ``history.interrupted = True``.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from fastbp import epochs as ek
from fastbp.compiling import COMPILING_MESSAGE, CompileWatch
from fastbp.diagnostics import diagnostic_rows, diagnostics_from_trace, warn_gradient_ratio
from fastbp.dropout import DropoutRun, check_dropout
from fastbp.history import FitDivergedError, History
from fastbp.interrupt import ctrl_c_deferred
from fastbp.losses import RECORDS
from fastbp.lowered import LoweredNetwork, NetworkLike, as_lowered
from fastbp.optim import Optimizer, Schedule, check_toolbox
from fastbp.privacy import DPRun, DPSettings, check_privacy
from fastbp.progress import Progress
from fastbp.row_kernels import settle, snapshot
from fastbp.rows import LazyRows
from fastbp.specialise import sgd_example_epoch_dispatch
from fastbp.toolbox_kernels import minibatch_epoch_toolbox, toolbox_step
from fastbp.validate import (
    as_features,
    as_sample_weight,
    as_targets,
    check_allocation,
    check_seed,
    positive_float,
    positive_int,
)

#: Maximum examples per compiled call; Ctrl-C is noticed between calls.
CHUNK_EXAMPLES = 1 << 16

#: Data not held in memory (:class:`fastbp.rows.LazyRows`, e.g. a memory-mapped .npy file) is
#: gathered into buffers of about this many bytes per compiled call.
LAZY_CHUNK_BYTES = 32 * 2**20


def score(loss: str, Y_pred: np.ndarray, Y_true: np.ndarray) -> float:
    """R² (averaged over outputs) for the regression losses; accuracy for classification.

    ``Y_pred`` is the network output (probabilities for classification); ``Y_true`` is the dense
    (n, nr) target.  For ``logistic`` with several outputs, an example counts as correct only if
    every output is (subset accuracy, as scikit-learn's ``accuracy_score``).
    """
    record = RECORDS[loss]
    if record.task == "regression":
        ss_res = ((Y_true - Y_pred) ** 2).sum(axis=0, dtype=np.float64)
        ss_tot = ((Y_true - Y_true.mean(axis=0)) ** 2).sum(axis=0, dtype=np.float64)
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 0.0)
        return float(r2.mean())
    if record.output == "softmax":
        return float(np.mean(Y_pred.argmax(axis=1) == Y_true.argmax(axis=1)))
    return float(np.mean(np.all((Y_pred >= 0.5) == (Y_true >= 0.5), axis=1)))


def check_split_and_schedule(
    validation_fraction: object, early_stopping: bool, schedule: object
) -> tuple[float, Schedule]:
    """``fit``'s validation fraction (in [0, 1); > 0 with early stopping) and schedule (a name
    or a :class:`~fastbp.optim.Schedule`), checked; shared with :meth:`fastbp.Ensemble.fit`.

    Parameters
    ----------
    validation_fraction : float
        The held-out fraction.
    early_stopping : bool
        Whether early stopping is on (checked already).
    schedule : str or Schedule
        The learning-rate schedule.

    Returns
    -------
    tuple of (float, Schedule)
    """
    fraction = positive_float(validation_fraction, "validation_fraction", True)
    if fraction >= 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}")
    if early_stopping and fraction == 0:
        raise ValueError("early_stopping=True needs validation_fraction > 0 (e.g. 0.1)")
    if isinstance(schedule, str):
        return fraction, Schedule(schedule)
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a name or a fastbp.optim.Schedule, got {schedule!r}")
    return fraction, schedule


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def fit(
    net: NetworkLike,
    X,
    Y,
    epochs: int = 20,
    batch_size: int = 1,
    optimizer: str | Optimizer = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    l2: float = 0.0,
    schedule: str | Schedule = "constant",
    shuffle: bool = True,
    validation_fraction: float = 0.0,
    early_stopping: bool = False,
    patience: int = 5,
    min_delta: float = 0.0,
    seed: int | None = 0,
    progress: bool = True,
    warm_start: bool = False,
    diagnostics: bool = False,
    sample_weight=None,
    max_grad_norm: float | None = None,
    noise_multiplier: float = 0.0,
    weight_decay: float | None = None,
    clip_norm: float | None = None,
    warmup: int = 0,
) -> History:
    """Train ``net`` in place; see :meth:`fastbp.Network.fit` for the parameters.

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network; its parameters, optimizer and history change.
    X, Y : array_like
        The training data.
    epochs, batch_size, optimizer, lr, momentum, l2, schedule, shuffle, validation_fraction, \
early_stopping, patience, min_delta, seed, progress, warm_start, diagnostics, sample_weight, \
max_grad_norm, noise_multiplier, weight_decay, clip_norm, warmup
        As for :meth:`fastbp.Network.fit`; the last three are described in :func:`toolbox`.

    Returns
    -------
    History
        One entry per completed epoch (also ``net.history``).
    """
    net = as_lowered(net)
    spec = net.spec
    X = as_features(X, spec)
    Y = as_targets(Y, spec, X.shape[0])
    sw = as_sample_weight(sample_weight, X.shape[0], spec.np_dtype)
    epochs = positive_int(epochs, "epochs", minimum=0)
    lr = positive_float(lr, "lr")
    l2 = positive_float(l2, "l2", allow_zero=True)
    patience = positive_int(patience, "patience")
    min_delta = positive_float(min_delta, "min_delta", allow_zero=True)
    shuffle = _check_bool(shuffle, "shuffle")
    early_stopping = _check_bool(early_stopping, "early_stopping")
    progress = _check_bool(progress, "progress")
    warm_start = _check_bool(warm_start, "warm_start")
    diagnostics = _check_bool(diagnostics, "diagnostics")
    validation_fraction, schedule = check_split_and_schedule(
        validation_fraction, early_stopping, schedule
    )
    if isinstance(optimizer, str):
        optimizer = Optimizer(optimizer, momentum=momentum, weight_decay=weight_decay)
    elif not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a name or a fastbp.optim.Optimizer, got {optimizer!r}")
    elif weight_decay is not None:
        raise TypeError("give weight_decay to the Optimizer, not beside one")
    seed = check_seed(seed)
    dp = check_privacy(max_grad_norm, noise_multiplier)
    tools = toolbox(optimizer, clip_norm, warmup, dp is not None)
    check_dropout(spec, sw, dp)
    if dp is not None and sw is not None:
        raise ValueError("DP-SGD (max_grad_norm) does not take sample_weight")
    # Only shuffling and the validation split draw from it (creating one costs ~70 µs a call).
    rng = np.random.default_rng(seed) if shuffle or validation_fraction > 0 else None

    n = X.shape[0]
    # The row index and each epoch's permutation of it: 16 bytes a row, checked before allocating.
    check_allocation(16 * n, f"fit's shuffling index for {n:,} rows")
    train_idx = np.arange(n, dtype=np.int64)
    X_val = Y_val = sw_val = None
    if validation_fraction > 0:
        n_val = max(1, int(round(validation_fraction * n)))
        if n - n_val < 1:
            raise ValueError(f"validation_fraction={validation_fraction} leaves no training data")
        assert rng is not None  # made above whenever validation_fraction > 0
        perm = rng.permutation(n)
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:]).astype(np.int64)
        X_val = X.subset(val_idx) if isinstance(X, LazyRows) else X[val_idx]
        Y_val = Y.subset(val_idx).to_array() if isinstance(Y, LazyRows) else Y[val_idx]
        if sw is not None:
            sw, sw_val = sw.copy(), sw[val_idx]
            if not sw_val.sum() > 0 or not sw[train_idx].sum() > 0:
                raise ValueError("sample_weight is all zero on the training or validation rows")
            sw_val = np.ascontiguousarray(sw_val)
    n_train = train_idx.shape[0]
    if sw is not None:  # s̃ = s / mean over the training rows (see Network.fit)
        sw = sw / np.mean(sw[train_idx], dtype=np.float64)
    batch_size = positive_int(batch_size, "batch_size")
    if batch_size > n_train:
        raise ValueError(
            f"batch_size must be between 1 and the number of training examples ({n_train}), "
            f"got {batch_size}"
        )

    dtype = spec.np_dtype
    # Overflow is detected and handled as divergence; keep numpy from also warning about it
    # when the kernels run as plain Python (NUMBA_DISABLE_JIT=1).
    with net.exclusive("fit"), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # Everything from here on changes the network, so it happens only once the network is
        # ours: a fit refused because another thread is using the network, or because its
        # parameters are not finite, leaves its optimizer and history as they were.
        net.check_params()
        # The kernels read X and Y while they update the parameters and optimizer state in place:
        # data that is a view of those buffers (X = net.params.reshape(...)) is copied first.
        own = [net.params]
        if net.optimizer is not None:
            own.extend(net.optimizer.state_arrays().values())
        if not isinstance(X, LazyRows) and any(np.may_share_memory(X, buf) for buf in own):
            X = X.copy()
        if not isinstance(Y, LazyRows) and any(np.may_share_memory(Y, buf) for buf in own):
            Y = Y.copy()
        if not (warm_start and net.optimizer is not None and net.optimizer.name == optimizer.name
                and net.optimizer.compatible(net.plan.n_params, dtype)):  # fmt: skip
            optimizer.reset(net.plan.n_params, dtype)
        else:
            optimizer.s1, optimizer.s2, optimizer.step = (
                net.optimizer.s1,
                net.optimizer.s2,
                net.optimizer.step,
            )
        net.optimizer = optimizer
        diag_data = None
        if diagnostics:  # a fixed subsample, from its own generator: training draws unchanged
            rows = train_idx[diagnostic_rows(n_train, seed)]
            diag_data = (X[rows], Y[rows])
        history = History()
        net.history = history
        with ctrl_c_deferred() as ctrl_c:
            _run_epochs(
                net, X, Y, train_idx, X_val, Y_val, epochs, batch_size, optimizer, lr, l2,
                schedule, shuffle, early_stopping, patience, min_delta, rng, progress, history,
                diag_data, ctrl_c=ctrl_c, sw=sw, sw_val=sw_val, dp=dp, dp_seed=seed, tools=tools,
                drop_seed=seed,
            )  # fmt: skip
        if ctrl_c.is_set() and not history.interrupted:
            history.interrupted = True  # Ctrl-C after the last epoch: keep it, but report it
        if history.lr:
            net.last_lr = history.lr[-1]
    return history


def toolbox(opt: Optimizer, clip_norm: object, warmup: object, dp: bool) -> tuple | None:
    """The toolbox options of a fit or partial_fit, checked: None when all are off.

    ``weight_decay`` (in ``opt``, see :class:`~fastbp.optim.Optimizer`), ``clip_norm`` C
    (None, or > 0: every step's whole gradient g ← g · min(1, C / (‖g‖₂ + 10⁻⁶)), as
    ``torch.nn.utils.clip_grad_norm_``) and ``warmup`` W (steps, ≥ 0: step t = 1, 2, ... of
    the optimizer, counted in its state so partial_fit calls continue it, runs at the epoch's
    scheduled rate times min(1, t / W)).  With any of them on, every batch (per-example SGD
    too: batches of one row) runs :func:`fastbp.toolbox_kernels.minibatch_epoch_toolbox`.

    Parameters
    ----------
    opt : Optimizer
        The optimizer.
    clip_norm, warmup : float or None, int
        The caller's settings.
    dp : bool
        Whether DP-SGD is on (it clips per example already; the options are refused).

    Returns
    -------
    tuple of (float, float, int) or None
        (λ_wd, C or 0, W), or None.
    """
    clip, steps = check_toolbox(clip_norm, warmup)
    if opt.plain and clip == 0.0 and steps == 0:
        return None
    if dp:
        raise ValueError(
            "DP-SGD (max_grad_norm) does not take clip_norm, warmup, weight_decay or adamw"
        )
    return float(opt.weight_decay or 0.0), clip, steps


def _weighted_batches(
    net: LoweredNetwork, X, Y, part, sw, batch_size, opt, lr, l2, info, tools=None
) -> None:
    """Minibatch steps over ``part`` with normalised sample weights ``sw`` (one per row of part).

    Each batch B is one compiled weighted loss-and-gradient call and one compiled optimizer step
    (:func:`fastbp.epochs.apply_update`) with g = (1/|B|) Σ_{i∈B} s̃_i ∇J_i + λ W-mask ⊙ θ.
    info[0] += Σ s̃_i J_i and info[1] += Σ s̃_i (the weighted mean loss), info[2] = 1 on a
    non-finite loss.
    """
    params, grad, mask = net.params, net.grad, net.plan.weight_mask
    for lo in range(0, part.shape[0], batch_size):
        rows = part[lo : lo + batch_size]
        s = sw[lo : lo + batch_size]
        m, total = rows.shape[0], float(s.sum())
        Xb, Yb = X[rows], Y[rows]
        if total > 0.0:
            J = net.loss_and_gradient(Xb, Yb, sw=np.ascontiguousarray(s))
            grad *= total / m
        else:
            J = 0.0
            grad[...] = 0.0
        if not math.isfinite(J):
            info[2] = 1.0
            return
        info[0] += J * total
        info[1] += total
        if l2 != 0.0:
            grad += l2 * mask * params
        if tools is not None:
            toolbox_step(opt.code, params, grad, mask, lr, opt.momentum, opt.beta1, opt.beta2,
                         opt.eps, *tools, opt.s1, opt.s2, opt.step)  # fmt: skip
            continue
        opt.step[0] += 1
        ek.apply_update(opt.code, params, grad, lr, opt.momentum, opt.beta1, opt.beta2, opt.eps,
                        opt.s1, opt.s2, int(opt.step[0]))  # fmt: skip


class _ChunkGather:
    """Reads one chunk of an epoch's order into reused buffers, for data not held in memory.

    ``gather(part)`` returns ``(Xc, Yc, local)``: the rows ``part`` of X and Y, converted and in
    that order, and ``local = 0..len(part)-1``, so the epoch kernels see exactly the rows they
    would have indexed in X and Y themselves (the results are the same to the bit).
    """

    def __init__(self, X, Y, chunk: int) -> None:
        self.X, self.Y = X, Y
        self.Xb = np.empty((chunk, X.shape[1]), dtype=X.dtype)
        self.Yb = np.empty((chunk, Y.shape[1]), dtype=Y.dtype)
        self.local = np.arange(chunk, dtype=np.int64)

    def __call__(self, part: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = part.shape[0]
        for data, buf in ((self.X, self.Xb), (self.Y, self.Yb)):
            if isinstance(data, LazyRows):
                data.take(part, buf)
            else:
                np.take(data, part, axis=0, out=buf[:m])
        return self.Xb, self.Yb, self.local[:m]


def _same_optimizer(a: Optimizer, b: Optimizer) -> bool:
    """Whether b continues a's state: same name and the same settings that name uses."""
    if a.name != b.name:
        return False
    if a.name in ("momentum", "nesterov"):
        return a.momentum == b.momentum
    if a.name in ("adam", "adamw"):
        return (a.beta1, a.beta2, a.eps) == (b.beta1, b.beta2, b.eps)
    return True


#: partial_fit's learning rate when neither the call nor the network has one.
DEFAULT_LR = 0.01


def partial_fit_settings(
    current: Optimizer | None,
    last_lr: float | None,
    optimizer: str | Optimizer | None,
    lr: float | None,
    momentum: float | None,
    weight_decay: float | None = None,
) -> tuple[Optimizer, float]:
    """The optimizer settings and learning rate a partial_fit call asks for.

    ``optimizer=None`` continues the network's optimizer (``current``: its name, μ, β1, β2, ε);
    with no optimizer yet it is plain SGD.  A name or an :class:`~fastbp.optim.Optimizer` is an
    explicit choice (Adam's β1, β2, ε at their defaults for the name ``"adam"``).
    ``momentum=None`` is the current μ when the network's optimizer is ``momentum`` or
    ``nesterov``, else 0.9; ``weight_decay=None`` is the current λ_wd when the network's
    optimizer has the name asked for (or ``optimizer=None``), else the name's default (0.01 for
    ``adamw``, else 0); ``lr=None`` is ``last_lr`` (the rate the network last trained with),
    else :data:`DEFAULT_LR`.  Whether the result continues the
    current state is :func:`_same_optimizer`'s question.

    Parameters
    ----------
    current : Optimizer or None
        The network's optimizer.
    last_lr : float or None
        The network's last learning rate (``LoweredNetwork.last_lr``).
    optimizer, lr, momentum, weight_decay
        The caller's settings, as for :meth:`fastbp.Network.partial_fit`.

    Returns
    -------
    tuple of (Optimizer, float)
        The wanted optimizer (settings only, no state) and the validated learning rate.
    """
    if momentum is None:
        uses_mu = current is not None and current.name in ("momentum", "nesterov")
        momentum = current.momentum if uses_mu and current is not None else 0.9
    if weight_decay is None and current is not None and optimizer in (None, current.name):
        weight_decay = current.weight_decay
    if optimizer is None:
        if current is None:
            wanted = Optimizer("sgd", momentum=momentum, weight_decay=weight_decay)
        else:
            wanted = Optimizer(current.name, momentum=momentum, beta1=current.beta1,
                               beta2=current.beta2, eps=current.eps,
                               weight_decay=weight_decay)  # fmt: skip
    elif isinstance(optimizer, str):
        wanted = Optimizer(optimizer, momentum=momentum, weight_decay=weight_decay)
    elif isinstance(optimizer, Optimizer):
        if weight_decay is not None:
            raise TypeError("give weight_decay to the Optimizer, not beside one")
        wanted = Optimizer(**optimizer.settings())
    else:
        raise TypeError(
            f"optimizer must be None, a name or a fastbp.optim.Optimizer, got {optimizer!r}"
        )
    if lr is None:
        lr = DEFAULT_LR if last_lr is None else last_lr
    return wanted, positive_float(lr, "lr")


def partial_fit(
    net: NetworkLike,
    X,
    Y,
    optimizer: str | Optimizer | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    l2: float = 0.0,
    batch_size: int = 1,
    max_grad_norm: float | None = None,
    noise_multiplier: float = 0.0,
    seed: int | None = None,
    weight_decay: float | None = None,
    clip_norm: float | None = None,
    warmup: int = 0,
) -> float:
    """One pass over X, Y in order, continuing the network's optimizer state; see
    :meth:`fastbp.Network.partial_fit`.  Returns the mean loss of the rows.

    This is the checked path: every argument is validated before the network is touched, then
    the rows go through :func:`_run_epochs` (one epoch, no shuffling, no validation split), the
    very code ``fit`` runs, so the result is fit's to the bit.  The defaults (None) continue
    what the network has (:func:`partial_fit_settings`).

    Parameters
    ----------
    net : fastbp.Network or fastbp.lowered.LoweredNetwork
        The network.
    X, Y : array_like
        The rows, in order.
    optimizer, lr, momentum, l2, batch_size, max_grad_norm, noise_multiplier, seed, \
weight_decay, clip_norm, warmup
        As for :meth:`fastbp.Network.partial_fit` (the last three: :func:`toolbox`).

    Returns
    -------
    float
        The mean loss of the rows.
    """
    net = as_lowered(net)
    spec = net.spec
    X = as_features(X, spec)
    Y = as_targets(Y, spec, X.shape[0])
    l2 = positive_float(l2, "l2", allow_zero=True)
    batch_size = positive_int(batch_size, "batch_size")
    dp = check_privacy(max_grad_norm, noise_multiplier)
    check_dropout(spec, None, dp, "partial_fit")
    check_toolbox(clip_norm, warmup)  # before the network is touched; toolbox() once resolved
    seed = check_seed(seed)
    n = X.shape[0]
    dtype = spec.np_dtype
    quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore")
    with net.exclusive("partial_fit"), quiet:
        net.check_params()
        previous = net.optimizer
        # Resolved under the guard: the network's optimizer and last rate are what they are.
        wanted, lr = partial_fit_settings(previous, net.last_lr, optimizer, lr, momentum,
                                          weight_decay)  # fmt: skip
        tools = toolbox(wanted, clip_norm, warmup, dp is not None)
        own = [net.params]
        if previous is not None:
            own.extend(previous.state_arrays().values())
        if not isinstance(X, LazyRows) and any(np.may_share_memory(X, buf) for buf in own):
            X = X.copy()
        if not isinstance(Y, LazyRows) and any(np.may_share_memory(Y, buf) for buf in own):
            Y = Y.copy()
        if (
            previous is not None
            and _same_optimizer(previous, wanted)
            and previous.compatible(net.plan.n_params, dtype)
        ):
            opt = previous
            if wanted.weight_decay != previous.weight_decay:  # the same state, another λ_wd
                wanted.s1, wanted.s2, wanted.step = previous.s1, previous.s2, previous.step
                opt = wanted
        else:
            opt = wanted
            opt.reset(net.plan.n_params, dtype)
        history = History()
        try:
            net.optimizer = opt
            _run_epochs(
                net, X, Y, np.arange(n, dtype=np.int64), None, None, 1, min(batch_size, n), opt,
                lr, l2, Schedule("constant"), False, False, 1, 0.0, None, False, history,
                dp=dp, dp_seed=seed, tools=tools, drop_seed=0 if seed is None else seed,
            )  # fmt: skip
        except FitDivergedError:
            net.optimizer = previous
            raise FitDivergedError(
                f"partial_fit diverged (learning rate {lr:g}): the loss or the parameters became "
                f"NaN/inf. The parameters and optimizer state of before the call were restored; "
                f"try a smaller learning rate (e.g. lr={lr / 10:g}).",
                epoch=1,
                history=history,
            ) from None
        if history.interrupted:  # Ctrl-C between compiled calls: everything was restored
            net.optimizer = previous
            raise KeyboardInterrupt
        net.last_lr = lr
    return history.loss[0]


def _run_epochs(
    net: LoweredNetwork, X, Y, train_idx, X_val, Y_val, epochs, batch_size, opt, lr0, l2, schedule,
    shuffle, early_stopping, patience, min_delta, rng, progress, history, diag_data=None,
    ctrl_c=None, sw=None, sw_val=None, dp: DPSettings | None = None, dp_seed: int | None = None,
    tools: tuple | None = None, drop_seed: int | None = 0,
):  # fmt: skip
    p, ws, spec = net.plan, net.ws, net.spec
    dtype = spec.np_dtype
    per_example = batch_size == 1 and opt.name == "sgd" and dp is None and tools is None
    ctrl_c = threading.Event() if ctrl_c is None else ctrl_c
    try:
        ws.ensure(batch_size)
    except ValueError as exc:
        raise ValueError(f"batch_size={batch_size} is too large for this network: {exc}") from None
    Xb = np.zeros((batch_size, spec.n_inputs), dtype=dtype)
    Yb = np.zeros((batch_size, spec.n_outputs), dtype=dtype)
    info = np.zeros(4, dtype=np.float64)
    chunk = max(batch_size, (CHUNK_EXAMPLES // batch_size) * batch_size)
    gather = None
    if isinstance(X, LazyRows) or isinstance(Y, LazyRows):
        row_bytes = (spec.n_inputs + spec.n_outputs) * dtype.itemsize
        fits = LAZY_CHUNK_BYTES // row_bytes // batch_size * batch_size
        chunk = max(batch_size, min(chunk, fits))
        gather = _ChunkGather(X, Y, chunk)
    dp_run = None
    if dp is not None:  # chunks of whole batches, the noise block of a call bounded
        dp_run = DPRun(dp, net, batch_size, chunk // batch_size, dp_seed, train_idx.shape[0],
                       epochs)  # fmt: skip
        chunk = batch_size * dp_run.batches  # no larger than the gather buffers
        dp_run.record(history)

    # Dropout (fastbp.dropout): every batch through its kernel, per-example SGD as rows of one.
    drop = DropoutRun(net, batch_size, drop_seed) if spec.has_dropout else None
    minibatch = ek.minibatch_kernel(opt.code, l2, batch_size, net.blas_min_rows)
    # The last good epoch's state, restored by the compiled rule every training path uses
    # (row_kernels.settle: the ensembles, partial_fit and the estimators too).
    good, good1, good2, good_step = net.params.copy(), opt.s1.copy(), opt.s2.copy(), opt.step.copy()
    best_val, best_params, bad_epochs = math.inf, None, 0
    warned = False
    bar = Progress(epochs, progress, unit="epoch", desc="fit")
    # Compiling (a fresh cache) or loading kernels is timed apart from the epochs: the epoch's
    # seconds and the bar's time-left estimate leave it out, and the bar says so once.
    watch = CompileWatch(on_compile=lambda: bar.note(COMPILING_MESSAGE))
    watch.__enter__()
    shown = 0.0

    def restore() -> None:
        net.params[...] = good
        opt.s1[...], opt.s2[...], opt.step[...] = good1, good2, good_step

    try:
        for e in range(epochs):
            if ctrl_c.is_set():
                raise KeyboardInterrupt
            try:
                lr = float(schedule.rate(lr0, e, epochs))
            except OverflowError:
                lr = math.inf
            if not (math.isfinite(lr) and lr >= 0):
                history.diverged = True
                raise FitDivergedError(
                    f"training diverged in epoch {e + 1}: the schedule {schedule.name!r} gave "
                    f"the learning rate {lr!r}. The parameters of the end of epoch {e} were "
                    f"kept; check the schedule's settings ({schedule!r}).",
                    epoch=e + 1,
                    history=history,
                )
            order = rng.permutation(train_idx) if shuffle else train_idx
            info[:] = 0
            t0 = time.perf_counter()
            for lo in range(0, order.shape[0], chunk):
                Xc, Yc, part = (
                    (X, Y, order[lo : lo + chunk])
                    if gather is None
                    else gather(order[lo : lo + chunk])
                )
                if sw is not None:
                    _weighted_batches(net, Xc, Yc, part, sw[order[lo : lo + chunk]], batch_size,
                                      opt, lr, l2, info, tools)  # fmt: skip
                elif dp_run is not None:
                    dp_run(Xc, Yc, part, Xb, Yb, opt, lr, l2, info)
                elif drop is not None:
                    drop(net, Xc, Yc, part, batch_size, Xb, Yb, opt, lr, l2, info, tools)
                elif tools is not None:
                    minibatch_epoch_toolbox(
                        Xc, Yc, part, batch_size, net.params, p.widths, p.acts, p.out_kind,
                        p.loss_param, p.w_off, p.b_off, p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA,
                        net.grad, p.weight_mask, l2, net.blas_min_rows, opt.code, lr, opt.momentum,
                        opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2, opt.step, info, *tools,
                    )  # fmt: skip
                elif per_example:
                    sgd_example_epoch_dispatch(spec, Xc, Yc, part, net.params, p, ws, lr, l2, info)
                else:
                    minibatch(
                        Xc, Yc, part, batch_size, net.params, p.widths, p.acts, p.out_kind,
                        p.loss_param, p.w_off, p.b_off, p.u_off, Xb, Yb, ws.Z, ws.A, ws.dZ, ws.dA,
                        net.grad, p.weight_mask, l2, net.blas_min_rows, opt.code, lr, opt.momentum,
                        opt.beta1, opt.beta2, opt.eps, opt.s1, opt.s2, opt.step, info,
                    )  # fmt: skip
                if settle(net.params, opt.s1, opt.s2, good, good1, good2, info) != 0:
                    opt.step[...] = good_step  # settle restored the rest
                    history.diverged = True
                    raise FitDivergedError(
                        f"training diverged in epoch {e + 1} (learning rate {lr:g}): the loss or "
                        f"the parameters became NaN/inf. The parameters of the end of epoch {e} "
                        f"were restored; try a smaller learning rate (e.g. lr={lr0 / 10:g}).",
                        epoch=e + 1,
                        history=history,
                    )
                if ctrl_c.is_set():
                    raise KeyboardInterrupt
            seconds = time.perf_counter() - t0 - (watch.seconds - shown)
            train_loss = info[0] / max(info[1], 1)
            val_loss = val_score = math.nan
            if X_val is not None:
                val_loss = net.loss(X_val, Y_val, sw=sw_val)
                val_score = score(spec.loss, net.forward(X_val), Y_val)
            snapshot(net.params, opt.s1, opt.s2, good, good1, good2)
            good_step[...] = opt.step
            history.epoch.append(e + 1)
            history.loss.append(float(train_loss))
            history.val_loss.append(float(val_loss))
            history.val_score.append(float(val_score))
            history.lr.append(float(lr))
            if dp_run is not None:
                dp_run.record(history, info)
            history.seconds.append(seconds)
            history.examples_per_s.append(train_idx.shape[0] / max(seconds, 1e-12))
            history.compile_seconds += watch.seconds - shown
            bar.exclude(watch.seconds - shown)
            shown = watch.seconds
            bar.update({"loss": train_loss, "val_loss": val_loss, "lr": lr})
            if diag_data is not None:  # after the epoch's timing, so it does not count in it
                record = diagnostics_from_trace(net, net.trace(*diag_data))
                history.diagnostics.append({"epoch": e + 1, **record})
                if not warned:  # once per fit, at the first epoch outside the band
                    warned = warn_gradient_ratio(record, where=f"epoch {e + 1}: ", stacklevel=4)
            if early_stopping:
                if val_loss < best_val - min_delta:
                    best_val, bad_epochs, history.best_epoch = val_loss, 0, e + 1
                    best_params = net.params.copy()
                else:
                    bad_epochs += 1
                    if bad_epochs >= patience:
                        history.stopped_early = True
                        break
        if ctrl_c.is_set():
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        restore()
        history.interrupted = True
    finally:
        watch.__exit__(None, None, None)
        bar.close()
        if dp_run is not None:
            dp_run.close()
    if early_stopping and best_params is not None and not history.interrupted:
        net.params[...] = best_params
