"""Run an experiment: ``vade-experiment --config CONFIG --name NAME --methods ... --seeds ...``.

Trains every method for every seed (one run directory each; re-running resumes and reads finished
runs back), then writes results/NAME.json and results/NAME.md with mean ± std and median of
ACC / NMI / ARI / V-measure beside the paper's Table 2.
"""
from __future__ import annotations

import argparse
import sys

from vade_tf.commands.common import command_line, command_parser, flag_overrides, load_tensorflow, run_cli
from vade_tf.experiments import PROTOCOLS
from vade_tf.registry import METHODS


def parse_args(argv=None) -> argparse.Namespace:
    parser = command_parser(__doc__)
    parser.add_argument("--config", help="JSON config (default: the embedded digits dataset)")
    parser.add_argument("--data-dir", help="directory with the dataset's files (sets data.dir)")
    parser.add_argument("--name", required=True, help="experiment name: results/NAME.json and .md")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                        help="methods to run, in order (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="default: 0 1 2 3 4")
    parser.add_argument("--protocol", default="all", choices=list(PROTOCOLS),
                        help="all: train and score on every sample (the authors'); heldout: train on "
                             "the train split, score on the test split as well")
    parser.add_argument("--restarts", type=int,
                        help="VaDE restarts per seed, the one with the best ELBO kept (the paper's protocol)")
    parser.add_argument("--epochs", type=int,
                        help="training epochs for VaDE and the VAE (sets train.epochs)")
    parser.add_argument("--set", action="append", default=[], metavar="[METHOD:]SECTION.KEY=VALUE",
                        help="override a config key, for every method or only METHOD's")
    parser.add_argument("--run-dir", action="append", default=[], metavar="METHOD=TEMPLATE",
                        help="where METHOD's runs live, with {seed} (e.g. vade=runs/mnist-s{seed}); "
                             "finished runs there with the same config are read back")
    parser.add_argument("--runs-dir", default="runs/experiments", help="default: %(default)s")
    parser.add_argument("--results-dir", default="results", help="default: %(default)s")
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    return parser.parse_args(argv)


def build_experiment(args):
    from pathlib import Path

    from vade_tf.dotted import parse_override
    from vade_tf.errors import ConfigError
    from vade_tf.experiments import Experiment

    overrides, method_overrides, templates = {}, {}, {}
    for text in args.set:
        head = text.split("=", 1)[0]
        method, _, setting = text.partition(":") if ":" in head else (None, "", text)
        key, value = parse_override(setting)
        (overrides if method is None else method_overrides.setdefault(method, {}))[key] = value
    overrides.update(flag_overrides({"data.dir": args.data_dir, "train.epochs": args.epochs}))
    if args.restarts is not None:
        method_overrides.setdefault("vade", {})["train.restarts"] = args.restarts
    for text in args.run_dir:
        method, sep, template = text.partition("=")
        if not sep or "{seed}" not in template:
            raise ConfigError(f"--run-dir {text!r}: expected METHOD=PATH containing {{seed}}")
        templates[method] = template
    return Experiment(name=args.name, config_path=args.config, methods=tuple(args.methods),
                      seeds=tuple(args.seeds), protocol=args.protocol, runs_dir=Path(args.runs_dir),
                      overrides=overrides, method_overrides=method_overrides, run_dir_templates=templates)


def main(argv=None) -> int:
    return run_cli(run, parse_args(argv))


def run(args: argparse.Namespace) -> int:
    from vade_tf.experiments import check_experiment, markdown_table, run_experiment, write_results

    experiment = build_experiment(args)
    check_experiment(experiment)
    load_tensorflow()
    # Finished runs and checkpoints are kept when it stops: re-run the same command to continue.
    result = run_experiment(experiment, verbose=0 if args.quiet else 1, command=command_line(),
                            on_progress=lambda partial: write_results(partial, args.results_dir))
    json_path, md_path = write_results(result, args.results_dir)
    print(markdown_table(result))
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
