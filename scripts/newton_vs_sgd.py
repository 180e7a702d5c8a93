"""Newton-CG with exact Hessian-vector products against plain SGD, loss against wall time.

Trains the same small network (default 10-16-1 tanh, squared loss) from the same initial
parameters on the diabetes data (442 patients, 10 features; X and y standardised) twice:

* ``scipy.optimize.minimize(method="Newton-CG")`` through :func:`fastbp.curvature.scipy_objective`
  (full-batch loss and gradient, H v by the R-operator, one CG solve per Newton step);
* minibatch SGD (``Network.fit(optimizer="sgd")``, one epoch per call).

The full-batch training loss is evaluated at checkpoints outside the timed region, and a table of
loss against cumulative wall time is printed for both.  Needs SciPy.  Run::

    python scripts/newton_vs_sgd.py --newton-iters 60 --epochs 300
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastbp as fb
from fastbp.curvature import scipy_objective


def load_data(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Diabetes X (442, 10) and y (442,), both standardised to mean 0 and variance 1."""
    try:
        from fastbp.datasets import load_diabetes

        data = load_diabetes()
        X, y = np.asarray(data.X, dtype=np.float64), np.asarray(data.y, dtype=np.float64)
    except ImportError:  # fastbp.datasets not there yet: the same data from scikit-learn
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y - y.mean()) / y.std()
    return X.astype(dtype), y.astype(dtype)


def checkpoints(n: int, count: int) -> set[int]:
    """About ``count`` roughly log-spaced steps in 1..n, always including n."""
    steps = np.unique(np.geomspace(1, max(n, 1), num=count).round().astype(int))
    return {int(s) for s in steps} | {n}


def run_newton(net: fb.Network, X, y, iters: int) -> list[tuple[int, float, float]]:
    """Newton-CG from net's parameters; rows (iteration, seconds, loss).  Sets net.params."""
    import scipy.optimize

    fun, jac, hessp = scipy_objective(net, X, y)
    rows = [(0, 0.0, fun(net.params.astype(np.float64)))]
    paused = 0.0
    start = time.perf_counter()

    def callback(xk: np.ndarray) -> None:
        nonlocal paused
        pause = time.perf_counter()
        elapsed = pause - start - paused
        rows.append((len(rows), elapsed, fun(xk)))
        paused += time.perf_counter() - pause

    result = scipy.optimize.minimize(
        fun, net.params.astype(np.float64), jac=jac, hessp=hessp, method="Newton-CG",
        callback=callback, options={"maxiter": iters, "xtol": 1e-10},
    )  # fmt: skip
    net.params = result.x
    return rows


def run_sgd(
    net: fb.Network, X, y, epochs: int, batch_size: int, lr: float
) -> list[tuple[int, float, float]]:
    """Minibatch SGD from net's parameters; rows (epoch, seconds, loss) at log-spaced epochs."""
    rows = [(0, 0.0, net.loss(X, y))]
    keep = checkpoints(epochs, 25)
    elapsed = 0.0
    rng = np.random.default_rng(0)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        if hasattr(net, "fit"):
            net.fit(
                X, y, epochs=1, batch_size=batch_size, optimizer="sgd", lr=lr, shuffle=True,
                seed=epoch, progress=False,
            )  # fmt: skip
        else:
            order = rng.permutation(X.shape[0])
            for lo in range(0, X.shape[0], batch_size):
                batch = order[lo : lo + batch_size]
                _, grad = net.loss_and_gradient(X[batch], y[batch])
                net.params -= lr * grad
        elapsed += time.perf_counter() - start
        if epoch in keep:
            rows.append((epoch, elapsed, net.loss(X, y)))
    return rows


def print_table(title: str, step_name: str, rows: list[tuple[int, float, float]]) -> None:
    print(f"\n{title}")
    print(f"{step_name:>9} {'seconds':>10} {'train loss':>12}")
    for step, seconds, loss in rows:
        print(f"{step:>9d} {seconds:>10.4f} {loss:>12.6f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=16, help="hidden width (default 16)")
    parser.add_argument("--activation", default="tanh", choices=sorted(fb.ACTIVATIONS))
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--newton-iters", type=int, default=60, help="Newton-CG iterations")
    parser.add_argument("--epochs", type=int, default=300, help="SGD epochs")
    parser.add_argument("--batch-size", type=int, default=16, help="SGD minibatch size")
    parser.add_argument("--lr", type=float, default=0.02, help="SGD learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial parameters")
    args = parser.parse_args(argv)

    X, y = load_data(args.dtype)
    spec = fb.NetworkSpec([X.shape[1], args.hidden, 1], [args.activation], "squared", args.dtype)
    start_net = fb.Network(spec, seed=args.seed)
    print(f"{spec}, {spec.n_params} parameters, {X.shape[0]} examples (X and y standardised)")

    # Compile every kernel (or load it from the cache) before anything is timed.
    warm = start_net.copy()
    run_newton(warm, X, y, iters=1)
    run_sgd(warm, X, y, epochs=1, batch_size=args.batch_size, lr=args.lr)

    newton = run_newton(start_net.copy(), X, y, args.newton_iters)
    sgd = run_sgd(start_net.copy(), X, y, args.epochs, args.batch_size, args.lr)
    keep = checkpoints(len(newton) - 1, 25) | {0}
    shown = [row for row in newton if row[0] in keep]
    print_table("Newton-CG (exact H v products)", "iteration", shown)
    print_table(f"SGD (batch {args.batch_size}, lr {args.lr:g})", "epoch", sgd)

    best_sgd = min(loss for _, _, loss in sgd)
    reached = next((row for row in newton if row[2] <= best_sgd), None)
    print(
        f"\nfinal loss: Newton-CG {newton[-1][2]:.6f} after {newton[-1][1]:.3f} s; "
        f"SGD {sgd[-1][2]:.6f} after {sgd[-1][1]:.3f} s"
    )
    if reached is not None:
        print(
            f"Newton-CG reached SGD's best loss {best_sgd:.6f} after iteration {reached[0]} "
            f"({reached[1]:.3f} s)"
        )


if __name__ == "__main__":
    main()
