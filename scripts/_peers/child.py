"""One peer subprocess: ``python scripts/_peers/child.py '<job as JSON>'``.

Pins itself to the job's cores and fixes the thread counts before anything heavy is imported,
then imports the tool's module (and so its library), runs the job and prints one line
``@@RESULT <json>`` on stdout.  Job kinds: ``train`` (W1–W3), ``grad`` (W4, W5), ``cold`` (W6:
this process's own start-up is what is measured), ``peak`` (the matmul yardstick).
"""

import time

WALL_START = time.time()
T_START = time.perf_counter()

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

# Import the package _peers from scripts/, not modules from this folder by their bare names.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from _peers import env  # noqa: E402
from _peers.env import MARKER  # noqa: E402


def run(job: dict) -> object:
    if job["kind"] == "peak":
        from _peers import common

        res = common.run_peak(job)
        res["blas"] = common.blas_info()
        return res
    try:
        tool = importlib.import_module(f"_peers.tool_{job['module']}")
    except ImportError as exc:
        if (getattr(exc, "name", None) or "").split(".")[0] != job["library"]:
            raise
        return {"status": "missing", "reason": f"{type(exc).__name__}: {exc}"}
    tool.setup(job["threads"])
    t_imported = time.perf_counter()
    from _peers import common

    if job["kind"] == "cold":
        import numpy as np

        ref = np.load(job["ref"])
        X, Y, p0 = ref["X"][:1], ref["Y"][:1], ref["p0"]
        trainer = tool.Trainer(job, common.unflatten(p0, job["widths"]), X, Y)
        trainer.epoch()
        done = time.perf_counter()
        res = {"status": "ok", "wall_start": WALL_START, "wall_done": time.time(),
               "import_s": t_imported - T_START, "step_s": done - t_imported}  # fmt: skip
    elif job["kind"] == "train":
        res = common.run_train(job, tool)
    else:
        res = common.run_grad(job, tool)
    extra = {"versions": tool.versions(), "blas": common.blas_info()}
    if isinstance(res, list):
        return [dict(r, **extra) for r in res]
    return dict(res, **extra)


def _plain(value: object) -> object:
    """numpy scalars (and anything else json refuses) as plain Python values."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def main() -> None:
    job = json.loads(sys.argv[1])
    env.pin(job["cores"], job["threads"])
    try:
        res = run(job)
    except Exception as exc:  # report, do not crash the whole benchmark
        res = {"status": "error", "reason": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc()[-4000:]}  # fmt: skip
    print(MARKER + json.dumps(res, default=_plain), flush=True)


if __name__ == "__main__":
    main()
