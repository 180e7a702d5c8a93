"""``fastbp export``: write a saved model as ONNX (and a PyTorch state_dict)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastbp.cli.argtypes import UsageError, int_at_least
from fastbp.cli.common import model_scalers

if TYPE_CHECKING:
    from fastbp.network import Network


def add_parser(sub: Any) -> None:
    """Add ``fastbp export`` to the CLI's subcommands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.
    """
    ex = sub.add_parser(
        "export",
        help="write a saved model as ONNX (and a PyTorch state_dict)",
        description="Export a .fastbp model. --onnx writes an ONNX model with input X (batch, n0) "
        "and output Y: what net.forward returns (values, softmax or sigmoid probabilities). If "
        "the model holds the feature (and target) standardisation saved by 'fastbp train', the "
        "ONNX graph applies it, so Y is what 'fastbp predict' computes from raw features (before "
        "class names); --raw leaves it out. --torch writes the state_dict of the network's "
        "torch.nn.Sequential (see Network.to_torch), with the standardisation folded into the "
        "first and last Linear layers unless --raw.",
    )
    ex.add_argument("model", type=Path, help="a model file saved by fastbp")
    ex.add_argument("--onnx", type=Path, default=None, metavar="OUT.onnx")
    ex.add_argument("--torch", type=Path, default=None, metavar="OUT.pt")
    ex.add_argument("--opset", type=int_at_least(1), default=None, help="ONNX opset (default 17)")
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
    net = fb.Network.load(args.model)
    x_scaler, y_scaler = (None, None) if args.raw else model_scalers(net, args.model)
    spec = net.spec
    output = {"identity": "values", "softmax": "softmax probabilities",
              "sigmoid": "sigmoid probabilities"}[spec.output_activation]  # fmt: skip
    try:
        if args.onnx is not None:
            net.to_onnx(args.onnx, opset=args.opset, preprocessing=not args.raw)
            scaled = [w for w, s in (("features", x_scaler), ("targets", y_scaler)) if s]
            print(
                f"wrote {args.onnx}: ONNX, input X (batch, {spec.n_inputs}) {spec.dtype} -> "
                f"output Y (batch, {spec.n_outputs}) {output}"
                + (f"; standardisation of the {' and '.join(scaled)} built in" if scaled else "")
            )
        if args.torch is not None:
            _export_torch(net, args.torch, not args.raw)
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _export_torch(net: Network, path: Path, preprocessing: bool) -> None:
    from fastbp.interop._common import require
    from fastbp.io import write_atomically

    torch = require("torch", "fastbp export --torch")
    module = net.to_torch(preprocessing=preprocessing)
    write_atomically(path, lambda f: torch.save(module.state_dict(), f), "torch state_dict")
    layout = " ".join(repr(module).split())
    folded = preprocessing and net.preprocessing is not None
    print(f"wrote {path}: torch state_dict of {layout}"
          + ("; standardisation folded into the Linear layers" if folded else ""))  # fmt: skip
