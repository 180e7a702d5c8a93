"""The documentation's sources stay complete: API pages, gallery, README, packaging metadata.

Building the site itself (Sphinx, the gallery, the doctest builder) is ``scripts/build_docs.sh``,
which CI runs; these checks need no Sphinx and catch the omissions a build would not: a public
name without an API page, a gallery example without a figure, a README that grew back.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Public names that are data, not functions or classes: the API page names them in prose.
DATA_NAMES = {
    "ACTIVATIONS", "INITIALISERS", "LOSSES", "__version__", "FORMAT_VERSION", "FORMAT_NAME",
    "SUPPORTED_VERSIONS", "OPS", "DEFAULT_OPSET", "MIN_OPSET",
}  # fmt: skip
#: The circuit module's op recorders (sin, cos, ...) are listed together in prose on the page.
CIRCUIT_OPS = {"cos", "exp", "log", "relu", "sigmoid", "sin", "softplus", "sqrt", "tanh"}


def api_entries() -> set[str]:
    """Fully qualified names listed in docs/api.rst's autosummary tables."""
    current, names = "", set()
    for line in (DOCS / "api.rst").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\.\. currentmodule:: (\S+)", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"   ([A-Za-z_][\w.]*)$", line)
        if m and current:
            names.add(f"{current}.{m.group(1)}")
    return names


def public_names() -> set[str]:
    """Every function and class that a public module's ``__all__`` exports."""
    import fastbp
    import fastbp.circuit
    import fastbp.datasets
    import fastbp.interop
    import fastbp.io

    out = set()
    for mod in (fastbp, fastbp.circuit, fastbp.datasets, fastbp.io, fastbp.interop):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if name in DATA_NAMES or type(obj).__name__ == "module":
                continue
            if mod is fastbp.circuit and name in CIRCUIT_OPS:
                continue
            out.add(f"{mod.__name__}.{name}")
    return out


def test_every_public_name_has_an_api_page():
    missing = public_names() - api_entries()
    assert not missing, f"add these to docs/api.rst: {sorted(missing)}"


def test_the_issues_api_groups_are_there():
    entries = api_entries()
    for name in [
        "fastbp.NetworkSpec", "fastbp.Network", "fastbp.gradcheck", "fastbp.History",
        "fastbp.optim.Optimizer", "fastbp.hessian.hvp", "fastbp.curvature.sharpness",
        "fastbp.circuit.trace", "fastbp.datasets.load_digits", "fastbp.sklearn.MLPClassifier",
        "fastbp.sklearn.MLPRegressor", "fastbp.sweep.run", "fastbp.interop.to_onnx",
        "fastbp.io.save_model",
    ]:  # fmt: skip
        assert name in entries, name


def gallery_scripts() -> list[Path]:
    return sorted((ROOT / "examples").glob("*/plot_*.py"))


def test_the_gallery_has_the_issues_examples():
    names = [p.stem for p in gallery_scripts()]
    for claim in "abcdef":
        assert any(n.startswith(f"plot_{claim}_") for n in names), f"lecture experiment {claim}"
    for topic in ("digits", "partial_fit", "newton", "circuit", "dask"):
        assert any(topic in n for n in names), topic
    assert len(names) >= 6


@pytest.mark.parametrize("path", gallery_scripts(), ids=lambda p: p.stem)
def test_each_gallery_script_has_a_title_and_ends_in_a_figure(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc, "sphinx-gallery needs a docstring with a title"
    title, underline = doc.splitlines()[:2]
    assert title and set(underline) == {"="} and len(underline) >= len(title)
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert "show" in calls and ({"subplots", "figure"} & calls), "draws a figure and shows it"


def test_every_guide_page_is_in_the_toctree():
    index = (DOCS / "guide" / "index.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\w+)$", index, flags=re.M))
    pages = {p.stem for p in (DOCS / "guide").glob("*.rst")} - {"index"}
    assert pages == listed


def test_readme_is_short_and_keeps_the_quick_start():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    section = text.split("\n## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert [b.strip() for b in blocks] == [
        'python -m pip install ".[progress]" && fastbp train',
        'python -m pip install -e ".[dev]" && python -m pytest',
    ]
    assert "python -m sphinx -W -b html docs docs/_build/html" in text


def test_readme_links_point_at_files_that_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+)\)", text):
        assert (ROOT / target).exists(), target


def test_packaging_metadata():
    tomllib = pytest.importorskip("tomllib", reason="Python < 3.11 has no tomllib")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    docs = " ".join(meta["optional-dependencies"]["docs"])
    for package in ("sphinx", "numpydoc", "sphinx-gallery", "pydata-sphinx-theme"):
        assert package in docs, package
    assert "Documentation" in meta["urls"]
    assert meta["license"] == "BSD-3-Clause"  # SPDX (PEP 639)
    assert meta["license-files"] == ["LICENSE"]
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("BSD 3-Clause License")
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Using it from Python", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(code.strip().splitlines()) <= 20
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    exec(compile(code, "README.md[Using it from Python]", "exec"), namespace)
    assert (tmp_path / "model.fastbp").stat().st_size > 0
    assert namespace["Hv"].shape == namespace["g"].shape
