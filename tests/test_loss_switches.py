"""No silent fallback in the loss switches: an unknown loss code gives NaN (or a refusal) in
every compiled switch, and the reference raises, never another loss's value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastbp import kernels, losses, reference, rop_kernels, row_kernels
from fastbp.losses import LOSSES, RECORDS

UNKNOWN = max(code for code, _ in LOSSES.values()) + 1


def test_compiled_switches_give_nan_for_an_unknown_loss_code() -> None:
    Z = np.array([[0.5, -1.0]])
    A = np.empty_like(Z)
    kernels.output_transform(UNKNOWN, Z, A)
    assert np.isnan(A).all()
    z = Z.reshape(-1)
    assert math.isnan(kernels.example_loss(UNKNOWN, 1.0, z, z, 0, 2, np.array([[0.0, 1.0]]), 0))
    RA = np.empty_like(Z)
    rop_kernels.r_output_transform(UNKNOWN, Z, np.ones_like(Z), RA)
    assert np.isnan(RA).all()
    assert not row_kernels.target_row_ok(np.array([0.0, 1.0]), UNKNOWN)
    dz = np.empty(2)
    kernels.seed_output(np.array([[0.0, 1.0]]), Z, dz.reshape(1, 2), UNKNOWN, 1.0, np.empty(0))
    assert np.isnan(dz).all()
    RdZ = np.empty_like(Z)
    rop_kernels.gnvp_seed(np.array([[0.0, 1.0]]), Z, np.ones_like(Z), RdZ, UNKNOWN, 1.0, 1.0)
    assert np.isnan(RdZ).all()


def test_every_known_code_has_its_own_branch() -> None:
    """Every record's code is handled by every switch (one test: the switches compile once)."""
    Z = np.array([[0.5, -1.0]])
    Y = np.array([[0.0, 1.0]])
    for record in RECORDS.values():
        code, param = record.code, record.default
        A = np.empty_like(Z)
        kernels.output_transform(code, Z, A)
        assert np.isfinite(A).all(), record.name
        assert row_kernels.target_row_ok(Y[0], code), record.name
        assert math.isfinite(losses.example_loss(code, param, Z[0], A[0], 0, 2, Y, 0)), record.name
        dz = np.empty((1, 2))
        kernels.seed_output(Y, A, dz, code, param, np.empty(0))
        assert np.isfinite(dz).all(), record.name
        RdZ = np.empty_like(Z)
        rop_kernels.gnvp_seed(Y, A, np.ones_like(Z), RdZ, code, param, 1.0)
        assert np.isfinite(RdZ).all(), record.name
        rop_kernels.r_output_transform(code, A, np.ones_like(Z), RdZ)
        assert np.isfinite(RdZ).all(), record.name
        losses.ggn_seed(code, param, A, Y, 0, dz)
        assert np.isfinite(dz).all(), record.name


def test_reference_refuses_an_unknown_loss() -> None:
    for call in (
        lambda: reference.output("hinge", [0.5, 1.0]),
        lambda: reference.example_loss("hinge", [0.5, 1.0], [0.5, 1.0], [0.0, 1.0]),
        lambda: reference.output_r("hinge", [0.5, 1.0], [1.0, 1.0]),
    ):
        with pytest.raises(ValueError, match="unknown loss 'hinge'"):
            call()
