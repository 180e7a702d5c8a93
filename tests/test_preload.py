"""Background loading of cached kernels (fastbp.preload) and the lean cache loader (fastbp._cache).

Each check runs in fresh processes with their own ``FASTBP_CACHE_DIR``, as a new user's do: one
process fills the cache, the next imports ``fastbp.sklearn`` and must find the estimators'
kernels loaded, without compiling anything, and with results equal to a process that loaded
nothing in the background.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled or loaded"
)

CHILD = """
import json, sys
import numpy as np
from fastbp import preload
from fastbp.sklearn import MLPClassifier
from fastbp.epochs import minibatch_epoch_blas
from fastbp.compiling import CompileWatch
preload.wait()
before = len(minibatch_epoch_blas.overloads)
rng = np.random.default_rng(0)
X = rng.standard_normal((300, 8))
y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
est = MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
with CompileWatch() as watch:
    est.partial_fit(X, y, classes=np.arange(3))
    est.partial_fit(X, y)
print(json.dumps({"before": before, "after": len(minibatch_epoch_blas.overloads),
                  "compiled": watch.compilations, "params": est.network_.params.tolist()}))
"""


def _run(cache: Path, **env_extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "FASTBP_PRELOAD")}
    env.update(FASTBP_CACHE_DIR=str(cache), **env_extra)
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_first_call_finds_the_kernels_loaded_and_nothing_compiles_in_the_background(tmp_path):
    empty = _run(tmp_path)  # an empty cache: the background loads nothing, the call compiles
    assert empty["before"] == 0 and empty["compiled"] > 0
    warm = _run(tmp_path)  # the cache filled: loaded in the background before the first call
    assert warm["before"] == 1 and warm["after"] == 1 and warm["compiled"] == 0
    off = _run(tmp_path, FASTBP_PRELOAD="0")  # turned off: the call loads it itself
    assert off["before"] == 0 and off["after"] == 1 and off["compiled"] == 0
    # Compiled, loaded in the background, loaded by the call: the same weights.
    assert empty["params"] == warm["params"] == off["params"]
