"""Process set-up for a peer subprocess: CPU pinning and thread counts.  Standard library only.

Everything here must happen before numpy, torch or jax is loaded: BLAS, OpenMP and XLA read
their thread settings once, when they start.  The parent puts the variables into the child's
environment; :func:`pin` repeats them in-process, so a child started by hand behaves the same.
"""

from __future__ import annotations

import os

#: Prefix of the one stdout line on which a child reports its result as JSON.
MARKER = "@@RESULT "

#: Thread-count variables read by the BLAS/OpenMP runtimes and by Numba.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

#: Set on some processors because older OpenBLAS builds misbehave there; they make a current
#: numpy pick a slower kernel.  Unset together, for benchmark children only (never in tests).
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def xla_flags(threads: int) -> str:
    """XLA's CPU flags for ``threads`` threads (Eigen's thread pool off for one thread)."""
    if threads == 1:
        return "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"


def child_env(
    base: dict[str, str], threads: int, unset_openblas: bool = True
) -> tuple[dict[str, str], dict[str, str]]:
    """(environment for a peer child, the OpenBLAS overrides removed from it with their values)."""
    env = dict(base)
    for name in THREAD_VARS:
        env[name] = str(threads)
    env["XLA_FLAGS"] = xla_flags(threads)
    env["JAX_PLATFORMS"] = "cpu"
    removed = {}
    if unset_openblas:
        removed = {name: env.pop(name) for name in OPENBLAS_OVERRIDES if name in env}
    return env, removed


def pin(cores: list[int], threads: int) -> None:
    """Pin this process to ``cores`` and set the thread variables (call before any import)."""
    os.sched_setaffinity(0, set(cores))
    for name in THREAD_VARS:
        os.environ[name] = str(threads)
    os.environ.setdefault("XLA_FLAGS", xla_flags(threads))


def run_script_child(
    script: str, job: dict, root: str, timeout: float = 1800, threads: int = 1
) -> dict:
    """Run ``python <script> --child '<job as JSON>'`` with ``threads`` threads; its result.

    The child is expected to :func:`pin` itself and print one ``MARKER`` line (the scripts
    ``bench_sklearn_fit.py`` and ``bench_streaming.py`` and ``_peers/ensemble.py`` do); ``root``
    goes first on its PYTHONPATH, so it imports this checkout's fastbp.

    Returns
    -------
    dict
        The child's result, or ``{"status": "error", "reason": ...}`` (also on a timeout).
    """
    import json
    import subprocess
    import sys

    env, _ = child_env(dict(os.environ), threads)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    try:
        proc = subprocess.run([sys.executable, script, "--child", json.dumps(job)], env=env,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "reason": f"no result within {timeout:g} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    return {"status": "error", "reason": (proc.stderr or proc.stdout)[-2000:]}
