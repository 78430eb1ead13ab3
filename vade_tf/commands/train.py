"""Train VaDE: ``vade-train [--config configs/NAME.json] [--data-dir DIR] [--run-dir DIR] ...``.

With no --config it trains the embedded default (scikit-learn's digits, no download). The same
command is ``python train.py`` in a checkout and ``python -m vade_tf.commands.train``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vade_tf.commands.common import command_line, command_parser, flag_overrides, load_tensorflow, run_cli


def parse_args(argv=None) -> argparse.Namespace:
    parser = command_parser(__doc__)
    parser.add_argument("--config", help="JSON config (default: the embedded digits dataset)")
    parser.add_argument("--data-dir", help="directory with the dataset's files (sets data.dir)")
    parser.add_argument("--run-dir", default="runs/latest", help="where artefacts go (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="VaDE training epochs (sets train.epochs)")
    parser.add_argument("--pretrain-epochs", type=int, help="autoencoder epochs (sets pretrain.epochs)")
    parser.add_argument("--seed", type=int, help="the one seed for everything (sets seed)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config key; the value is parsed as JSON when it can be")
    parser.add_argument("--quiet", action="store_true", help="print only the final line")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    return run_cli(train, parse_args(argv))


def config_of(args: argparse.Namespace):
    """The config the command trains: ``--config`` (or the defaults) with ``--set`` and the flags
    applied, validated."""
    from vade_tf.config import load_config
    from vade_tf.dotted import parse_override

    overrides = dict(parse_override(item) for item in args.set)
    overrides.update(flag_overrides({"data.dir": args.data_dir, "train.epochs": args.epochs,
                                     "pretrain.epochs": args.pretrain_epochs, "seed": args.seed}))
    return load_config(args.config, overrides)


def train(args: argparse.Namespace) -> int:
    from vade_tf.recipe import prepare
    from vade_tf.rundir import check_unlocked

    config, data = prepare(config_of(args))
    check_unlocked(args.run_dir)
    load_tensorflow()  # after the cheap checks
    from vade_tf.runs import train_checked

    metrics = train_checked(config, data, args.run_dir, verbose=0 if args.quiet else 1,
                            command=command_line())
    if not args.quiet:
        print(run_summary(Path(args.run_dir)))
    if "acc" in metrics:
        print(f"final: acc {metrics['acc']:.4f} nmi {metrics['nmi']:.4f} ari {metrics['ari']:.4f} "
              f"(elbo {metrics['elbo']:.3f}, run dir {args.run_dir})")
    else:
        print(f"final: elbo {metrics['elbo']:.3f} (no labels; run dir {args.run_dir})")
    return 0


def run_summary(run_dir: Path) -> str:
    """Where to look next: the run directory, its figures, and the TensorBoard command."""
    figures = sorted(path.name for path in run_dir.glob("*.png"))
    shown = f"; figures: {', '.join(figures)}" if figures else ""
    return f"run directory {run_dir}{shown}; TensorBoard: tensorboard --logdir {run_dir / 'logs'}"


if __name__ == "__main__":
    sys.exit(main())
