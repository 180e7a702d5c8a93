"""scikit-learn's own MLP test module, run against :mod:`fastbp.sklearn` (a peer suite).

The installed ``sklearn/neural_network/tests/test_mlp.py`` is copied to a temporary directory
with its one import line changed to ``from fastbp.sklearn import MLPClassifier, MLPRegressor``
and run in a child pytest with ``-p sklearn.conftest`` (which provides its
``global_random_seed`` fixture).  Every case must pass, except these four, which set or call
scikit-learn's private internals that a third-party estimator legitimately lacks:
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn", reason="the peer suite needs fastbp[sklearn]")

#: Cases that use scikit-learn's private internals, with the reason each cannot pass.
PRIVATE_INTERNALS = {
    "test_fit": "sets private attributes (_coef_grads, _coef_velocity, ...) before partial_fit",
    "test_gradient": "calls the private _loss_grad_lbfgs with scikit-learn's gradient buffers",
    "test_learning_rate_warmstart": "reads the private _optimizer.learning_rate",
    "test_adaptive_learning_rate": "reads the private _optimizer.learning_rate",
}

SOURCE = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
RESULTS_PLUGIN = """
import json, os

def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        with open(os.environ["PEER_RESULTS"], "a") as fh:
            fh.write(json.dumps([report.nodeid, report.when, report.outcome]) + "\\n")
"""


def peer_module(tmp_path: Path) -> Path:
    text = SOURCE.read_text()
    assert text.count(IMPORT) == 1, "scikit-learn's test module no longer has the expected import"
    path = tmp_path / "test_mlp_peer.py"
    path.write_text(text.replace(IMPORT, "from fastbp.sklearn import MLPClassifier, MLPRegressor"))
    (tmp_path / "peer_results_plugin.py").write_text(RESULTS_PLUGIN)
    return path


@pytest.mark.slow
def test_sklearn_test_mlp_passes_against_fastbp(tmp_path):
    module = peer_module(tmp_path)
    results = tmp_path / "results.jsonl"
    deselect = []
    for name in PRIVATE_INTERNALS:
        deselect += ["--deselect", f"{module.name}::{name}"]
    env = dict(os.environ, PEER_RESULTS=str(results))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "sklearn.conftest", "-p",
         "peer_results_plugin", "-p", "no:cacheprovider", "-W",
         "ignore::DeprecationWarning", str(module.name), *deselect],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3000,
    )  # fmt: skip
    lines = results.read_text().splitlines() if results.exists() else []
    rows = [json.loads(line) for line in lines]
    outcomes = {}
    for nodeid, _when, outcome in rows:
        if outcome != "passed" or nodeid not in outcomes:
            outcomes[nodeid] = outcome
    failed = sorted(k for k, v in outcomes.items() if v == "failed")
    skipped = sorted(k for k, v in outcomes.items() if v == "skipped")
    passed = sorted(k for k, v in outcomes.items() if v == "passed")
    assert not failed, f"{len(failed)} failed: {failed}\n{proc.stdout[-6000:]}"
    assert not skipped, f"skipped: {skipped}\n{proc.stdout[-3000:]}"
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    # 59 cases in scikit-learn 1.9's module, less the four deselected ones.
    assert len(passed) >= 50, passed
