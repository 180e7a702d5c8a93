"""Hyper-parameter sweeps: a grid of configurations, run serially, with joblib or on Dask.

* :func:`train_one` ``(config, data) -> dict`` trains one configuration.  It is a pure
  function: the same config and data give bit-identical scores, history and parameters in any
  process (one caveat: see "Determinism" below).  It pins BLAS/OpenMP to one thread while it
  runs (through ``threadpoolctl`` when that is installed), because the minibatch path calls BLAS.
* :func:`run` expands a grid, checks every configuration before anything is trained, and runs
  them.  ``backend`` picks how:

  - ``"serial"``: in this process, one after another.
  - ``"joblib"``: in ``n_jobs`` loky worker processes (``pip install joblib``).
  - ``"dask"``: on a ``dask.distributed`` cluster (``pip install "dask[distributed]"``).  The
    default is a ``LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True)``;
    ``scheduler`` can instead be the address of a running scheduler or a ``Client``.  The data
    is sent to every worker once (``client.scatter(..., broadcast=True)``).  Every worker runs
    with one thread: ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
    ``MKL_NUM_THREADS`` are set to 1 in the environment of the workers it starts, and a worker
    plugin applies the BLAS limit at run time on workers started elsewhere.  When a worker
    dies, the scheduler reruns its tasks on the surviving or restarted workers.  Exceptions
    are retried ``retries`` times.  The table is still complete and identical to a serial run.

  The table comes back in grid order, whichever order the tasks finish in.  With ``out_dir`` it
  is also written as ``results.csv`` and ``results.json``.  The configuration with the best
  validation score is written as ``best.fastbp``, a :meth:`fastbp.Network.save` file with the
  feature standardiser, so ``fastbp predict --model DIR/best.fastbp`` works on raw data.

Compiled kernels: fastbp caches them on disk in the per-user cache directory
(:mod:`fastbp._cache`; ``FASTBP_CACHE_DIR`` moves it), so workers on one machine, or on machines
sharing that directory over a file system, load them instead of compiling them.  The first task on
a fresh worker still pays the load, about a second.
``run(..., warmup=True)`` (the default for Dask) pays it up front on every worker with
``client.run(fastbp.warmup, dtypes)``.  On a cluster of your own, do the same once after the
workers start::

    client.run(fastbp.warmup)          # compile, or load from the disk cache, on every worker

Determinism: scores, histories and parameters are bit-identical across backends on machines
with the same CPU type and the same fastbp/Numba/NumPy versions.  Only the ``seconds`` fields
(:data:`TIMING_FIELDS`) vary from run to run.  One caveat comes from Numba.  Under fastmath, a
kernel that a process JIT-compiles itself can round differently in the last bit from the same
kernel loaded from the disk cache.  On a cold cache, the process that compiles first (usually
the serial run) can therefore differ by about 1e-15 from workers that load the cache.  Run
``fastbp warmup`` (or any sweep) once in another process beforehand, and every process then
runs the same cached code.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastbp._blas import HAVE_BLAS
from fastbp.datasets import Dataset, Standardizer, train_test_split
from fastbp.init import INITIALISERS
from fastbp.network import Network
from fastbp.optim import Optimizer, Schedule
from fastbp.spec import NetworkSpec
from fastbp.train import FitDivergedError
from fastbp.validate import positive_float, positive_int

BACKENDS = ("serial", "joblib", "dask")

#: Environment of the Dask workers that :func:`run` starts: one thread for Numba, OpenMP and BLAS.
SINGLE_THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

#: Result fields that measure time and so differ between otherwise identical runs.
TIMING_FIELDS = ("seconds",)

#: Columns of ``results.csv``, in order.
CSV_COLUMNS = (
    "index", "hidden", "activation", "loss", "dtype", "init", "optimizer", "lr", "momentum",
    "l2", "schedule", "epochs", "batch_size", "seed", "train_score", "val_score", "test_score",
    "final_loss", "epochs_run", "diverged", "n_params", "seconds",
)  # fmt: skip


# ----------------------------------------------------------------------------- configurations
@dataclass(frozen=True)
class SweepConfig:
    """One training configuration: the spec fields that the data does not fix, and the fit.

    ``hidden`` is the hidden widths (an int means one hidden layer).  ``loss=None`` picks
    ``softmax_cross_entropy`` for classification and ``squared`` for regression; ``logistic``
    is allowed for two classes.  The other fields are those of :meth:`fastbp.Network.fit`
    (``seed`` seeds both the initialisation and the shuffling).
    """

    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    loss: str | None = None
    dtype: str = "float64"
    init: str = "xavier_normal"
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    l2: float = 0.0
    schedule: str = "constant"
    epochs: int = 10
    batch_size: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Iterable):
            raise ValueError(f"hidden must be an integer or a list of integers, got {hidden!r}")
        hidden = tuple(hidden)
        for h in hidden:
            positive_int(h, "hidden width")
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        positive_int(self.epochs, "epochs", minimum=0)
        positive_int(self.batch_size, "batch_size")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {self.seed!r}")
        positive_float(self.lr, "lr")
        positive_float(self.l2, "l2", allow_zero=True)
        if self.init not in INITIALISERS:
            raise ValueError(f"init = {self.init!r} is unknown; allowed: {sorted(INITIALISERS)}")
        Optimizer(self.optimizer, momentum=self.momentum)  # validates name and momentum
        Schedule(self.schedule)

    @classmethod
    def from_dict(cls, d: Mapping) -> SweepConfig:
        """A config from a mapping; unknown keys raise ValueError naming them."""
        if isinstance(d, SweepConfig):
            return d
        if not isinstance(d, Mapping):
            raise ValueError(f"a configuration must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown configuration key(s) {unknown}; allowed: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        """JSON-ready fields (``hidden`` as a list)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def expand_grid(grid: Mapping | Sequence) -> list[SweepConfig]:
    """The configurations of a grid, in a fixed order.

    * A mapping of lists is a cartesian product, the last key varying fastest.  A scalar value
      stands for a one-element list.  Every element of a list is one value, so
      ``{"hidden": [64, 128]}`` gives two single-layer networks and
      ``{"hidden": [[64, 64], [128]]}`` gives a two-layer and a one-layer network.
    * A list of mappings is taken as it is, one configuration each.

    Keys left out take the :class:`SweepConfig` defaults.

    Parameters
    ----------
    grid : mapping or sequence
        A mapping of lists (cartesian product), or a list of configurations.

    Returns
    -------
    list of SweepConfig
        The configurations, in a fixed order.
    """
    if isinstance(grid, Mapping):
        keys = list(grid)
        options = [v if isinstance(v, list) else [v] for v in grid.values()]
        for key, opts in zip(keys, options, strict=True):
            if not opts:
                raise ValueError(f"grid key {key!r} has an empty list of values")
        raw = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*options)]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        raw = list(grid)
    else:
        raise ValueError(
            f"a grid must be a mapping of lists or a list of configurations, got "
            f"{type(grid).__name__}"
        )
    if not raw:
        raise ValueError("the grid has no configurations")
    return [_config(i, d) for i, d in enumerate(raw)]


