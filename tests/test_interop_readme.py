"""The README's section "Using a fastbp model elsewhere" runs as written."""

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
SECTION = "## Using a fastbp model elsewhere"


def section_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block in the section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    body = text[start : end if end != -1 else len(text)]
    return re.findall(r"```(\w+)\n(.*?)```", body, flags=re.S)


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
            exec(compile(code, f"README.md[{SECTION}] block {i}", "exec"), namespace)
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
