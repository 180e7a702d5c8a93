"""Forward and backward passes through the public API, and the W4 ratio gradient / forward."""

from __future__ import annotations

from .common import batch_setup, median_ratio, warm

WIDTHS = {"W1": [8, 32, 32, 1], "W2": [64, 256, 256, 1]}


class Forward:
    params = (["W1", "W2"], [1, 128], ["float32", "float64"])
    param_names = ["network", "batch", "dtype"]

    def setup(self, network: str, batch: int, dtype: str) -> None:
        self.net, self.X, self.Y = batch_setup(WIDTHS[network], batch, dtype)
        warm(lambda: self.net.forward(self.X))

    def time_forward(self, network: str, batch: int, dtype: str) -> None:
        self.net.forward(self.X)


class Backward:
    params = (["W1", "W2"], [1, 128], ["float32", "float64"])
    param_names = ["network", "batch", "dtype"]

    def setup(self, network: str, batch: int, dtype: str) -> None:
        self.net, self.X, self.Y = batch_setup(WIDTHS[network], batch, dtype)
        warm(lambda: self.net.loss_and_gradient(self.X, self.Y))

    def time_loss_and_gradient(self, network: str, batch: int, dtype: str) -> None:
        self.net.loss_and_gradient(self.X, self.Y)


class GradientOverForward:
    """W4: cost of loss_and_gradient / cost of forward on the W2 network (the lecture: a small
    constant)."""

    params = ([1, 128], ["float32", "float64"])
    param_names = ["batch", "dtype"]
    unit = "ratio"

    def setup(self, batch: int, dtype: str) -> None:
        self.net, self.X, self.Y = batch_setup(WIDTHS["W2"], batch, dtype)
        warm(lambda: self.net.loss_and_gradient(self.X, self.Y))
        warm(lambda: self.net.forward(self.X))

    def track_gradient_over_forward(self, batch: int, dtype: str) -> float:
        return median_ratio(
            lambda: self.net.loss_and_gradient(self.X, self.Y), lambda: self.net.forward(self.X)
        )

    track_gradient_over_forward.unit = "ratio"