def _config(index: int, d: Mapping) -> SweepConfig:
    try:
        return SweepConfig.from_dict(d)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"configuration {index} ({d!r}): {exc}") from None


def load_grid(path: str | os.PathLike) -> list[SweepConfig]:
    """Read a grid from a JSON file (see :func:`expand_grid`).

    Parameters
    ----------
    path : str or os.PathLike
        A JSON file holding a grid.

    Returns
    -------
    list of SweepConfig
        The configurations, as :func:`expand_grid` gives them.
    """
    try:
        with open(path, encoding="utf-8") as f:
            grid = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)}: not valid JSON: {exc}") from None
    try:
        return expand_grid(grid)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True, eq=False)
class SweepData:
    """A dataset split into train / validation / test parts, with standardised features.

    ``prepare_data`` builds it.  Configurations are ranked by their validation score, and the test
    score is reported next to it.  ``x_mean``/``x_scale`` (and for regression
    ``y_mean``/``y_scale``) are the training-part statistics.  They are saved with the best
    model.
    """

    name: str
    task: str
    target_names: tuple[str, ...]
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray | None = None
    y_scale: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.target_names) if self.task == "classification" else 0

    @property
    def metric(self) -> str:
        return "accuracy" if self.task == "classification" else "r2"

    def __repr__(self) -> str:
        return (
            f"SweepData({self.name!r}, {self.task}, train {len(self.y_train)}, "
            f"val {len(self.y_val)}, test {len(self.y_test)}, {self.n_features} features)"
        )


