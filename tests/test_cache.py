"""fastbp's compiled-kernel cache lives in a per-user directory, never beside the sources.

A cache written into site-packages outlives ``pip uninstall`` (its files are not in pip's record)
and turns the next install's ``fastbp/`` folder into an empty namespace package; these tests
pin down where the files go instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastbp
from fastbp import _cache, _jit

PACKAGE = Path(fastbp.__file__).resolve().parent

CHILD = (
    "import numpy as np, fastbp as fb\n"
    "net = fb.Network(fb.NetworkSpec([3, 4, 1], ['tanh'], 'squared', 'float64'), seed=0)\n"
    "print(repr(float(net.forward(np.ones((2, 3)))[1, 0])))\n"
)


def _child(env_extra: dict, pythonpath: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(env_extra)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def _numba_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.suffix in (".nbi", ".nbc")]


def test_locator_is_installed():
    assert _jit.CACHE_LOCATOR


def test_kernels_cache_under_fastbp_cache_dir_not_in_the_package(tmp_path):
    """An installed copy of the package (a stand-in for site-packages) stays as pip wrote it."""
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("nothing is compiled or cached with NUMBA_DISABLE_JIT=1")
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "fastbp", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    first = _child({_cache.CACHE_ENV: str(cache)}, pythonpath=str(site))
    second = _child({_cache.CACHE_ENV: str(cache)}, pythonpath=str(site))  # loads the cache
    assert first == second
    assert _numba_files(cache), "no compiled kernels were cached"
    assert all("numba" in p.relative_to(cache).parts[0] for p in _numba_files(cache))
    assert _numba_files(site) == [], "Numba cache files were written into the package"


def test_unwritable_cache_dir_still_works(tmp_path):
    """A cache directory that cannot be created: kernels still compile and run."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    reference = _child({_cache.CACHE_ENV: str(tmp_path / "ok")})
    assert _child({_cache.CACHE_ENV: str(blocker / "cache")}) == reference


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(_cache.CACHE_ENV, str(tmp_path / "here"))
    assert _cache.cache_root() == (tmp_path / "here").resolve()
    monkeypatch.delenv(_cache.CACHE_ENV)
    assert _cache.cache_root().name.lower() in ("fastbp", "cache")


def test_cache_key_changes_with_the_jit_options():
    base = dict(_jit.JIT_OPTIONS)
    other = dict(base, fastmath={"nsz", "arcp", "reassoc", "contract"})
    assert _cache.build_key(base) != _cache.build_key(other)
    assert _cache.build_key(base) == _cache.build_key(dict(base))
    assert fastbp.__version__ in _cache.build_key(base)


def test_cache_key_changes_with_the_kernel_sources(monkeypatch, tmp_path):
    """Editing a module whose code is inlined into compiled kernels starts a fresh cache (Numba
    alone would reuse epochs.py's cached kernels with kernels.py's old helpers)."""
    fake = tmp_path / "fastbp"
    shutil.copytree(PACKAGE, fake, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(_cache, "PACKAGE_DIR", fake)
    digest = _cache.kernel_sources_digest  # computed once per process: clear it between edits

    def key() -> str:
        digest.cache_clear()
        return _cache.build_key(_jit.JIT_OPTIONS)

    try:
        before = key()
        cli = fake / "cli" / "__init__.py"  # not kernel code: the key must not change
        cli.write_text(cli.read_text() + "\n# not kernel code\n")
        assert key() == before
        kernels = fake / "kernels.py"
        kernels.write_text(kernels.read_text() + "\n# a changed kernel\n")
        assert key() != before
    finally:
        monkeypatch.undo()
        digest.cache_clear()
