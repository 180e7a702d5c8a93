"""The lecture's cost claims (a, b) as tracked numbers: fitted log-log slopes and cost ratios.

``fastbp.lecture.backprop_cost`` and ``hvp_cost`` time the loss, the gradient, central
differences and H v on ReLU networks of growing width (32-w-w-1) and growing depth
(64-…-64-1) at batch 32 on the explicit-loop kernels, and fit the exponent p of time ∝ N^p.
The lecture says p ≈ 1 for backprop and H v and p ≈ 2 for finite differences, and that
gradient/loss and hvp/gradient stay bounded.  ``tests/test_lecture.py`` asserts the bands in
its ``timing`` job; here asv records the values per commit, so a change that makes a pass grow
faster than O(N) shows as a step in ``track_backprop_slope``.  Both experiments run once, in
``setup_cache`` (the ``quick`` sweeps, about 15 s on 2 cores), and every track reads from it.
"""

from __future__ import annotations

from typing import Any

from fastbp import lecture

SWEEPS = ["width", "depth"]


class LectureCosts:
    params = (SWEEPS,)
    param_names = ["sweep"]
    timeout = 600

    def setup_cache(self) -> dict[str, Any]:
        return {
            "a": lecture.backprop_cost(quick=True, seed=0),
            "b": lecture.hvp_cost(quick=True, seed=0),
        }

    def track_backprop_slope(self, data: dict[str, Any], sweep: str) -> float:
        return float(data["a"]["sweeps"][sweep]["slope"]["grad"])

    track_backprop_slope.unit = "exponent"

    def track_finite_difference_slope(self, data: dict[str, Any], sweep: str) -> float:
        return float(data["a"]["sweeps"][sweep]["slope"]["fd"])

    track_finite_difference_slope.unit = "exponent"

    def track_hvp_slope(self, data: dict[str, Any], sweep: str) -> float:
        return float(data["b"]["sweeps"][sweep]["slope"]["hvp"])

    track_hvp_slope.unit = "exponent"

    def track_max_gradient_over_loss(self, data: dict[str, Any], sweep: str) -> float:
        return float(max(data["a"]["sweeps"][sweep]["grad_over_loss"]))

    track_max_gradient_over_loss.unit = "ratio"

    def track_max_hvp_over_gradient(self, data: dict[str, Any], sweep: str) -> float:
        return float(max(data["b"]["sweeps"][sweep]["hvp_over_grad"]))

    track_max_hvp_over_gradient.unit = "ratio"
