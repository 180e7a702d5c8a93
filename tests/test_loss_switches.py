"""No silent fallback in the loss switches: an unknown loss code gives NaN (or a refusal) in
every compiled switch, and the reference raises, never another loss's value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastbp import kernels, reference, rop_kernels, row_kernels
from fastbp.losses import LOSSES

UNKNOWN = max(code for code, _ in LOSSES.values()) + 1


def test_compiled_switches_give_nan_for_an_unknown_loss_code() -> None:
    Z = np.array([[0.5, -1.0]])
    A = np.empty_like(Z)
    kernels.output_transform(UNKNOWN, Z, A)
    assert np.isnan(A).all()
    z = Z.reshape(-1)
    assert math.isnan(kernels.example_loss(UNKNOWN, z, z, 0, 2, np.array([[0.0, 1.0]]), 0))
    RA = np.empty_like(Z)
    rop_kernels.r_output_transform(UNKNOWN, Z, np.ones_like(Z), RA)
    assert np.isnan(RA).all()
    assert not row_kernels.target_row_ok(np.array([0.0, 1.0]), UNKNOWN)


@pytest.mark.parametrize("known", sorted(LOSSES))
def test_every_known_code_has_its_own_branch(known: str) -> None:
    code = LOSSES[known][0]
    Z = np.array([[0.5, -1.0]])
    A = np.empty_like(Z)
    kernels.output_transform(code, Z, A)
    assert np.isfinite(A).all()
    assert row_kernels.target_row_ok(np.array([0.0, 1.0]), code)


def test_reference_refuses_an_unknown_loss() -> None:
    for call in (
        lambda: reference.output("hinge", [0.5, 1.0]),
        lambda: reference.example_loss("hinge", [0.5, 1.0], [0.5, 1.0], [0.0, 1.0]),
        lambda: reference.output_r("hinge", [0.5, 1.0], [1.0, 1.0]),
    ):
        with pytest.raises(ValueError, match="unknown loss 'hinge'"):
            call()
