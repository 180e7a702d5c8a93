"""``fastbp export``: write a saved model as ONNX (and a PyTorch state_dict)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from fastbp.cli.argtypes import UsageError, add_model_argument, int_at_least
from fastbp.cli.common import model_scalers


def add_parser(sub: Any) -> None:
    """Add ``fastbp export`` to the CLI's subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
    from fastbp.interop.onnx_export import DEFAULT_OPSET

    ex = sub.add_parser(
        "export",
        help="write a saved model as ONNX (and a PyTorch state_dict)",
        description="Export a .fastbp model. --onnx writes an ONNX model with input X (batch, n0) "
        "and output Y: what net.forward returns (values, softmax or sigmoid probabilities). If "
        "the model holds the feature (and target) standardisation saved by 'fastbp train', the "
        "ONNX graph applies it, so Y is what 'fastbp predict' computes from raw features (before "
        "class names); --raw leaves it out. --torch writes the state_dict of the network's "
        "torch.nn.Sequential (see Network.to_torch), with the standardisation folded into the "
        "first and last Linear layers unless --raw. An ensemble file (written by Ensemble.save) "
        "exports with --onnx only, as the mean of its members' outputs (Ensemble.to_onnx).",
    )
    add_model_argument(ex)
    ex.add_argument("--onnx", type=Path, default=None, metavar="OUT.onnx", help="write ONNX here")
    ex.add_argument(
        "--torch", type=Path, default=None, metavar="OUT.pt", help="write a state_dict here"
    )
    ex.add_argument(
        "--opset",
        type=int_at_least(1),
        default=None,
        help=f"ONNX opset (default: {DEFAULT_OPSET}, or the onnx package's newest if older)",
    )
    ex.add_argument(
        "--raw", action="store_true", help="export the bare network, without standardisation"
    )
    ex.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """Run ``fastbp export``: write ``--onnx`` and/or ``--torch`` files of a saved model.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fastbp export``.

    Returns
    -------
    int
        0.

    Raises
    ------
    UsageError
        If no output is asked for, or an optional package (onnx, torch) is missing.
    OSError, ValueError
        If the model cannot be read or written.
    """
    import fastbp as fb

    if args.onnx is None and args.torch is None:
        raise UsageError("give --onnx OUT.onnx and/or --torch OUT.pt")
    targets = [(f"--{k}", p) for k, p in (("onnx", args.onnx), ("torch", args.torch)) if p]
    for option, path in targets:
        _check_writable(option, path)
    if args.onnx is not None and args.torch is not None and _same_file(args.onnx, args.torch):
        raise UsageError(f"--onnx and --torch name the same file {args.onnx}")
    if _is_ensemble_file(args.model):
        return _export_ensemble(args)
    net = fb.Network.load(args.model)
    x_scaler, y_scaler = (None, None) if args.raw else model_scalers(net, args.model)
    spec = net.spec
    # Everything is built before anything is written: a missing package (onnx, torch) or a
    # refused model leaves no file behind.
    try:
        onnx_bytes = None
        if args.onnx is not None:
            from fastbp.interop.onnx_export import onnx_model

            model = onnx_model(net, opset=args.opset, preprocessing=not args.raw)
            onnx_bytes = model.SerializeToString()
        module = None
        if args.torch is not None:
            from fastbp.interop._common import require

            torch = require("torch", "fastbp export --torch")
            module = net.to_torch(preprocessing=not args.raw)
    except ImportError as exc:
        raise UsageError(f"{exc}; nothing was written") from None
    if onnx_bytes is not None:
        from fastbp.interop.onnx_export import write_bytes_atomically

        write_bytes_atomically(args.onnx, onnx_bytes, "ONNX model")
        _report_onnx(args.onnx, spec, "", x_scaler, y_scaler)
    if module is not None:
        _write_torch(torch, module, args.torch, not args.raw and net.preprocessing is not None)
    return 0


def _is_ensemble_file(path: Path) -> bool:
    """Whether ``path`` holds an :meth:`fastbp.Ensemble.save` file (read from its header)."""
    from fastbp.io import read_header

    meta = read_header(path).get("metadata")
    return isinstance(meta, dict) and "fastbp_ensemble" in meta


def _export_ensemble(args: argparse.Namespace) -> int:
    """``fastbp export ENSEMBLE --onnx OUT``: the ONNX model of the ensemble's mean."""
    import fastbp as fb

    if args.torch is not None:
        raise UsageError(
            f"{args.model} is an ensemble file: it exports with --onnx only (the members' mean)"
        )
    ens = fb.Ensemble.load(args.model)
    try:
        from fastbp.interop.onnx_export import ensemble_onnx_model, write_bytes_atomically

        model = ensemble_onnx_model(ens, opset=args.opset, preprocessing=not args.raw)
    except ImportError as exc:
        raise UsageError(f"{exc}; nothing was written") from None
    write_bytes_atomically(args.onnx, model.SerializeToString(), "ONNX model")
    pre = None if args.raw else ens.preprocessing
    x_scaler, y_scaler = (None, None) if pre is None else (pre.x, pre.y)
    _report_onnx(args.onnx, ens.spec, f"mean of {len(ens)} members' ", x_scaler, y_scaler)
    return 0


def _report_onnx(path: Path, spec: Any, what: str, x_scaler: Any, y_scaler: Any) -> None:
    output = {"identity": "values", "softmax": "softmax probabilities",
              "sigmoid": "sigmoid probabilities",
              "exp": "exp values (Poisson means)"}[spec.output_activation]  # fmt: skip
    scaled = [w for w, s in (("features", x_scaler), ("targets", y_scaler)) if s]
    print(
        f"wrote {path}: ONNX, input X (batch, {spec.n_inputs}) {spec.dtype} -> "
        f"output Y (batch, {spec.n_outputs}) {what}{output}"
        + (f"; standardisation of the {' and '.join(scaled)} built in" if scaled else "")
    )


def _check_writable(option: str, path: Path) -> None:
    """Refuse an output path whose folder is missing or read-only, or that is a folder."""
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: directory {parent} does not exist")
    if path.is_dir():
        raise UsageError(f"{option} {path}: it is a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: directory {parent} is not writable")


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _write_torch(torch: Any, module: Any, path: Path, folded: bool) -> None:
    from fastbp.io import write_atomically

    write_atomically(path, lambda f: torch.save(module.state_dict(), f), "torch state_dict")
    layout = " ".join(repr(module).split())
    print(f"wrote {path}: torch state_dict of {layout}"
          + ("; standardisation folded into the Linear layers" if folded else ""))  # fmt: skip
