"""The public parameter layout and the offset tables built by lowering."""

from __future__ import annotations

import numpy as np
import pytest

import fastbp as fb
from fastbp.lowering import MAX_WORKSPACE_BYTES, Workspace, lower


def test_offsets_follow_the_documented_layout() -> None:
    spec = fb.NetworkSpec([3, 4, 2], ["tanh"], "squared")
    p = lower(spec)
    # [ W[1] (4x3=12) | b[1] (4) | W[2] (2x4=8) | b[2] (2) ]
    assert p.w_off.tolist() == [0, 16]
    assert p.b_off.tolist() == [12, 24]
    assert p.u_off.tolist() == [0, 4, 6]
    assert p.n_params == 26 == spec.n_params
    assert p.n_units == 6
    assert p.weight_mask.tolist() == [1] * 12 + [0] * 4 + [1] * 8 + [0] * 2
    for arr in (p.widths, p.w_off, p.b_off, p.u_off, p.acts):
        assert arr.dtype == np.int64 and not arr.flags.writeable


def test_layer_views_share_memory_with_params() -> None:
    spec = fb.NetworkSpec([3, 4, 2], ["tanh"], "squared", "float32")
    net = fb.Network(spec, seed=0)
    net.params[:] = np.arange(net.n_params)
    W1, b1 = net.layer(1)
    W2, b2 = net.layer(2)
    assert W1.shape == (4, 3) and b1.shape == (4,)
    assert W2.shape == (2, 4) and b2.shape == (2,)
    assert W1[1, 0] == 3  # row-major: W[1][j, p] at j * n0 + p
    assert b1.tolist() == [12, 13, 14, 15]
    assert W2[0, 0] == 16 and b2.tolist() == [24, 25]
    W2[...] = -1
    assert (net.params[16:24] == -1).all()
    assert np.shares_memory(W1, net.params) and net.params.flags.c_contiguous
    assert net.params.dtype == np.float32


@pytest.mark.parametrize("k", [0, 3, -1, 1.0, True, "1"])
def test_layer_index_is_checked(k) -> None:
    net = fb.Network(fb.NetworkSpec([3, 4, 2], ["tanh"]), seed=0)
    with pytest.raises(ValueError, match="layer index k must be an integer in 1..2"):
        net.layer(k)


def test_workspace_grows_but_never_shrinks_and_refuses_absurd_sizes() -> None:
    ws = Workspace(10, 4, np.dtype("float64"))
    assert ws.Z.shape == (40,) and ws.capacity == 4
    ws.ensure(2)
    assert ws.capacity == 4
    ws.ensure(9)
    assert ws.capacity == 9 and ws.dA.shape == (90,)
    with pytest.raises(ValueError, match="GiB of workspace"):
        ws.ensure(MAX_WORKSPACE_BYTES)
