"""Export a trained run for TF Serving: ``vade-export --run-dir RUN --export-dir BASE [--model-version N]``.

Writes BASE/<version>/ (saved_model.pb, variables/, assets/) atomically; the version defaults to
the next integer. TF Serving: docker run -p 8501:8501 -v "$PWD/BASE:/models/vade" -e MODEL_NAME=vade
tensorflow/serving
"""
from __future__ import annotations

import argparse
import sys

from vade_tf.commands.common import command_parser, load_tensorflow, run_cli


def parse_args(argv=None) -> argparse.Namespace:
    parser = command_parser(__doc__)
    parser.add_argument("--run-dir", required=True,
                        help="a finished run directory (vade-train's, or VaDEClustering.save's)")
    parser.add_argument("--export-dir", required=True, help="the model base directory TF Serving watches")
    parser.add_argument("--model-version", type=int,
                        help="the version folder's number (default: the next integer)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing version")
    parser.add_argument("--images", action="store_true",
                        help="STL-10: put the ResNet-50 extractor in the graph; clients send 96x96x3 images")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    return run_cli(export, parse_args(argv))


def export(args: argparse.Namespace) -> int:
    from vade_tf.exporting import check_run

    check_run(args.run_dir)  # before TensorFlow loads: a bad run dir gets one clean line
    load_tensorflow()
    from vade_tf.exporting import export

    written = export(args.run_dir, args.export_dir, args.model_version, args.overwrite, args.images)
    warmup = "with warm-up requests" if written["warmup"] else \
        "no warm-up requests (pip install tensorflow-serving-api to add them)"
    print(f"exported version {written['version']} to {written['path']} ({warmup})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