def prepare_data(
    dataset: Dataset | str,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> SweepData:
    """Split a :class:`fastbp.datasets.Dataset` (or ``"digits"``/``"diabetes"``) for a sweep.

    The test part is ``test_fraction`` of the rows, and the validation part is
    ``validation_fraction`` of the rest.  Both splits are seeded and stratified for
    classification.  Features are standardised with the training part's statistics, and so is
    the regression target.  R² is unchanged by that, so the scores are in the original units.

    Parameters
    ----------
    dataset : fastbp.datasets.Dataset or str
        The data, or ``"digits"``/``"diabetes"``.
    test_fraction, validation_fraction : float
        The fractions held out for testing and for validation.
    seed : int
        Seed of the split.

    Returns
    -------
    SweepData
        The standardised training, validation and test parts.
    """
    if isinstance(dataset, str):
        from fastbp import datasets

        loaders = {"digits": datasets.load_digits, "diabetes": datasets.load_diabetes}
        if dataset not in loaders:
            raise ValueError(f"dataset {dataset!r} is unknown; pass 'digits', 'diabetes' or a "
                             "fastbp.datasets.Dataset")  # fmt: skip
        dataset = loaders[dataset]("float64")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a fastbp.datasets.Dataset, got {type(dataset).__name__}")
    classification = dataset.task == "classification"
    X, y = dataset.X.astype(np.float64), dataset.y
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_fraction, seed, classification)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, validation_fraction, seed + 1, classification
    )
    xs = Standardizer().fit(X_train)
    y_mean = y_scale = None
    if not classification:
        ys = Standardizer().fit(y_train)
        y_train, y_val, y_test = ys.transform(y_train), ys.transform(y_val), ys.transform(y_test)
        y_mean, y_scale = ys.mean_, ys.scale_
    return SweepData(
        name=dataset.name, task=dataset.task, target_names=tuple(dataset.target_names),
        X_train=xs.transform(X_train), y_train=y_train, X_val=xs.transform(X_val), y_val=y_val,
        X_test=xs.transform(X_test), y_test=y_test, x_mean=xs.mean_, x_scale=xs.scale_,
        y_mean=y_mean, y_scale=y_scale,
    )  # fmt: skip


def spec_for(config: SweepConfig, data: SweepData) -> NetworkSpec:
    """The :class:`NetworkSpec` of ``config`` on ``data`` (the widths at both ends come from the
    data; the loss is inferred from the task when ``config.loss`` is None).

    Parameters
    ----------
    config : SweepConfig
        One configuration.
    data : SweepData
        The prepared splits.

    Returns
    -------
    NetworkSpec
        The spec to train.
    """
    if data.task == "classification":
        loss = config.loss or "softmax_cross_entropy"
        if loss == "squared":
            raise ValueError("loss 'squared' needs a regression dataset")
        if loss == "logistic" and data.n_classes != 2:
            raise ValueError(f"loss 'logistic' needs 2 classes, the dataset has {data.n_classes}")
        n_out = 1 if loss == "logistic" else data.n_classes
    else:
        loss = config.loss or "squared"
        if loss != "squared":
            raise ValueError(f"loss {loss!r} needs a classification dataset")
        n_out = 1
    widths = [data.n_features, *config.hidden, n_out]
    return NetworkSpec(widths, [config.activation] * len(config.hidden), loss, config.dtype)


def check_config(config: SweepConfig, data: SweepData, index: int | None = None) -> None:
    """Raise ValueError if ``config`` cannot be trained on ``data`` (before any work is sent);
    the message names the configuration (and its ``index`` in the grid when given).

    Parameters
    ----------
    config : SweepConfig
        One configuration.
    data : SweepData
        The prepared splits.
    index : int, optional
        Its position in the grid, for the error message.

    Raises
    ------
    ValueError
        If the configuration cannot be trained on ``data``.
    """
    where = "configuration" + ("" if index is None else f" {index}")
    try:
        spec_for(config, data)
    except ValueError as exc:
        raise ValueError(f"{where} ({config.to_dict()}): {exc}") from None
    n_train = len(data.y_train)
    if config.batch_size > n_train:
        raise ValueError(
            f"{where} ({config.to_dict()}): batch_size {config.batch_size} exceeds the "
            f"{n_train} training rows"
        )


