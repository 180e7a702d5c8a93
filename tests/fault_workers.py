"""Child-process programs for tests/test_faults.py: real processes, real signals.

``python tests/fault_workers.py save-kill DIR TRIALS SEED``
    Imports fastbp once, then for each trial forks a worker that saves a 12 MB model to
    ``DIR/model.fastbp`` in a loop (every value of save k is k, and the metadata records k too)
    and reports each completed save on a pipe.  After a random delay the worker is killed with
    SIGKILL, usually in the middle of a save.  The file must then load, hold one complete save
    (all parameters equal to its metadata's k) and be no older than the last save the worker
    reported.  Prints one JSON line of counts.

``python tests/fault_workers.py fit-until-sigint OUT BATCH OPTIMIZER``
    Runs a long ``fit`` (progress=False) and prints ``epoch E`` on stdout as epoch E starts;
    the parent sends SIGINT.  Then replays ``len(history)`` epochs on a fresh network, saves
    both networks' parameters and optimizer states to ``OUT`` (.npz) and prints
    ``{"epochs": len(history), "interrupted": ...}``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np

import fastbp as fb

#: The fit of ``fit-until-sigint``; the parent replays it with the same settings.
FIT_SPEC = {"widths": [16, 48, 48, 4], "activations": ["tanh", "relu"], "loss": "squared"}
FIT_ROWS = 1500
TMP_NAME = re.compile(r"^\.model\.fastbp\..+\.tmp$")


def fit_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(FIT_ROWS, FIT_SPEC["widths"][0]))
    return X, np.tanh(X[:, :4] + 0.1 * rng.normal(size=(FIT_ROWS, 4)))


class EpochMarker(fb.optim.Schedule):
    """A constant schedule that prints ``epoch E`` as each epoch starts (inside fit's loop)."""

    def rate(self, lr: float, epoch: int, epochs: int) -> float:
        print(f"epoch {epoch}", flush=True)
        return super().rate(lr, epoch, epochs)


def fit_until_sigint(out: Path, batch_size: int, optimizer: str) -> int:
    """Fit until SIGINT, then replay as many epochs on a fresh network, in this same process.

    The replay runs here, not in the parent, so that both use the same compiled code: a process
    that compiled a kernel and one that loaded it from the disk cache can differ in the last bit
    (see the report of the hardening work).
    """
    X, Y = fit_data()
    kwargs = {"batch_size": batch_size, "optimizer": optimizer, "lr": 1e-3, "seed": 0,
              "progress": False}  # fmt: skip
    net = fb.Network(fb.NetworkSpec(**FIT_SPEC), seed=0)
    hist = net.fit(X, Y, epochs=10**6, schedule=EpochMarker("constant"), **kwargs)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a late second SIGINT must not stop the replay
    replay = fb.Network(fb.NetworkSpec(**FIT_SPEC), seed=0)
    replay.fit(X, Y, epochs=len(hist), schedule="constant", **kwargs)
    state = {f"state_{k}": v for k, v in net.optimizer.state_arrays().items()}
    replay_state = {f"replay_state_{k}": v for k, v in replay.optimizer.state_arrays().items()}
    np.savez(out, params=net.params, replay_params=replay.params, **state, **replay_state)
    print(json.dumps({"epochs": len(hist), "interrupted": hist.interrupted}), flush=True)
    return 0


def save_kill(directory: Path, trials: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    path = directory / "model.fastbp"
    spec = fb.NetworkSpec([512, 1024, 512, 10], ["relu", "relu"], "squared")  # 1.05 M params
    net = fb.Network(spec, init="zeros")
    counts = {"trials": 0, "intact": 0, "mid_save": 0, "corrupted": 0, "stale": 0, "errors": []}
    for trial in range(trials):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: save forever, report each completed save
            os.close(read_fd)
            try:
                k = (trial + 1) * 10**6
                while True:
                    k += 1
                    net.params[...] = k
                    net.save(path, metadata={"k": k})
                    os.write(write_fd, b"%d\n" % k)
            finally:
                os._exit(1)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as reports:
            first = reports.readline()  # one complete save of this trial
            time.sleep(float(rng.uniform(0.0, 0.25)))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            lines = [first, *reports.read().splitlines()]
        last_reported = max(int(x) for x in lines if x.strip())
        counts["trials"] += 1
        leftovers = sorted(p.name for p in directory.iterdir() if p.name != "model.fastbp")
        if any(not TMP_NAME.match(name) for name in leftovers):
            counts["errors"].append(f"trial {trial}: unexpected files {leftovers}")
        counts["mid_save"] += bool(leftovers)
        for name in leftovers:  # a killed save's temporary file: documented, safe to delete
            (directory / name).unlink()
        try:
            loaded = fb.Network.load(path)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            counts["corrupted"] += 1
            counts["errors"].append(f"trial {trial}: {type(exc).__name__}: {exc}")
            continue
        k = loaded.metadata["k"]
        if not np.all(loaded.params == k):
            counts["corrupted"] += 1
            counts["errors"].append(f"trial {trial}: parameters of more than one save (k={k})")
        elif not last_reported <= k <= last_reported + 1:
            counts["stale"] += 1
            counts["errors"].append(f"trial {trial}: file holds save {k}, last {last_reported}")
        else:
            counts["intact"] += 1
    print(json.dumps(counts), flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv[0] == "save-kill":
        return save_kill(Path(argv[1]), int(argv[2]), int(argv[3]))
    if argv[0] == "fit-until-sigint":
        return fit_until_sigint(Path(argv[1]), int(argv[2]), argv[3])
    raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
