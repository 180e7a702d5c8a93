"""Reliability report: run the fuzz properties at scale and the fault scenarios, print a table.

Every fuzz property of ``tests/fuzz_cases.py`` runs in its own child process with the hypothesis
``report`` profile (random, ``--examples`` cases each; the costlier properties run a stated
fraction of that), so that a crash is counted and named instead of ending the run.  Then
``tests/test_faults.py`` runs in a child pytest, slow tests included, and each scenario reports
its trials.  The result is a Markdown table (the documentation's reliability page,
``docs/guide/reliability.rst``), or JSON.

    python scripts/fuzz_report.py --examples 2000
    python scripts/fuzz_report.py --examples 500 --out report.md --json
    python scripts/fuzz_report.py --examples 2000 --boundscheck   # kernels with index checks

Exit status 0 when there were no crashes, no contract failures and no failed fault scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import fuzz_cases as fc  # noqa: E402

import fastbp  # noqa: E402


def run_properties(examples: int, names: list[str], jobs: int, workdir: Path) -> list[dict]:
    def one(name: str) -> dict:
        prop = fc.PROPERTIES[name]
        wanted = max(5, round(examples * prop.weight))
        result = fc.run_in_child(name, workdir / f"{name}.log", wanted, "report", timeout=3600)
        status = "ok"
        if result.crashed:
            status = f"CRASHED (status {result.returncode}) in {result.last_case}"
        elif not result.ok:
            status = f"FAILED: {(result.error or result.stderr[-500:]).splitlines()[0][:300]}"
        print(
            f"  {name:<18} {result.examples:>7} cases {result.seconds:7.1f} s  {status}",
            file=sys.stderr,
            flush=True,
        )
        return {
            "property": name,
            "kind": prop.kind,
            "entry_points": prop.entry_points,
            "description": prop.description,
            "isolated": prop.isolated,
            "cases": result.examples,
            "requested": wanted,
            "ci_cases": fc.examples_for(name, "ci"),
            "seconds": round(result.seconds, 1),
            "crashes": int(result.crashed),
            "failures": int(not result.ok and not result.crashed),
            "status": status,
            "last_case": result.last_case if not result.ok else None,
        }

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, names))


def run_faults(workdir: Path) -> tuple[list[dict], list[dict]]:
    record = workdir / "faults.jsonl"
    junit = workdir / "faults.xml"
    env = dict(os.environ, FASTBP_FAULT_RECORD=str(record))
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_faults.py"), "-q",
           "-p", "no:cacheprovider", f"--junitxml={junit}"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    print(f"  faults: pytest exit {proc.returncode} in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)  # fmt: skip
    scenarios = []
    if record.exists():
        scenarios = [json.loads(line) for line in record.read_text().splitlines() if line]
    tests = []
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            skipped = case.find("skipped") is not None
            tests.append(
                {
                    "test": case.get("name"),
                    "seconds": float(case.get("time", 0)),
                    "outcome": "failed" if failed else ("skipped" if skipped else "passed"),
                }
            )
    if proc.returncode not in (0, 1) or not tests:
        tests.append({"test": "pytest run", "seconds": 0.0, "outcome": f"exit {proc.returncode}"})
    return scenarios, tests


def _merged(scenarios: list[dict]) -> list[dict]:
    """One row per scenario: repeated runs of a scenario are summed, their details joined."""
    rows: dict[str, dict] = {}
    for s in scenarios:
        row = rows.setdefault(s["scenario"], {**s, "trials": 0, "failures": 0, "details": []})
        row["trials"] += s["trials"]
        row["failures"] += s["failures"]
        if s.get("detail"):
            row["details"].append(s["detail"])
    for row in rows.values():
        details = row.pop("details")
        if details and all(d.isdigit() for d in details):  # epochs at which runs stopped
            row["detail"] = f"stopped after {', '.join(details)} epochs"
        else:
            row["detail"] = "; ".join(details)
    return list(rows.values())


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        f"Generated by `python scripts/fuzz_report.py --examples {report['examples']}"
        + (" --boundscheck" if env["boundscheck"] else "")
        + f"` (fastbp {env['fastbp']}, Python {env['python']}, NumPy {env['numpy']}, "
        f"Numba {env['numba']}, {env['machine']}; {report['seconds']:.0f} s).",
        "",
        "| property | kind | entry points | cases tried | crashes | contract failures |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in report["properties"]:
        name = f"`{row['property']}`" + (" (child process)" if row["isolated"] else "")
        cases = f"{row['cases']:,}"
        if row["status"] == "ok" and row["cases"] < row["requested"]:
            cases += " (all)"  # a finite case space, exhausted before --examples
        lines.append(
            f"| {name} | {row['kind']} | {row['entry_points']} | {cases} | "
            f"{row['crashes']} | {row['failures']} |"
        )
    t = report["totals"]
    lines.append(
        f"| **total** | | | **{t['cases']:,}** | **{t['crashes']}** | **{t['failures']}** |"
    )
    lines += [
        "",
        f"The CI-sized run (`ci` profile, plain and `NUMBA_BOUNDSCHECK=1` jobs) tries up to "
        f'{t["ci_cases"]:,} cases on every run, deterministically. "(all)" marks a property '
        f"whose finite set of cases was exhausted.",
        "",
        "| fault scenario | trials | corrupted or wrong | detail |",
        "|---|---:|---:|---|",
    ]
    for s in _merged(report["fault_scenarios"]):
        lines.append(f"| {s['scenario']} | {s['trials']} | {s['failures']} | {s['detail']} |")
    failed = [x for x in report["fault_tests"] if x["outcome"] not in ("passed", "skipped")]
    lines += [
        "",
        f"Fault tests: {sum(x['outcome'] == 'passed' for x in report['fault_tests'])} passed, "
        f"{len(failed)} failed"
        + (": " + ", ".join(x["test"] for x in failed) if failed else "")
        + f". Result: **{t['crashes']} crashes, {t['corrupted']} corrupted files, "
        f"{t['failures']} contract failures**.",
    ]
    failures = [r for r in report["properties"] if r["status"] != "ok"]
    if failures:
        lines += ["", "Failures:", ""]
        lines += [f"- `{r['property']}`: {r['status']}" for r in failures]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--examples",
        type=int,
        default=2000,
        help="cases per property; the costlier ones run a stated fraction (default 2000)",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--jobs", type=int, default=1, help="properties run at once (default 1)")
    parser.add_argument(
        "--properties",
        nargs="*",
        default=None,
        choices=list(fc.PROPERTIES),
        help="run only these properties",
    )
    parser.add_argument("--no-faults", action="store_true", help="skip tests/test_faults.py")
    parser.add_argument(
        "--boundscheck",
        action="store_true",
        help="run the children with NUMBA_BOUNDSCHECK=1 and a fresh compile cache",
    )
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error(f"--examples must be >= 1, got {args.examples}")
    if args.boundscheck:
        os.environ["NUMBA_BOUNDSCHECK"] = "1"
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastbp-numba-")

    import numba
    import numpy

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fastbp-report-") as tmp:
        workdir = Path(tmp)
        names = args.properties or list(fc.PROPERTIES)
        print(f"fuzz properties ({args.examples} cases each):", file=sys.stderr)
        rows = run_properties(args.examples, names, max(1, args.jobs), workdir)
        scenarios, tests = ([], []) if args.no_faults else run_faults(workdir)
    totals = {
        "cases": sum(r["cases"] for r in rows),
        "ci_cases": sum(r["ci_cases"] for r in rows),
        "crashes": sum(r["crashes"] for r in rows),
        "failures": sum(r["failures"] for r in rows),
        "corrupted": sum(s["failures"] for s in scenarios),
        "fault_tests_failed": sum(x["outcome"] not in ("passed", "skipped") for x in tests),
    }
    report = {
        "examples": args.examples,
        "seconds": round(time.perf_counter() - t0, 1),
        "environment": {
            "fastbp": fastbp.__version__,
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "numba": numba.__version__,
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "boundscheck": bool(args.boundscheck),
        },
        "properties": rows,
        "fault_scenarios": scenarios,
        "fault_tests": tests,
        "totals": totals,
    }
    text = markdown(report)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    print(json.dumps(report, indent=2) if args.json else text)
    bad = totals["crashes"] + totals["failures"] + totals["corrupted"]
    return 0 if bad == 0 and totals["fault_tests_failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