# ----------------------------------------------------------------------------- one trial
def _load_blas() -> None:
    """Load the BLAS that Numba's np.dot calls (SciPy's), so that a thread limit reaches it.

    Numba links it only when a BLAS kernel is first compiled or loaded.  A limit set before that
    misses it, and a 2-thread OpenBLAS rounds some products differently from a 1-thread one.
    """
    if HAVE_BLAS:
        import scipy.linalg.cython_blas  # noqa: F401


def _limit_threads_now() -> object | None:
    """Limit BLAS/OpenMP pools of this process to one thread (None without threadpoolctl)."""
    os.environ.update(SINGLE_THREAD_ENV)  # for any subprocess this worker starts
    _load_blas()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=1)


@contextmanager
def _single_thread() -> Iterator[None]:
    _load_blas()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        cm = nullcontext()
    else:
        cm = threadpool_limits(limits=1)
    with cm:
        yield


def train_one(config: SweepConfig | Mapping, data: SweepData) -> dict:
    """Train one configuration on ``data``; returns a JSON-ready dict plus the parameters.

    Keys: ``config`` (dict), ``train_score``, ``val_score``, ``test_score`` (accuracy or R²),
    ``final_loss`` (mean training loss of the last epoch), ``epochs_run``, ``diverged``
    (True if the fit raised :class:`fastbp.FitDivergedError`; the scores are then those of the
    last good epoch), ``n_params``, ``history`` (per-epoch ``loss`` and ``lr``), ``params``
    (the flat parameter buffer) and ``seconds`` (fit time, the only field that varies).

    Pure and deterministic: the same config and data give bit-identical results (except
    ``seconds``) in any process with the same fastbp, Numba and NumPy on the same CPU type.

    Parameters
    ----------
    config : SweepConfig or mapping
        One configuration.
    data : SweepData
        The prepared splits.

    Returns
    -------
    dict
        ``config``, ``train_score``, ``val_score``, ``test_score``, ``final_loss``, ``epochs_run``,
        ``diverged``, ``n_params``, ``history``, ``params`` and ``seconds``.
    """
    cfg = SweepConfig.from_dict(config)
    spec = spec_for(cfg, data)
    with _single_thread():
        net = Network(spec, init=cfg.init, seed=cfg.seed)
        t0 = time.perf_counter()
        diverged = False
        try:
            hist = net.fit(
                data.X_train, data.y_train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                optimizer=cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum, l2=cfg.l2,
                schedule=cfg.schedule, shuffle=True, seed=cfg.seed, progress=False,
            )  # fmt: skip
        except FitDivergedError as exc:
            hist, diverged = exc.history, True
        seconds = time.perf_counter() - t0
        scores = {
            f"{part}_score": net.score(getattr(data, f"X_{part}"), getattr(data, f"y_{part}"))
            for part in ("train", "val", "test")
        }
    return {
        "config": cfg.to_dict(),
        **scores,
        "final_loss": hist.loss[-1] if hist.loss else math.nan,
        "epochs_run": len(hist),
        "diverged": diverged,
        "n_params": net.n_params,
        "history": {"loss": list(hist.loss), "lr": list(hist.lr)},
        "params": net.params.copy(),
        "seconds": seconds,
    }


