"""fastbp.pcg64: NumPy's Generator.shuffle with a PCG64 generator, compiled, to the bit.

Ensembles draw every member's epoch order with it, and a member must draw exactly what
``np.random.default_rng(seed + i).permutation(rows)`` draws in a single network's fit.  Each
case compares the compiled shuffle with NumPy's from the same state, for many seeds and lengths,
from states with and without a buffered 32-bit half, over several shuffles in a row, and checks
that the state written back continues NumPy's stream.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fastbp import pcg64

#: Longer arrays only when compiled (interpreted uint64 arithmetic is slow).
LENGTHS = (0, 1, 2, 3, 5, 17, 64, 1000) + (() if numba.config.DISABLE_JIT else (20_000, 65_537))


@pytest.mark.parametrize("seed", [0, 1, 7, 12345, 2**40 + 3])
@pytest.mark.parametrize("buffered", [False, True])
def test_shuffle_equals_numpy(seed, buffered):
    ours = np.random.default_rng(seed)
    ref = np.random.default_rng(seed)
    if buffered:  # one 32-bit draw leaves the high half of a 64-bit output buffered
        ours.integers(0, 2**31, dtype=np.uint32)
        ref.integers(0, 2**31, dtype=np.uint32)
    words = pcg64.pack_state(ours)
    assert int(words[4]) == int(buffered)
    for n in LENGTHS:
        data = np.arange(n, dtype=np.int64) * 3 + 1
        expected = data.copy()
        ref.shuffle(expected)
        pcg64.shuffle(data, words)
        np.testing.assert_array_equal(data, expected, err_msg=f"n={n}")
    # The advanced state continues NumPy's stream.
    pcg64.unpack_state(ours, words)
    assert ours.bit_generator.state == ref.bit_generator.state
    np.testing.assert_array_equal(ours.random(5), ref.random(5))


def test_permutation_of_rows_equals_numpy():
    """What an ensemble's epoch draws: a copy of a member's rows, shuffled."""
    rows = np.sort(np.random.default_rng(3).choice(5000, size=800, replace=False))
    for seed in range(4):
        rng = np.random.default_rng(seed)
        rng.permutation(37)  # as a validation split leaves it
        words = pcg64.pack_state(rng)
        for _ in range(3):
            expected = rng.permutation(rows)
            ours = rows.copy()
            pcg64.shuffle(ours, words)
            np.testing.assert_array_equal(ours, expected)


def test_only_pcg64_generators():
    with pytest.raises(TypeError, match="PCG64"):
        pcg64.pack_state(np.random.Generator(np.random.MT19937(0)))
