"""Sphinx configuration for the fastbp documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (warnings are errors) and
check the user guide's code with ``python -m sphinx -b doctest docs OUT``. Set
``FASTBP_DOCS_QUICK=1`` to skip running the gallery (the pages are still built from the
scripts' text).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not some other installed fastbp

import fastbp  # noqa: E402

project = "fastbp"
author = "the fastbp developers"
copyright = "2026, the fastbp developers"  # noqa: A001
version = release = fastbp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**/README.rst", "guide/_generated"]
root_doc = "index"
default_role = "code"
nitpicky = False

# -- autodoc / autosummary / numpydoc -------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = {"GL08"}  # every documented public object has a docstring


# -- doctest ----------------------------------------------------------------------------------
doctest_global_setup = r'''
import contextlib, io, os, shlex, tempfile
import numpy as np
import fastbp as fb
from fastbp.cli import main as _fastbp_main

_docs_tmp = tempfile.TemporaryDirectory()
os.chdir(_docs_tmp.name)  # files the examples write land in a temporary directory


def run_commands(text):
    """Run each ``fastbp ...`` line of a shell block in this process; fail on a nonzero exit.

    What the commands print is captured and returned, so a hidden block stays quiet.
    """
    out = io.StringIO()
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[:3] == ["python", "-m", "fastbp"]:
            words = words[2:]
        assert words[0] == "fastbp", line
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            status = _fastbp_main(words[1:])
        assert status == 0, f"{line!r} exited with {status}: {out.getvalue()[-2000:]}"
    return out.getvalue()
'''
doctest_global_cleanup = """
os.chdir(os.path.expanduser("~"))
"""

# -- sphinx-gallery ---------------------------------------------------------------------------
QUICK = os.environ.get("FASTBP_DOCS_QUICK", "") not in ("", "0")
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": "False" if QUICK else "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "subsection_order": ["../examples/lecture", "../examples/applications"],
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
}
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg", category=UserWarning)

# -- HTML -----------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastbp {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
    "navigation_depth": 3,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": []}
html_show_sourcelink = False


def _skip_member(app, what, name, obj, skip, options):
    """Leave out members defined outside fastbp (scikit-learn's ``get_params``, its generated
    ``set_*_request`` methods, ...): the estimator pages document what fastbp adds or changes."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None)
    if isinstance(module, str) and not module.startswith("fastbp"):
        return True
    return None


def _write_generated() -> None:
    """Tables written from the code's registries, included by the guide (never edited by hand)."""
    from fastbp import activations, losses

    out = Path(__file__).parent / "guide" / "_generated"
    out.mkdir(exist_ok=True)
    for name, module in (("activations", activations), ("losses", losses)):
        target = out / f"{name}.rst"
        text = module.table_rst()
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


def setup(app):
    _write_generated()
    app.connect("autodoc-skip-member", _skip_member)