# ----------------------------------------------------------------------------- results
@dataclass
class SweepResult:
    """The outcome of :func:`run`: one row per configuration, in grid order.

    Each row is what :func:`train_one` returned plus ``index`` (the position in the grid).
    """

    rows: list[dict]
    data: SweepData
    backend: str
    seconds: float

    @property
    def best_index(self) -> int | None:
        """Index of the highest validation score among runs that did not diverge (ties: the
        first), or None if every run diverged."""
        best, best_score = None, -math.inf
        for row in self.rows:
            s = row["val_score"]
            if not row["diverged"] and math.isfinite(s) and s > best_score:
                best, best_score = row["index"], s
        return best

    @property
    def best(self) -> dict | None:
        i = self.best_index
        return None if i is None else self.rows[i]

    def table(self) -> list[dict]:
        """Flat rows (the CSV columns): config fields, scores and timing."""
        out = []
        for row in self.rows:
            cfg = dict(row["config"])
            cfg["hidden"] = "-".join(str(h) for h in cfg["hidden"]) or "none"
            cfg["loss"] = spec_for(SweepConfig.from_dict(row["config"]), self.data).loss
            flat = {"index": row["index"], **cfg}
            flat.update({k: row[k] for k in CSV_COLUMNS if k not in flat})
            out.append({k: flat[k] for k in CSV_COLUMNS})
        return out

    def network(self, index: int) -> Network:
        """The trained network of row ``index``, rebuilt from its parameters."""
        row = self.rows[index]
        net = Network(spec_for(SweepConfig.from_dict(row["config"]), self.data), init="zeros")
        net.params = row["params"]
        net.init, net.seed = row["config"]["init"], row["config"]["seed"]
        return net

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``results.csv``, ``results.json`` and (if any run did not diverge)
        ``best.fastbp`` into ``out_dir`` (created if needed); returns their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"csv": out / "results.csv", "json": out / "results.json"}
        with open(paths["csv"], "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(self.table())
        summary = {
            "dataset": self.data.name,
            "task": self.data.task,
            "metric": self.data.metric,
            "backend": self.backend,
            "seconds": self.seconds,
            "best_index": self.best_index,
            "rows": [{k: v for k, v in row.items() if k != "params"} for row in self.rows],
        }
        with open(paths["json"], "w", encoding="utf-8") as f:
            json.dump(_json_ready(summary), f, indent=1, allow_nan=False)
        best = self.best
        if best is not None:
            d = self.data
            arrays = {"x_mean": d.x_mean, "x_scale": d.x_scale}
            if d.y_mean is not None:
                arrays.update(y_mean=d.y_mean, y_scale=d.y_scale)
            metadata = {
                "dataset": d.name, "task": d.task, "target_names": list(d.target_names),
                "sweep_index": best["index"], "config": best["config"],
                "val_score": best["val_score"], "test_score": best["test_score"],
            }  # fmt: skip
            paths["best"] = self.network(best["index"]).save(
                out / "best.fastbp", arrays=arrays, metadata=_json_ready(metadata)
            )
        return paths


def _json_ready(value):
    """NaN/inf → None, numpy scalars → Python, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# ----------------------------------------------------------------------------- progress
class _Bar:
    """tqdm over configurations when installed; one line per finished configuration otherwise."""

    def __init__(self, total: int, enabled: bool, desc: str) -> None:
        self.enabled, self.total, self.done, self.bar = enabled, total, 0, None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="config", desc=desc, file=sys.stderr)

    def update(self, row: dict) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(val=f"{row['val_score']:.4g}", refresh=False)
            self.bar.update(1)
        else:
            print(f"sweep {self.done}/{self.total}: val score {row['val_score']:.4g}",
                  file=sys.stderr, flush=True)  # fmt: skip

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------- backends
def _indexed(task: Callable, index: int, config: SweepConfig, data: SweepData) -> tuple:
    return index, task(config, data)


def _run_serial(task, configs, data, **_) -> Iterator[tuple[int, dict]]:
    for i, cfg in enumerate(configs):
        yield _indexed(task, i, cfg, data)


def _run_joblib(task, configs, data, n_jobs, **_) -> Iterator[tuple[int, dict]]:
    try:
        from joblib import Parallel, delayed
    except ImportError as exc:
        raise ImportError("backend='joblib' needs joblib: pip install joblib") from exc
    parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    yield from parallel(delayed(_indexed)(task, i, cfg, data) for i, cfg in enumerate(configs))


def _worker_plugin():
    """A worker plugin that limits BLAS/OpenMP threads on every (re)started worker."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class SingleThread(WorkerPlugin):
        name = "fastbp-single-thread"

        def setup(self, worker) -> None:
            self.limits = _limit_threads_now()

    return SingleThread()


def _run_dask(
    task, configs, data, n_jobs, scheduler, warmup, retries, **_
) -> Iterator[tuple[int, dict]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ImportError('backend="dask" needs dask.distributed: pip install "dask[distributed]"'
                          ) from exc  # fmt: skip
    cluster = client = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=n_jobs, threads_per_worker=1, processes=True, dashboard_address=":0",
            env=dict(SINGLE_THREAD_ENV),
        )  # fmt: skip
        client = Client(cluster)
    elif isinstance(scheduler, str):
        client = Client(scheduler)
    elif isinstance(scheduler, Client):
        client = None
    else:
        raise TypeError(f"scheduler must be None, an address or a Client, got {scheduler!r}")
    active = client if client is not None else scheduler
    futures, data_ref = [], None
    try:
        active.register_plugin(_worker_plugin(), name="fastbp-single-thread")
        if warmup:
            from fastbp.warmup import warmup as warm

            active.run(warm, tuple(sorted({c.dtype for c in configs})))
        data_ref = active.scatter(data, broadcast=True, hash=False)
        token = uuid.uuid4().hex[:12]
        futures = [
            active.submit(
                task, cfg, data_ref, key=f"fastbp-sweep-{token}-{i}", retries=retries, pure=False
            )  # fmt: skip
            for i, cfg in enumerate(configs)
        ]
        position = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures, loop=active.loop):  # not the default client's loop
            yield position[fut.key], fut.result()
            fut.release()
    finally:
        for fut in futures:
            fut.release()
        if data_ref is not None:
            data_ref.release()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


