"""`fastbp circuit` and the expression parser behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastbp.circuit.expr import from_expression, variables_in
from fastbp.cli import main


def test_expression_matches_the_recorded_function() -> None:
    c = from_expression("sin(x1 * x2) + exp(x3) / x1")
    # d/dx at (1, 0, 0): (x2 cos(x1 x2) - e^x3 / x1², x1 cos(x1 x2), e^x3 / x1) = (-1, 1, 1)
    np.testing.assert_allclose(c.gradient([1.0, 0.0, 0.0]), [-1.0, 1.0, 1.0], rtol=1e-15)
    assert variables_in("x3 + x10 * 2") == 10
    two = from_expression("x1 * x2, log(x1) - x2")
    np.testing.assert_allclose(two.forward([2.0, 3.0]), [6.0, np.log(2.0) - 3.0])
    assert from_expression("-x1 ** 2 + +3", n_inputs=1).forward([2.0])[0] == -1.0


@pytest.mark.parametrize(
    "text",
    ["__import__('os')", "x1.real", "x1 < 2", "foo(x1)", "sin(x1, x2)", "sin(x=x1)", "True",
     "'a'", "", "x0", "lambda: 1", "x1 if x2 else x3", "[x1]"],
)  # fmt: skip
def test_anything_outside_the_whitelist_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        from_expression(text)


def test_circuit_command(tmp_path: Path, capsys) -> None:
    path = tmp_path / "f.npz"
    assert main(["circuit", "sin(x1 * x2) + exp(x3) / x1", "--at", "1,0,0", "--v", "1,1,1",
                 "--save", str(path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "gradient  [-1.  1.  1.]" in out and "hvp       [2. 1. 0.]" in out
    assert "gradcheck PASSED" in out and path.exists()
    assert main(["circuit", "--load", str(path), "--at", "1,0,0"]) == 0
    assert "gradient  [-1.  1.  1.]" in capsys.readouterr().out


def test_circuit_command_prints_the_differentiated_value(capsys) -> None:
    """``value`` is the scalar ``gradient`` differentiates; several outputs are listed apart."""
    assert main(["circuit", "x1 * x2, sin(x1)", "--at", "1,2", "--output", "1"]) == 0
    out = capsys.readouterr().out
    assert "outputs   [2.         0.84147098]" in out
    assert "value     0.8414709848078965" in out and "gradient  [0.54030231 0.        ]" in out


@pytest.mark.parametrize(
    ("argv", "code", "match"),
    [
        (["circuit", "x1 ** x2", "--at", "1,2"], 2, "exponent"),
        (["circuit", "x1 + x2", "--at", "1"], 2, "2 inputs"),
        (["circuit", "x1", "--at", "a"], 2, "comma-separated numbers"),
        (["circuit", "open('f')", "--at", "1"], 2, "not allowed"),
        (["circuit", "log(x1)", "--at", "0", "--check"], 1, "node 1 (log)"),
        (["circuit", "--at", "1"], 2, "either an expression or --load"),
    ],
)
def test_circuit_command_errors(argv, code, match, capsys) -> None:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse type errors
        rc = exc.code
    assert rc == code
    assert match in capsys.readouterr().err
