"""The report's number formats, the W4/W5 cost-ratio table and W5's cross-tool table.

Parent side of ``scripts/bench_peers.py``: standard library only, like :mod:`_peers.env`.
The W1–W3 training table (:func:`train_markdown`) and, for ``--activations``, the table with a
row per workload × dtype × activation (:func:`activation_markdown`): each tool's median rate
and fastbp's speed-up over each peer, from the same per-tool result lines.
W5's cross-tool rows (:func:`w5_rows`) put the medians that each tool's own child process
measured side by side: H v and G v per call, and fastbp's speed-up over each peer (the peer's
median over fastbp's).  They are also written to the JSON lines, with ``kind="cross_tool"``.
"""

from __future__ import annotations

#: W5's products: the key in a result's ``median_s`` → the name in the report.
PRODUCTS = {"hvp": "H v", "gnvp": "G v"}

#: How each tool forms them (the formulations are documented in the tool_* modules).
FORMULATIONS = (
    "H v: fastbp `net.hvp`, JAX `jit(jvp(grad(J)))`, torch.func `jvp(grad(J))`. G v = Jᵀ H_loss "
    "J v: fastbp `net.gnvp`, JAX one `jit` of `jvp` then `vjp` of the forward, torch.func `jvp` "
    "then `vjp` of the forward."
)


# ---------------------------------------------------------------------- formats
def times(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}×" if x < 100 else f"{x:,.0f}×"


def rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.3g} µs"
    return f"{seconds * 1e9:.3g} ns"


def micro(seconds: float) -> str:
    """Seconds as µs, without the unit: 3 significant digits, whole µs from 100 µs."""
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.3g}"


def gate(r: dict) -> str:
    if "gate_err" not in r:
        return ""
    return f"{'ok' if r.get('gate_ok') else 'FAIL'} {r['gate_err']:.1e}"


def status(r: dict) -> str:
    return {"WRONG": "**WRONG**", "missing": "missing", "n/a": "n/a"}.get(
        r.get("status"), r.get("status", "?")
    )