_BACKENDS = {"serial": _run_serial, "joblib": _run_joblib, "dask": _run_dask}


def run(
    grid: Mapping | Sequence,
    data: SweepData | Dataset | str,
    backend: str = "serial",
    n_jobs: int = 2,
    scheduler=None,
    progress: bool = True,
    out_dir: str | os.PathLike | None = None,
    *,
    warmup: bool = True,
    retries: int = 2,
    task: Callable[[SweepConfig, SweepData], dict] = train_one,
) -> SweepResult:
    """Train every configuration of ``grid`` on ``data`` and collect one table.

    Parameters
    ----------
    grid : mapping or sequence
        A mapping of lists (cartesian product) or a list of configurations, or a list of
        :class:`SweepConfig` (see :func:`expand_grid`).
    data : SweepData, fastbp.datasets.Dataset or str
        A :class:`SweepData`, or a dataset (or ``"digits"``/``"diabetes"``) to split with
        :func:`prepare_data`'s defaults.
    backend : str
        ``"serial"``, ``"joblib"`` or ``"dask"``.
    n_jobs : int
        Worker processes for joblib, and workers of the default Dask ``LocalCluster``.
    scheduler : None, str or distributed.Client
        Dask only: None (start a ``LocalCluster`` and close it at the end), the address of a
        running scheduler (``"tcp://host:8786"``), or a ``distributed.Client`` (left open).
    progress : bool
        Show a progress bar over configurations on stderr.
    out_dir : str, os.PathLike or None
        If given, write ``results.csv``, ``results.json`` and ``best.fastbp`` there.
    warmup : bool
        Dask only: load the compiled kernels on every worker before submitting.
    retries : int
        Dask only: how many times a task that *raised* is retried (a task whose worker died is
        rerun by the scheduler anyway, up to ``distributed.scheduler.allowed-failures``).
    task : callable
        The function run per configuration, :func:`train_one` by default; another one must have
        the same signature and be importable (or picklable) on the workers.

    Returns
    -------
    SweepResult
        One row per configuration, in grid order, with the best by validation score.

    Notes
    -----
    Every configuration is checked before any is trained, so a typo fails at once.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend = {backend!r} is unknown; allowed: {list(BACKENDS)}")
    n_jobs = positive_int(n_jobs, "n_jobs")
    configs = expand_grid(grid)
    if not isinstance(data, SweepData):
        data = prepare_data(data)
    for i, cfg in enumerate(configs):
        check_config(cfg, data, index=i)
    if scheduler is not None and backend != "dask":
        raise ValueError("scheduler= is only used with backend='dask'")
    bar = _Bar(len(configs), progress, f"sweep ({backend})")
    rows: list[dict | None] = [None] * len(configs)
    t0 = time.perf_counter()
    results = _BACKENDS[backend](
        task, configs, data, n_jobs=n_jobs, scheduler=scheduler, warmup=warmup, retries=retries
    )
    try:
        for i, res in results:
            rows[i] = {"index": i, **res}
            bar.update(rows[i])
    finally:
        results.close()  # shuts a Dask cluster down even if the loop stopped early
        bar.close()
    result = SweepResult(rows, data, backend, time.perf_counter() - t0)
    if out_dir is not None:
        result.save(out_dir)
    return result


# ----------------------------------------------------------------------------- command line
def add_sweep_parser(subparsers) -> None:
    """Add ``fastbp sweep`` to the CLI's subparsers (``fastbp.cli.build_parser`` calls this)."""
    from fastbp.cli import _fraction, _nonnegative_int, _positive_int

    s = subparsers.add_parser(
        "sweep",
        help="train a grid of configurations (serial, joblib or Dask) and keep the best",
        description="Train every configuration of a JSON grid on one dataset and write one "
        "results table (CSV + JSON) and the best model (by validation score). grid.json is an "
        'object of lists (cartesian product), e.g. {"hidden": [[32], [64, 64]], "lr": [0.01, '
        "0.003]}, or a list of configuration objects. Keys: "
        + ", ".join(f.name for f in dataclasses.fields(SweepConfig))
        + ". The data are split into train/validation/test parts, standardised with the "
        "training part's statistics.",
    )
    s.add_argument("--grid", type=Path, required=True, help="JSON grid file")
    s.add_argument(
        "--dataset",
        default="digits",
        help="digits, diabetes, or a path to a .csv/.npz file (default: digits)",
    )
    s.add_argument("--target-column", type=int, default=-1)
    s.add_argument("--task", choices=["classification", "regression"], default=None)
    s.add_argument("--backend", choices=BACKENDS, default="serial")
    s.add_argument(
        "--n-jobs",
        type=_positive_int,
        default=2,
        help="worker processes (joblib; workers of the default Dask LocalCluster)",
    )
    s.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address, e.g. tcp://host:8786 (default: a LocalCluster)",
    )
    s.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for results.csv, results.json and best.fastbp",
    )
    s.add_argument("--test-fraction", type=_fraction, default=0.2)
    s.add_argument("--validation-fraction", type=_fraction, default=0.2)
    s.add_argument(
        "--seed", type=_nonnegative_int, default=0, help="seed of the train/validation/test split"
    )
    s.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")  # fmt: skip


