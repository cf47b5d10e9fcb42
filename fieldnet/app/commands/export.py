"""`fieldnet export MODEL -o model.onnx`: a trained network as an ONNX file for other runtimes."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

DESCRIPTION = (
    "Write a trained model as ONNX (opset 17): periodic padding as explicit wrap-around (Slice and "
    "Concat) before each Conv, pooling, Dense as Gemm. Input 'input' float32 (N, C, *spatial), output "
    "'logits' float32 (N, classes); softmax gives the probabilities. Needs pip install \"fieldnet[onnx]\"."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyze.add_model_argument(parser)
    parser.add_argument("-o", "--output", default=None, help="ONNX file to write (default: MODEL with .onnx)")
    parser.add_argument("--L", type=int, default=None,
                        help="lattice size to export for (a size-agnostic network, e.g. the gap preset; "
                             "default: the size it was trained on)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fieldnet.engine.saving import load_model
    from fieldnet.errors import FieldnetError
    from fieldnet.training.export import OPSET, export_onnx

    model = load_model(args.model)
    shape = tuple(model.input_shape)
    if args.L is not None:
        if args.L < 1:
            raise FieldnetError(f"--L must be positive, got {args.L}")
        shape = (shape[0],) + (args.L,) * (len(shape) - 1)
    out = Path(args.output) if args.output else Path(args.model).with_suffix(".onnx")
    export_onnx(model, out, input_shape=shape, overwrite=args.overwrite)
    print(f"wrote {out}: ONNX opset {OPSET}, input (N, {', '.join(map(str, shape))}) float32, "
          f"output logits (N, {model.output_shape[0]})")
    return 0