# ---------------------------------------------------------------------- W1–W3
def train_markdown(train: list[dict]) -> list[str]:
    """The W1–W3 table: one row per workload × dtype × activation × tool."""
    lines = [
        "",
        "## Training throughput (W1–W3)",
        "",
        "fastbp / tool: fastbp's median rate over the tool's (above 1: fastbp is faster). "
        "GFLOP/s at 6 flops per parameter per example; % of the matmul peak of the same "
        "dtype. First step: the first call in the process, compilation included.",
        "",
        "| workload | dtype | activation | tool | rate (median) | min – max | time per step | "
        "fastbp / tool | GFLOP/s | % of peak | first step | gate |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in train:
        if r.get("status") in ("n/a", "missing"):
            continue
        w = f"{r['workload']} ({r['metric']}) | {r['dtype']} | {r.get('activation', '')}"
        if r.get("status") != "ok":
            lines.append(f"| {w} | {r['label']} | {status(r)} | | | | | | | {gate(r)} |")
            continue
        r_ = r["rate"]
        pct = f"{100 * r['peak_fraction']:.3g} %" if "peak_fraction" in r else "—"
        lines.append(
            f"| {w} | {r['label']} | {rate(r_['median'])} | {rate(r_['min'])} – "
            f"{rate(r_['max'])} | {duration(r['seconds_per_step'])} | "
            f"{times(r.get('fastbp_over_tool'))} | {r['gflops']:.3g} | {pct} | "
            f"{duration(r['first_step_s'])} | {gate(r)} |"
        )
    return lines


def activation_markdown(train: list[dict]) -> list[str]:
    """``--activations``: a row per workload × dtype × activation, every tool's median rate and
    fastbp's speed-up over each peer (fastbp's rate over the peer's = the peer's time over
    fastbp's; above 1: fastbp is faster).  Empty unless the rows come from ``--activations``."""
    rows = [r for r in train if r.get("activation_sweep")]
    if not rows:
        return []
    labels = {r["tool"]: r["label"] for r in rows if r.get("status") not in ("n/a", "missing")}
    peers = [t for t in labels if t != "fastbp"]
    keys = list(dict.fromkeys((r["workload"], r["dtype"], r["activation"]) for r in rows))
    lines = [
        "",
        "## Training throughput by activation (W1–W3, --activations)",
        "",
        "The same hidden activation on every tool. Median rate (steps/s, or samples/s for W3) "
        "over every timed epoch of every round; fastbp / tool: fastbp's median rate over the "
        "tool's, i.e. the tool's time over fastbp's (above 1: fastbp is faster). Each tool ran "
        "in its own pinned child process, the rounds interleaving the tools.",
        "",
        "| workload | dtype | activation | "
        + " | ".join(f"{labels[t]}" for t in labels)
        + "".join(f" | fastbp / {labels[t]}" for t in peers)
        + " | worst gate err |",
        "|---|---|---|" + "---:|" * (len(labels) + len(peers)) + "---:|",
    ]
    for key in keys:
        here = {r["tool"]: r for r in rows if (r["workload"], r["dtype"], r["activation"]) == key}
        cells = []
        for t in labels:
            r = here.get(t, {})
            cells.append(rate(r["rate"]["median"]) if r.get("status") == "ok"
                         else status(r) if r else "—")  # fmt: skip
        cells += [times(here.get(t, {}).get("fastbp_over_tool")) for t in peers]
        errs = [r["gate_err"] for r in here.values() if "gate_err" in r]
        cells.append(f"{max(errs):.1e}" if errs else "—")
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------------- W4, W5 per tool
def grad_markdown(grad: list[dict]) -> list[str]:
    """The W4/W5 cost-ratio table: each tool's ratio, from calls interleaved in one process."""
    lines = [
        "",
        "## Gradient and Hessian-vector cost ratios (W4, W5; W2 network 64-256-256-1)",
        "",
        "W4: time(loss and gradient) / time(forward). W5: time(H v) / time(loss and "
        "gradient). fastbp / tool: the tool's time for the numerator over fastbp's. Numerator "
        "and denominator are timed interleaved within each tool's process.",
        "",
        "| workload | dtype | batch | tool | cost ratio (median) | min – max | "
        "numerator per call | denominator per call | fastbp / tool | gate |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in grad:
        if r.get("status") in ("n/a", "missing"):
            continue
        if r.get("status") != "ok":
            lines.append(f"| {r['workload']} | {r['dtype']} | {r.get('batch', '')} | "
                         f"{r['label']} | {status(r)} | | | | | {gate(r)} |")  # fmt: skip
            continue
        ratio = r["ratio"]
        lines.append(
            f"| {r['workload']} | {r['dtype']} | {r['batch']} | {r['label']} | "
            f"{ratio['median']:.3g} | {ratio['min']:.3g} – {ratio['max']:.3g} | "
            f"{duration(r['t_num']['median'])} | {duration(r['t_den']['median'])} | "
            f"{times(r.get('fastbp_over_tool'))} | {gate(r)} |"
        )
    return lines


# ---------------------------------------------------------------------- W5 across tools
def w5_rows(results: list[dict]) -> list[dict]:
    """One row per dtype × batch × product (H v, G v): every tool's median seconds per call,
    its status where it has no time, and fastbp's speed-up over it (the tool's median over
    fastbp's; above 1: fastbp is faster).  The medians come from separate pinned child
    processes of the same run, run back to back."""
    tools = [r for r in results if r["workload"] == "W5" and r.get("kind") != "cross_tool"
             and r.get("status") not in ("n/a", "missing")]  # fmt: skip
    keys = list(dict.fromkeys((r["dtype"], r["batch"]) for r in tools if "batch" in r))
    rows = []
    for dtype, batch in keys:
        here = [r for r in tools if (r["dtype"], r.get("batch")) == (dtype, batch)]
        for product in PRODUCTS:
            median, problem, errs = {}, {}, {}
            for r in here:
                got = (r.get("median_s") or {}).get(product) if r.get("status") == "ok" else None
                if got is None:
                    problem[r["tool"]] = r.get("status") if r.get("status") != "ok" else "n/a"
                else:
                    median[r["tool"]] = got
                if product in r.get("gates", {}):
                    errs[r["tool"]] = r["gates"][product]
            ref = median.get("fastbp")
            rows.append({
                "workload": "W5", "kind": "cross_tool", "tool": "cross-tool",
                "label": "W5 across tools", "status": "ok", "dtype": dtype, "batch": batch,
                "product": product, "network": here[0].get("network"),
                "cores": here[0].get("cores"), "threads": here[0].get("threads"),
                "labels": {r["tool"]: r["label"] for r in here}, "median_s": median,
                "not_timed": problem, "gate_errs": errs,
                "fastbp_over_tool": {k: s / ref for k, s in median.items()} if ref else {},
                "method": "medians from separate pinned child processes of the same run, "
                          "run back to back (one tool after another)",
            })  # fmt: skip
    return rows


def w5_markdown(rows: list[dict]) -> list[str]:
    """W5's cross-tool table: µs per call of H v and G v, and fastbp's speed-up over each peer."""
    if not rows:
        return []
    labels = {}
    for row in rows:
        labels.update(row["labels"])
    peers = [t for t in labels if t != "fastbp"]
    cores = ",".join(map(str, rows[0].get("cores") or []))
    lines = [
        "",
        f"## H v and G v across tools (W5; W2 network {rows[0].get('network')}, squared loss)",
        "",
        "Median µs per call, and fastbp's speed-up over each peer: the peer's median over "
        "fastbp's (above 1: fastbp is faster). The cross-tool ratios compare separate child "
        f"processes of this same run, each pinned to CPU {cores} with "
        f"{rows[0].get('threads')} thread(s), run back to back (one tool after another); the "
        "cost ratios above are from calls interleaved within one process, so load that came "
        "and went between two children moves these ratios and not those. " + FORMULATIONS,
        "",
        "| dtype | batch | product | "
        + " | ".join(f"{labels[t]} (µs)" for t in labels)
        + "".join(f" | fastbp speed-up vs {labels[t]}" for t in peers)
        + " | worst gate err |",
        "|---|---:|---|" + "---:|" * (len(labels) + len(peers)) + "---:|",
    ]
    for row in rows:
        cells = []
        for t in labels:
            s = row["median_s"].get(t)
            miss = row["not_timed"].get(t)
            cells.append(micro(s) if s is not None else status({"status": miss}) if miss else "—")
        cells += [times(row["fastbp_over_tool"].get(t)) for t in peers]
        errs = row["gate_errs"].values()
        cells.append(f"{max(errs):.1e}" if errs else "—")
        lines.append(f"| {row['dtype']} | {row['batch']} | {PRODUCTS[row['product']]} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return lines