def cmd_sweep(args) -> int:
    """Run ``fastbp sweep``; returns the exit status (2 for user errors, as the other commands)."""
    from fastbp.cli import _load_dataset

    if args.scheduler is not None and args.backend != "dask":
        raise ValueError("--scheduler needs --backend dask")
    if not args.grid.exists():
        raise ValueError(f"--grid {args.grid}: no such file")
    configs = load_grid(args.grid)
    dataset = _load_dataset(args.dataset, args.target_column, args.task, "float64")
    if args.test_fraction == 0 or args.validation_fraction == 0:
        raise ValueError("--test-fraction and --validation-fraction must be > 0")
    data = prepare_data(dataset, args.test_fraction, args.validation_fraction, args.seed)
    try:
        result = run(
            configs, data, backend=args.backend, n_jobs=args.n_jobs, scheduler=args.scheduler,
            progress=not args.no_progress, out_dir=args.out,
        )  # fmt: skip
    except ImportError as exc:
        print(f"fastbp sweep: error: {exc}", file=sys.stderr)
        return 2
    best = result.best
    summary = {
        "dataset": data.name,
        "metric": data.metric,
        "backend": args.backend,
        "configs": len(result.rows),
        "diverged": sum(r["diverged"] for r in result.rows),
        "seconds": result.seconds,
        "best_index": result.best_index,
        "best_config": None if best is None else best["config"],
        "best_val_score": None if best is None else best["val_score"],
        "best_test_score": None if best is None else best["test_score"],
        "out": None if args.out is None else str(args.out),
    }
    if args.json:
        print(json.dumps(_json_ready(summary)))
        return 0
    m = data.metric
    print(f"{data.name}: {len(result.rows)} configurations on {args.backend} in "
          f"{result.seconds:.2f} s ({summary['diverged']} diverged)")  # fmt: skip
    if best is None:
        print("every configuration diverged; no best model")
        return 1
    print(f"best #{best['index']}: val {m} {best['val_score']:.4f}, test {m} "
          f"{best['test_score']:.4f} | {best['config']}")  # fmt: skip
    if args.out is not None:
        print(f"wrote {args.out / 'results.csv'}, results.json and best.fastbp")
    return 0
