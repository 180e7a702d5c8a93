"""House rules of the code base, checked on the source itself (the README's "Layout" section).

* Every compiled function goes through :mod:`fastbp._jit` (one place for Numba's options).
* The kernel modules import nothing of fastbp above them.
* No module outside ``fastbp/network.py`` touches ``Network``'s private members.
* No import circle between fastbp's modules, counting imports inside functions.
* No source file over 750 lines.
* No build or download artefact (wheel, sdist, compiled extension, bytecode) tracked by git.
"""

from __future__ import annotations

import ast
import fnmatch
import shutil
import subprocess
from pathlib import Path

import pytest

import fastbp

#: The package's source: the checkout's fastbp/, or the installed copy when the suite tests an
#: installed wheel (conftest.INSTALLED), whose .py files are the same.
ROOT = Path(fastbp.__file__).resolve().parent

#: The repository: where git is asked what it tracks.
REPO = Path(__file__).resolve().parent.parent

#: Build and download artefacts; .gitignore lists them, and none may be tracked.
ARTEFACTS = ("*.whl", "*.tar.gz", "*.tgz", "*.egg", "*.zip", "*.so", "*.pyd", "*.dylib", "*.pyc")

#: The compiled layer: plain functions on arrays.  They may import only each other and the layers
#: below them (spec -> lowering -> kernels), the code registries and the jit options.
KERNEL_MODULES = {
    "fastbp.kernels",
    "fastbp.epochs",
    "fastbp.row_kernels",
    "fastbp.rop_kernels",
    "fastbp.per_example_kernels",
    "fastbp.sparse_kernels",
    "fastbp.activations",
    "fastbp.fastmath",
    "fastbp.losses",
    "fastbp._blas",
    "fastbp.circuit.kernels",
    "fastbp.circuit.batch_kernels",
}
KERNEL_MAY_IMPORT = KERNEL_MODULES | {
    "fastbp._jit",
    "fastbp._cache",
    "fastbp._version",
    "fastbp.spec",
    "fastbp.lowering",
    "fastbp.circuit.ops",
}

MAX_LINES = 750

#: Numba's compiling decorators: only fastbp._jit may use them.
COMPILERS = {"njit", "jit", "vectorize", "guvectorize", "cfunc", "generated_jit"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _imports(name: str, path: Path) -> set[str]:
    """The fastbp modules ``name`` imports anywhere (top level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "fastbp")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.split(".")[0] != "fastbp":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_module_graph_is_found() -> None:
    # The checks below can fail: the graph holds the edges they look at.
    assert "fastbp.kernels" in GRAPH["fastbp.lowered"]
    assert "fastbp.lowered" in GRAPH["fastbp.network"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("name", sorted(KERNEL_MODULES & set(MODULES)))
def test_kernel_modules_import_nothing_above_them(name: str) -> None:
    above = GRAPH[name] - KERNEL_MAY_IMPORT
    assert not above, f"{name} imports {sorted(above)}"


def test_every_compiled_function_goes_through_jit() -> None:
    offenders = []
    for name, path in MODULES.items():
        if name == "fastbp._jit":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in COMPILERS
                and isinstance(node.value, ast.Name)
                and node.value.id == "numba"
            ):
                offenders.append(f"{name}:{node.lineno} numba.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "numba":
                names = {a.name for a in node.names} & COMPILERS
                offenders.extend(f"{name}:{node.lineno} from numba import {n}" for n in names)
    assert offenders == []


def _network_private_names() -> set[str]:
    tree = ast.parse(MODULES["fastbp.network"].read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Network")
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_"):
            if not node.name.startswith("__"):
                names.add(node.name)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                if not node.attr.startswith("__"):
                    names.add(node.attr)
    return names


def test_only_network_touches_network_privates() -> None:
    private = _network_private_names()
    assert {"_fast", "_params"} <= private  # the check sees what it guards
    offenders = []
    for name, path in MODULES.items():
        if name == "fastbp.network":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders.extend(
            f"{name}:{node.lineno} .{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr in private
            and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
        )
    assert offenders == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_file_over_750_lines(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines"


def _artefacts(paths: list[str]) -> list[str]:
    return [p for p in paths if any(fnmatch.fnmatch(p.lower(), a) for a in ARTEFACTS)]


def test_no_build_or_download_artefact_is_tracked() -> None:
    # The filter can fail: it catches what it guards, and leaves the bundled .csv.gz data alone.
    sample = ["pytest-9.0.0-py3-none-any.whl", "dist/fastbp-0.1.0.tar.gz", "fastbp/x.cpython.so"]
    assert _artefacts(sample + ["fastbp/datasets/data/digits.csv.gz", "a/b.py"]) == sample
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout (a copy, as in CI's wheel job): no git ls-files")
    if shutil.which("git") is None:
        pytest.skip("git is not installed: no git ls-files")
    proc = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, f"git ls-files failed: {proc.stderr}"
    tracked = proc.stdout.split("\0")
    assert "pyproject.toml" in tracked
    assert _artefacts(tracked) == [], "tracked artefacts: git rm them (.gitignore lists them)"
