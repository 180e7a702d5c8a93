"""The user guide's page "Using models elsewhere" (docs/guide/elsewhere.rst) runs as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra (pip install 'fastbp[onnx]')")
pytest.importorskip("torch", reason="needs the torch extra (pip install 'fastbp[torch]')")
pytest.importorskip("sklearn", reason="needs the sklearn extra (pip install 'fastbp[sklearn]')")

ROOT = Path(__file__).resolve().parents[1]
SECTION = "docs/guide/elsewhere.rst"
DIRECTIVES = {"testcode": "python", "code-block": "bash"}


def section_blocks() -> list[tuple[str, str]]:
    """(language, code) of every visible ``testcode`` and ``code-block:: bash`` block, in order.

    A block is the directive line, optional ``:option:`` lines, a blank line, then the lines
    indented by three spaces (or blank). Hidden blocks (``:hide:``) are left out: they repeat
    the visible bash block for the doctest builder.
    """
    lines = (ROOT / SECTION).read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = re.match(r"\.\. (testcode|code-block)::\s*(\w*)\s*$", lines[i])
        i += 1
        if not m or (m.group(1) == "code-block" and m.group(2) != "bash"):
            continue
        options = []
        while i < len(lines) and re.match(r"   :\w+:", lines[i]):
            options.append(lines[i].strip())
            i += 1
        body = []
        while i < len(lines) and (lines[i].startswith("   ") or not lines[i].strip()):
            body.append(lines[i][3:])
            i += 1
        if ":hide:" not in options:
            blocks.append((DIRECTIVES[m.group(1)], "\n".join(body).strip() + "\n"))
    return blocks


def test_the_section_has_an_example_per_round_trip():
    python = "\n".join(code for lang, code in section_blocks() if lang == "python")
    for call in ("to_onnx(", "to_torch(", "from_torch(", "from_sklearn(", "to_sklearn("):
        assert call in python, call
    assert any(lang == "bash" and "fastbp export" in code for lang, code in section_blocks())


def test_the_sections_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for i, (lang, code) in enumerate(section_blocks()):
        if lang == "python":
            exec(compile(code, f"{SECTION} block {i}", "exec"), namespace)
        elif lang == "bash":
            for line in code.strip().splitlines():
                argv = shlex.split(line)
                if argv[:1] == ["fastbp"]:
                    argv = [sys.executable, "-m", "fastbp", *argv[1:]]
                elif argv[:1] == ["python"]:
                    argv = [sys.executable, *argv[1:]]
                proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
                assert proc.returncode == 0, (line, proc.stderr)
    for name in ("digits.onnx", "diabetes.onnx", "diabetes.pt", "diabetes-raw.onnx"):
        assert (tmp_path / name).stat().st_size > 0, name
