"""Cluster new rows: ``vade-predict --run-dir RUN --input FILE --output clusters.csv``.

The model is a run directory's, or an export's (``--export-dir BASE/N``: TensorFlow alone); the
work is ``vade_tf.prediction``'s.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vade_tf.commands.common import command_parser, load_tensorflow, run_cli
from vade_tf.data.user_files import read_batches
from vade_tf.errors import DataError


def parse_args(argv=None) -> argparse.Namespace:
    parser = command_parser(__doc__)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--run-dir", help="a finished run directory (vade-train's or VaDEClustering.save's)")
    model.add_argument("--export-dir", help="an exported version folder, BASE/N (vade-export's)")
    parser.add_argument("--input", required=True, help="the rows to cluster: .npy, .npz (array X) or .csv "
                                                       "(a header row, every column a feature)")
    parser.add_argument("--output", required=True, help="the CSV to write: cluster, label, elbo, p0..pK-1")
    parser.add_argument("--batch-size", type=int, default=4096,
                        help="rows read at a time (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    return run_cli(predict, parse_args(argv))


def predict(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise DataError(f"--batch-size: got {args.batch_size}, must be >= 1")
    source, output = Path(args.input), Path(args.output)
    next(iter(read_batches(source, 1)), None)  # a missing or unreadable file fails before TensorFlow loads
    if args.run_dir is not None:
        from vade_tf.exporting import check_run

        check_run(Path(args.run_dir))
    load_tensorflow()
    from vade_tf import prediction

    if args.run_dir is not None:
        clusterer = prediction.from_run(Path(args.run_dir))
    else:
        clusterer = prediction.from_export(Path(args.export_dir))
    rows = prediction.predict_file(clusterer, source, output, args.batch_size)
    print(f"wrote {rows} rows to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
