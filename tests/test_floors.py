"""scripts/floors.py: the dependency-floors job's constraints come from pyproject.toml."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("tomllib", reason="Python < 3.11 has no tomllib (scripts/floors.py uses it)")

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("floors", ROOT / "scripts" / "floors.py")
assert SPEC is not None and SPEC.loader is not None
floors = importlib.util.module_from_spec(SPEC)
sys.modules["floors"] = floors
SPEC.loader.exec_module(floors)


def test_the_floors_are_read_from_pyproject(tmp_path):
    out = tmp_path / "floors.txt"
    assert floors.main(["-o", str(out)]) == 0
    pins = dict(line.split("==") for line in out.read_text(encoding="utf-8").splitlines())
    assert set(pins) == {"numba", "numpy", "scipy", "scikit-learn"}
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for name, floor in pins.items():
        assert f'"{name}>={floor}"' in pyproject


def test_two_floors_for_one_package_are_refused(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["numpy>=1.24"]\n'
        '[project.optional-dependencies]\na = ["scipy>=1.9"]\nb = ["SciPy >= 1.10"]\n',
        encoding="utf-8",
    )
    assert floors.floors(pyproject, ("numpy",)) == {"numpy": "1.24"}
    with pytest.raises(SystemExit, match=r"scipy has different floors: >=1.10 in b; >=1.9 in a"):
        floors.floors(pyproject, ("numpy", "scipy"))
    with pytest.raises(SystemExit, match="no requirement names numba"):
        floors.floors(pyproject, ("numba",))
