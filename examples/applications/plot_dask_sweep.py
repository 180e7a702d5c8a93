"""
A hyper-parameter sweep on a local Dask cluster
===============================================

:func:`fastbp.sweep.run` trains every configuration of a grid and ranks them by validation
score. With ``backend="dask"`` it starts a ``LocalCluster`` (one single-threaded process per
worker), sends the data to each worker once, and collects one table that is bit-identical to
the serial backend's. Needs ``pip install "fastbp[dask]"``.
"""

import matplotlib.pyplot as plt

from fastbp import sweep

grid = {
    "hidden": [[16], [32, 32]],
    "lr": [0.003, 0.01, 0.03],
    "optimizer": ["sgd", "momentum"],
    "epochs": 8,
}

if __name__ == "__main__":  # the Dask workers are new processes that import this file
    result = sweep.run(grid, "digits", backend="dask", n_jobs=2, progress=False)
    best = result.best
    print(f"{len(result.rows)} configurations in {result.seconds:.1f} s on 2 Dask workers")
    print(
        f"best: {best['config']} validation accuracy {best['val_score']:.3f}, "
        f"test accuracy {best['test_score']:.3f}"
    )

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for hidden in grid["hidden"]:
        for optimizer, marker in [("sgd", "o"), ("momentum", "s")]:
            rows = [
                r
                for r in result.rows
                if r["config"]["hidden"] == hidden and r["config"]["optimizer"] == optimizer
            ]
            ax.semilogx(
                [r["config"]["lr"] for r in rows],
                [r["val_score"] for r in rows],
                marker=marker,
                label=f"hidden {hidden}, {optimizer}",
            )
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{len(result.rows)} configurations on a 2-worker LocalCluster")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
