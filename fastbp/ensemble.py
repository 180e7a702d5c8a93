"""Ensemble: M networks of one spec, trained together in one compiled call on every core.

Deep ensembles, bagging, averaging over seeds, a sweep of learning rates, one model per series:
every member is a network of the same spec whose parameters are one row of ``ens.params``
(M, n_params), laid out as :attr:`fastbp.Network.params`.  :meth:`Ensemble.fit` trains all of
them with one compiled call per epoch that spreads the members over the cores
(:mod:`fastbp.ensemble_kernels`, :mod:`fastbp._parallel`); member i is exactly the network
``Network(spec, init=init, seed=seed + i)`` trained by ``fit(..., seed=seed + i)`` with its own
settings.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from fastbp import ensemble_train, train
from fastbp.history import History
from fastbp.init import INITIALISERS
from fastbp.io import ModelFileError, load_model, save_model
from fastbp.kernels import all_finite
from fastbp.lowering import Plan, lower
from fastbp.network import Network
from fastbp.optim import Optimizer, Schedule
from fastbp.preprocessing import Preprocessing, merged_arrays
from fastbp.spec import NetworkSpec
from fastbp.validate import as_features, as_targets, check_allocation, check_seed, positive_int

#: Names of the arrays an ensemble file holds beside a network file's (see :meth:`Ensemble.save`).
ENSEMBLE_ARRAYS = (
    "ensemble_params",
    "ensemble_s1",
    "ensemble_s2",
    "ensemble_steps",
    "ensemble_mus",
    "ensemble_last_lrs",
)


class Ensemble:
    """M networks of one spec, their parameters the rows of one (M, n_params) array.

    Parameters
    ----------
    spec : NetworkSpec
        The spec every member has.
    n_members : int
        M ≥ 1.
    init : str
        Initialiser from :data:`fastbp.init.INITIALISERS`, as for :class:`fastbp.Network`.
    seed : int
        Member i starts exactly as ``Network(spec, init=init, seed=seed + i)``.

    Notes
    -----
    Threads: :meth:`fit` and :meth:`partial_fit` run one compiled call per epoch (or per call)
    whose ``prange`` loop puts members on Numba's threads (``n_jobs``, default every core); a
    thread runs its members one after another in one workspace, so results never depend on
    ``n_jobs``.  Reads (:meth:`forward`, :meth:`predict`, ...) may run from many Python threads
    at once; a fit needs the ensemble to itself and is refused (RuntimeError) while anything
    else uses it.  How launches from several Python threads stay safe on each of Numba's
    threading layers is described in :mod:`fastbp._parallel`.
    """

    def __init__(
        self, spec: NetworkSpec, n_members: int, *, init: str = "xavier_normal", seed: int = 0
    ) -> None:
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
        if spec.has_dropout:
            raise ValueError("Ensemble does not support dropout; train Networks one by one")
        M = positive_int(n_members, "n_members")
        if not isinstance(init, str) or init not in INITIALISERS:
            raise ValueError(f"init = {init!r} is unknown; allowed: {sorted(INITIALISERS)}")
        seed = check_seed(seed)
        if seed is None:
            raise TypeError("seed must be an integer >= 0: member i is seeded with seed + i")
        self.spec = spec
        self.plan: Plan = lower(spec)
        self.init = init
        self.seed = seed
        check_allocation(
            M * self.plan.n_params * spec.np_dtype.itemsize, f"the parameters of {M} members"
        )
        self._params = np.zeros((M, self.plan.n_params), dtype=spec.np_dtype)
        initialiser = INITIALISERS[init]
        for i in range(M):  # the very draws of Network(spec, init, seed + i)
            rng = np.random.default_rng(seed + i)
            for k in range(1, spec.n_layers + 1):
                W, _ = self._layer(i, k)
                W[...] = initialiser(rng, spec.widths[k - 1], spec.widths[k])
        #: Every member's optimizer state (:class:`fastbp.ensemble_train.MemberState`), or None.
        self.state: ensemble_train.MemberState | None = None
        #: One :class:`~fastbp.history.History` per member, from the last :meth:`fit`, or None.
        self.histories: list[History] | None = None
        #: Each member's last learning rate (NaN before any training); partial_fit's default.
        self.last_lrs = np.full(M, np.nan)
        #: Feature (and target) standardisation applied by predict, score and to_onnx, or None.
        self.preprocessing: Preprocessing | None = None
        self._readers = 0
        self._writer: str | None = None
        self._mutex = threading.Lock()

    # ------------------------------------------------------------------ members
    def __len__(self) -> int:
        return self._params.shape[0]

    def __iter__(self) -> Iterator[Network]:
        for i in range(len(self)):
            yield self.member(i)

    @property
    def n_members(self) -> int:
        """M, the number of members."""
        return self._params.shape[0]

    @property
    def n_params(self) -> int:
        """Parameters per member (the width of :attr:`params`)."""
        return self.plan.n_params

    @property
    def params(self) -> np.ndarray:
        """The (M, n_params) parameter array itself; row i is member i's flat parameters."""
        return self._params

    @params.setter
    def params(self, value: np.ndarray) -> None:
        arr = np.asarray(value)
        if arr.shape != self._params.shape:
            raise ValueError(f"params must have shape {self._params.shape}, got {arr.shape}")
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"params must be numeric, got dtype {arr.dtype}")
        if not np.isfinite(arr).all():
            raise ValueError("params contain NaN or inf")
        with self.writing("a params assignment"):
            self._params[...] = arr

    @property
    def diverged(self) -> np.ndarray:
        """(M,) bool: which members diverged in the last :meth:`fit` (all False before one)."""
        if self.histories is None:
            return np.zeros(len(self), dtype=bool)
        return np.array([h.diverged for h in self.histories], dtype=bool)

    def _layer(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        p = self.plan
        n_out, n_in = int(p.widths[k]), int(p.widths[k - 1])
        w0, b0 = int(p.w_off[k - 1]), int(p.b_off[k - 1])
        row = self._params[i]
        return row[w0 : w0 + n_out * n_in].reshape(n_out, n_in), row[b0 : b0 + n_out]

    def member(self, i: int) -> Network:
        """Member i as an independent :class:`fastbp.Network` (a copy, not a view).

        The copy holds member i's parameters, optimizer state, history, last learning rate and
        the ensemble's preprocessing; changing it does not change the ensemble (write it back
        with ``ens.params[i] = net.params``).

        Parameters
        ----------
        i : int
            0 ≤ i < M (negative indices count from the end).

        Returns
        -------
        fastbp.Network
        """
        M = len(self)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -M <= i < M:
            raise IndexError(f"member index must be an integer in [-{M}, {M}), got {i!r}")
        i = int(i) % M
        net = Network(self.spec, init="zeros")
        net.init, net.seed = self.init, self.seed + i
        with self.reading():
            net.params[...] = self._params[i]
            if self.state is not None:
                net.optimizer = self.state.member(i)
            if self.histories is not None:
                net.history = History.from_dict(self.histories[i].to_dict())
            if np.isfinite(self.last_lrs[i]):
                net.lowered.last_lr = float(self.last_lrs[i])
        net.preprocessing = None if self.preprocessing is None else self.preprocessing.copy()
        return net

    # ------------------------------------------------------------------ the guard
    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Hold the ensemble alone (fit, partial_fit, params assignment); refuse at once
        (RuntimeError) if anything else uses it.

        Parameters
        ----------
        what : str
            The operation, for the error message of a refused call.

        Yields
        ------
        None
            While the ensemble is held.

        Raises
        ------
        RuntimeError
            If another thread is reading or writing the ensemble.
        """
        with self._mutex:
            busy = self._writer or (f"{self._readers} read(s)" if self._readers else None)
            if busy is None:
                self._writer = what
        if busy is not None:
            raise RuntimeError(
                f"this Ensemble is already in use in another thread ({busy}); {what} needs it "
                f"to itself: serialise the calls, or use one Ensemble per thread"
            )
        try:
            yield
        finally:
            self._writer = None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A read (forward, predict, member, save): many at once, none during a write.

        Yields
        ------
        None
            While the read is registered.

        Raises
        ------
        RuntimeError
            If a fit, partial_fit or params assignment is running in another thread.
        """
        with self._mutex:
            busy = self._writer
            if busy is None:
                self._readers += 1
        if busy is not None:
            raise RuntimeError(
                f"this Ensemble is busy in another thread ({busy}); reads can run from many "
                f"threads at once, but not during fit, partial_fit or a params assignment"
            )
        try:
            yield
        finally:
            with self._mutex:
                self._readers -= 1

    def check_params(self) -> None:
        """Raise ValueError if any member's parameters are not finite."""
        with np.errstate(invalid="ignore"):
            bad = [i for i in range(len(self)) if not all_finite(self._params[i])]
        if bad:
            raise ValueError(
                f"the parameters of members {bad[:20]} contain NaN or inf; they must be finite"
            )

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        *,
        epochs: int = 20,
        batch_size: int = 1,
        optimizer: str | Optimizer = "sgd",
        lr: float | np.ndarray = 0.01,
        momentum: float | np.ndarray = 0.9,
        l2: float | np.ndarray = 0.0,
        schedule: str | Schedule = "constant",
        shuffle: bool = True,
        validation_fraction: float = 0.0,
        early_stopping: bool = False,
        patience: int = 5,
        min_delta: float = 0.0,
        seed: int = 0,
        bootstrap: bool = False,
        warm_start: bool = False,
        n_jobs: int | None = None,
        progress: bool = True,
        weight_decay: float | None = None,
        clip_norm: float | None = None,
        warmup: int = 0,
        client=None,
    ) -> list[History]:
        """Train every member in place, members spread over the cores.

        Member i's result equals ``Network(spec, init=init, seed=self.seed + i)`` trained by
        ``Network.fit`` with ``seed=seed + i`` and member i's ``lr``, ``momentum`` and ``l2``
        (bit for bit: it runs the same kernel on its own row), the toolbox options included.

        Parameters
        ----------
        X : array_like
            Shared rows (n, n0), or one block per member (M, n, n0) (one model per series).
            Shared rows are never copied.
        Y : array_like
            Targets for shared X, in any form :meth:`fastbp.Network.fit` takes; for per-member
            X, (M, n) or (M, n, nr).
        epochs, batch_size, optimizer, schedule, shuffle, validation_fraction, early_stopping, \
patience, min_delta, warm_start, progress
            As for :meth:`fastbp.Network.fit`; early stopping and divergence act per member.
        lr, momentum, l2 : float or array_like
            A value for every member, or one per member (M,): a sweep in one call.
        seed : int
            Member i shuffles (and splits off its validation rows) with ``seed + i``.
        weight_decay, clip_norm, warmup
            As for :meth:`fastbp.Network.fit` (``optimizer="adamw"`` too), one value shared by
            the members; with any of them on, every batch (per-example SGD too) runs the
            toolbox step (:mod:`fastbp.toolbox_kernels`).
        bootstrap : bool
            Train member i on its own resample of the n rows, drawn with replacement by
            :func:`fastbp.ensemble_train.bootstrap_indices` (``np.random.default_rng(
            [0xB007, seed + i])``); rows are indexed, never copied.
        n_jobs : int or None
            Threads (None or -1: every core Numba may use, ``NUMBA_NUM_THREADS``).  The results
            do not depend on it.
        client : dask.distributed.Client, optional
            Shard the members over a Dask cluster instead (:mod:`fastbp.ensemble_dask`); the
            results are identical to a local fit.

        Returns
        -------
        list of History
            One per member (also :attr:`histories`); ``History.diverged`` flags a member that
            diverged (restored to its last good epoch and stopped), ``stopped_early`` one that
            early stopping stopped.

        Warns
        -----
        MemberDivergedWarning
            When some members diverged.

        Raises
        ------
        fastbp.FitDivergedError
            When every member diverged (each was restored first).
        """
        kwargs: dict[str, Any] = dict(
            epochs=epochs,
            batch_size=batch_size,
            optimizer=optimizer,
            lr=lr,
            momentum=momentum,
            l2=l2,
            schedule=schedule,
            shuffle=shuffle,
            validation_fraction=validation_fraction,
            early_stopping=early_stopping,
            patience=patience,
            min_delta=min_delta,
            seed=seed,
            bootstrap=bootstrap,
            warm_start=warm_start,
            n_jobs=n_jobs,
            progress=progress,
            weight_decay=weight_decay,
            clip_norm=clip_norm,
            warmup=warmup,
        )
        if client is not None:
            from fastbp.ensemble_dask import fit_on_cluster

            return fit_on_cluster(self, X, Y, client=client, **kwargs)
        return ensemble_train.fit(self, X, Y, **kwargs)

    def partial_fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        *,
        optimizer: str | Optimizer | None = None,
        lr: float | np.ndarray | None = None,
        momentum: float | np.ndarray | None = None,
        l2: float | np.ndarray = 0.0,
        batch_size: int = 1,
        n_jobs: int | None = None,
        weight_decay: float | None = None,
        clip_norm: float | None = None,
        warmup: int = 0,
    ) -> np.ndarray:
        """One pass of every member over the rows, in order, in one compiled call.

        For populations that learn online.  Each member continues its own optimizer state
        and last learning rate, as :meth:`fastbp.Network.partial_fit` does for one network.

        Parameters
        ----------
        X, Y : array_like
            Shared rows (m, n0) or per-member blocks (M, m, n0), as for :meth:`fit`.
        optimizer, lr, momentum, l2, batch_size, weight_decay, clip_norm, warmup
            As for :meth:`fastbp.Network.partial_fit`; ``lr``, ``momentum`` and ``l2`` may
            also be one value per member.
        n_jobs : int or None
            Threads, as for :meth:`fit`.

        Returns
        -------
        numpy.ndarray
            (M,) each member's mean loss over the rows (NaN for a member that diverged: it is
            restored to before the call, with a :class:`MemberDivergedWarning`).
        """
        return ensemble_train.partial_fit(
            self,
            X,
            Y,
            optimizer=optimizer,
            lr=lr,
            momentum=momentum,
            l2=l2,
            batch_size=batch_size,
            n_jobs=n_jobs,
            weight_decay=weight_decay,
            clip_norm=clip_norm,
            warmup=warmup,
        )

    # ------------------------------------------------------------------ using it
    def forward(self, X: Any, *, n_jobs: int | None = None) -> np.ndarray:
        """Every member's outputs for the rows of X, shape (M, n, nr), in the network's units.

        Parameters
        ----------
        X : array_like
            (n, n0) rows.
        n_jobs : int or None
            Threads, as for :meth:`fit`.

        Returns
        -------
        numpy.ndarray
            (M, n, nr) as :meth:`fastbp.Network.forward` gives per member.
        """
        X = as_features(X, self.spec, lazy=False)
        idx = np.arange(X.shape[0], dtype=np.int64)[None]
        from fastbp import _parallel

        with self.reading():
            self.check_params()
            out, _ = ensemble_train.member_outputs(
                self,
                X[None],
                np.zeros((1, 1, self.spec.n_outputs), self.spec.np_dtype),
                idx,
                np.ones(len(self), np.int64),
                _parallel.resolve_n_jobs(n_jobs),
                False,
            )
        return out

    def _user_outputs(self, X: np.ndarray) -> np.ndarray:
        pre = self.preprocessing
        if pre is None:
            return self.forward(X)
        out = self.forward(pre.to_network_inputs(X, self.spec))
        return np.stack([pre.to_user_outputs(o) for o in out])

    def predict(self, X: np.ndarray, *, return_std: bool = False):
        """The ensemble's prediction: the mean over members.

        Regression: the mean output (n, nr), as :meth:`fastbp.Network.predict` gives per
        member, and with ``return_std`` its standard deviation over the members.
        Classification: the labels of the averaged probabilities.  In the user's units, with
        :attr:`preprocessing` applied as :meth:`fastbp.Network.predict` does.

        Parameters
        ----------
        X : array_like
            (n, n0) rows.
        return_std : bool
            Also return the standard deviation over the members (regression only).

        Returns
        -------
        numpy.ndarray or tuple of numpy.ndarray
            The prediction, or ``(mean, std)``.
        """
        out = self._user_outputs(X)
        mean = out.mean(axis=0)
        loss = self.spec.loss
        if return_std:
            if self.spec.loss_record.task != "regression":
                raise ValueError(
                    "return_std=True is for regression; use predict_proba for "
                    f"the members' probabilities (this ensemble is {loss!r})"
                )
            return mean, out.std(axis=0)
        if self.spec.output_activation == "softmax":
            return mean.argmax(axis=1)
        if self.spec.output_activation == "sigmoid":
            labels = (mean >= 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return mean

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The members' averaged class probabilities, shape (n, nr).

        Parameters
        ----------
        X : array_like
            (n, n0) rows.

        Returns
        -------
        numpy.ndarray
        """
        if self.spec.loss_record.task == "regression":
            raise ValueError(
                f"predict_proba needs a classification loss; this ensemble is {self.spec.loss!r}"
            )
        return self._user_outputs(X).mean(axis=0)

    def score(self, X: np.ndarray, Y: np.ndarray) -> float:
        """R² of the mean prediction (regression) or accuracy of the averaged probabilities.

        Parameters
        ----------
        X, Y : array_like
            Rows and targets, as for :meth:`fastbp.Network.score`.

        Returns
        -------
        float
        """
        if self.preprocessing is None:
            X = as_features(X, self.spec, lazy=False)
        mean = self._user_outputs(X).mean(axis=0)
        Y_true = as_targets(Y, self.spec, mean.shape[0], lazy=False)
        return train.score(self.spec.loss, mean, Y_true)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> Path:
        """Write the ensemble to one file, atomically, without pickle.

        The file is a :meth:`fastbp.Network.save` file (member 0's parameters in the place of a
        network's, so ``Network.load`` reads member 0) with the arrays of every member beside
        them: ``ensemble_params`` (M, n_params), the optimizer state and last learning rates,
        and every member's history in the metadata.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write.
        metadata : dict, optional
            JSON-ready metadata of your own.

        Returns
        -------
        pathlib.Path
        """
        with self.reading():
            arrays = {"ensemble_params": self._params, "ensemble_last_lrs": self.last_lrs}
            record: dict = {
                "n_members": len(self),
                "optimizer": None,
                "histories": None
                if self.histories is None
                else [h.to_dict() for h in self.histories],
            }
            if self.state is not None:
                arrays.update(
                    ensemble_s1=self.state.S1,
                    ensemble_s2=self.state.S2,
                    ensemble_steps=self.state.steps,
                    ensemble_mus=self.state.mus,
                )
                record["optimizer"] = self.state.settings.settings()
            meta = {"fastbp_ensemble": record, "user": metadata}
            return save_model(
                path,
                self.spec,
                self._params[0],
                init=self.init,
                seed=self.seed,
                arrays=merged_arrays(self.preprocessing, arrays),
                metadata=meta,
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Ensemble:
        """Read a file written by :meth:`save` (no pickle; every array checked).

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        Ensemble
        """
        loaded = load_model(path)
        where = os.fspath(path)
        meta = loaded.metadata or {}
        record = meta.get("fastbp_ensemble") if isinstance(meta, dict) else None
        arrays = dict(loaded.arrays)
        P = arrays.pop("ensemble_params", None)
        if not isinstance(record, dict) or P is None:
            raise ModelFileError(
                f"{where}: not an ensemble file (written by Network.save?); "
                f"load it with fastbp.Network.load"
            )
        M = record.get("n_members")
        spec = loaded.spec
        n_params = lower(spec).n_params
        if not isinstance(M, int) or M < 1 or P.shape != (M, n_params) or P.dtype != spec.np_dtype:
            raise ModelFileError(
                f"{where}: ensemble_params has shape {P.shape} and dtype "
                f"{P.dtype}; expected ({M}, {n_params}) {spec.dtype}"
            )
        if not np.isfinite(P).all():
            raise ModelFileError(f"{where}: ensemble_params contain NaN or inf")
        seed = loaded.seed if isinstance(loaded.seed, int) else 0
        ens = cls(spec, M, init="zeros", seed=seed)
        ens.init = loaded.init or "zeros"
        ens.params = P  # the setter copies P into the (M, n_params) array
        lrs = arrays.pop("ensemble_last_lrs", None)
        ens.last_lrs = (
            np.full(M, np.nan) if lrs is None or lrs.shape != (M,) else lrs.astype(np.float64)
        )
        opt = record.get("optimizer")
        state_arrays = [arrays.pop(k, None) for k in ENSEMBLE_ARRAYS[1:5]]
        if opt is not None:
            try:
                settings = Optimizer(**opt)
                S1, S2, steps, mus = state_arrays
                if S1 is None or S2 is None or steps is None or mus is None:
                    raise ValueError("optimizer state arrays missing")
                state = ensemble_train.MemberState(
                    settings, np.asarray(mus, np.float64), S1, S2, steps
                )
                if (
                    mus is None
                    or mus.shape != (M,)
                    or not state.fits(settings.name, M, n_params, spec.np_dtype)
                    or steps.shape != (M, 1)
                    or steps.dtype != np.int64
                ):
                    raise ValueError("optimizer state arrays of the wrong shape")
            except (TypeError, ValueError, AttributeError) as exc:
                raise ModelFileError(f"{where}: bad ensemble optimizer record: {exc}") from None
            ens.state = state
        hist = record.get("histories")
        if hist is not None:
            try:
                ens.histories = [History.from_dict(h) for h in hist]
            except (TypeError, ValueError) as exc:
                raise ModelFileError(f"{where}: bad history record: {exc}") from None
        try:
            ens.preprocessing = Preprocessing.from_arrays(arrays)
            if ens.preprocessing is not None:
                ens.preprocessing.check(spec)
        except ValueError as exc:
            raise ModelFileError(f"{where}: {exc}") from None
        return ens

    def to_onnx(
        self,
        path: str | os.PathLike,
        *,
        opset: int | None = None,
        dtype: str | None = None,
        preprocessing: bool = True,
    ) -> Path:
        """Write an ONNX model of the ensemble mean (input ``X``, output ``Y``): the average of
        the members' outputs (values or probabilities), preprocessing built in as for
        :meth:`fastbp.Network.to_onnx`.  Needs ``fastbp[onnx]``.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write.
        opset : int, optional
            ONNX opset (default 17).
        dtype : {"float32", "float64"}, optional
            The graph's dtype (default: the ensemble's).
        preprocessing : bool
            Build the preprocessing into the graph.

        Returns
        -------
        pathlib.Path
        """
        from fastbp.interop.onnx_export import ensemble_to_onnx

        return ensemble_to_onnx(self, path, opset=opset, dtype=dtype, preprocessing=preprocessing)

    def __repr__(self) -> str:
        return (
            f"Ensemble({self.spec!r}, n_members={len(self)}, n_params={self.n_params}, "
            f"init={self.init!r}, seed={self.seed!r})"
        )


__all__ = ["Ensemble"]
