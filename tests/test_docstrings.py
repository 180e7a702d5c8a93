"""Every name of the public API has a numpydoc docstring that documents its parameters and result.

The public API is what ``docs/api.rst`` lists (the autosummary entries under each
``currentmodule``), plus the public methods and properties of those classes.  Each is checked
with numpydoc's own validator for the errors that make a docstring wrong rather than short:
no docstring (GL08), a parameter not documented (PR01) or documented but not taken (PR02), no
``Returns`` section for a function that returns something (RT01), no ``Yields`` section for a
generator (YD01).  Sections that are encouraged but optional (See Also, Examples, extended
summary) are not required.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import numpydoc.validate as numpydoc_validate  # in the dev extra: never skipped
import pytest

API = Path(__file__).resolve().parent.parent / "docs" / "api.rst"

#: numpydoc error codes that fail the test.
CHECKED = {"GL08", "PR01", "PR02", "RT01", "YD01"}


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _documented() -> list[str]:
    """Dotted names of the autosummary entries of docs/api.rst."""
    names: list[str] = []
    module = None
    in_summary = False
    for line in API.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = m.group(1)
        elif line.startswith(".. autosummary::"):
            in_summary = True
        elif in_summary and re.match(r"   [A-Za-z_][\w.]*$", line):
            names.append(f"{module}.{line.strip()}")
        elif in_summary and line and not line.startswith("   "):
            in_summary = False
    return names


def _public_api() -> list[str]:
    names = []
    for dotted in _documented():
        names.append(dotted)
        obj = _resolve(dotted)
        if not inspect.isclass(obj):
            continue
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            if inspect.isfunction(member) or isinstance(member, (property, classmethod)):
                names.append(f"{dotted}.{attr}")
    return names


PUBLIC = _public_api()


def test_the_api_list_is_read() -> None:
    assert "fastbp.Network" in PUBLIC and "fastbp.Network.fit" in PUBLIC
    assert "fastbp.sklearn.MLPClassifier" in PUBLIC
    assert len(PUBLIC) > 80


def test_the_validator_catches_a_bad_docstring() -> None:
    errors = {code for code, _ in numpydoc_validate.validate(f"{__name__}._undocumented")["errors"]}
    assert {"PR01", "RT01"} <= errors


def _undocumented(x: int) -> int:
    """Add one."""
    return x + 1


@pytest.mark.parametrize("name", PUBLIC)
def test_numpydoc(name: str) -> None:
    errors = [
        f"{code}: {message}"
        for code, message in numpydoc_validate.validate(name)["errors"]
        if code in CHECKED
    ]
    assert errors == [], name
