"""Write a pip constraints file pinning dependencies to the floors pyproject.toml allows.

CI's dependency-floors job (.ci/run) installs the suite against the oldest numba, NumPy, SciPy
and scikit-learn that pyproject.toml accepts. The pins are read from pyproject.toml itself, so
the job cannot drift from the declared floors: every ``name>=X`` of a named package, in the
runtime dependencies and in every extra, becomes ``name==X``. A package named with two different
floors (say ``scipy>=1.9`` in one extra and ``scipy>=1.10`` in another) is an error, since the
floors job could test only one of them.

    python scripts/floors.py                  # prints the constraints (Python 3.11+: tomllib)
    python scripts/floors.py -o floors.txt    # writes them
    python scripts/floors.py numba numpy      # other packages than the default four
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]

#: The packages whose floors CI installs: the runtime dependencies and the numerical extras.
DEFAULT = ("numba", "numpy", "scipy", "scikit-learn")

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def floors(pyproject: Path, names: tuple[str, ...] = DEFAULT) -> dict[str, str]:
    """``{name: floor}`` for each of ``names``, from every ``name>=floor`` in ``pyproject``."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    groups = {"dependencies": project.get("dependencies", [])}
    groups.update(project.get("optional-dependencies", {}))
    wanted = {_normal(n) for n in names}
    found: dict[str, dict[str, list[str]]] = {}
    for group, requirements in groups.items():
        for requirement in requirements:
            match = REQUIREMENT.match(requirement)
            if match is None or _normal(match[1]) not in wanted:
                continue
            low = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", match[3])
            if low is None:
                raise SystemExit(f"{pyproject}: {group}: {requirement!r} has no '>=' floor")
            found.setdefault(_normal(match[1]), {}).setdefault(low[1], []).append(group)
    missing = wanted - found.keys()
    if missing:
        raise SystemExit(f"{pyproject}: no requirement names {', '.join(sorted(missing))}")
    result = {}
    for name, by_floor in sorted(found.items()):
        if len(by_floor) > 1:
            where = "; ".join(f">={f} in {', '.join(g)}" for f, g in sorted(by_floor.items()))
            raise SystemExit(f"{pyproject}: {name} has different floors: {where}")
        (result[name],) = by_floor
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(DEFAULT), help="packages to pin")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args(argv)
    pins = floors(args.pyproject, tuple(args.names))
    text = "".join(f"{name}=={floor}\n" for name, floor in pins.items())
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
