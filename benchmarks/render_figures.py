"""Render a finished run's pictures (the ones train.py writes at the end) from its saved model, e.g.
for a run made before the current figures existed:

    python -m benchmarks.render_figures --run-dir runs/mnist-s0 --data-dir MNIST_DIR --out figures/
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vade_tf.config import config_from_dict
from vade_tf.data import load_dataset
from vade_tf.exporting import load_run
from vade_tf.summaries import RunSummaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    model, config_dict, _ = load_run(Path(args.run_dir))
    config_dict["data"]["dir"] = args.data_dir
    config_dict.setdefault("logging", {})
    config = config_from_dict(config_dict)
    data = load_dataset(config.data)
    out = Path(args.out)
    summaries = RunSummaries(model, data, config.logging, out / "logs", out, config.seed)
    summaries.write_final_pictures(config.train.epochs)
    print(json.dumps(sorted(p.name for p in Path(args.out).glob("*.png"))))


if __name__ == "__main__":
    main()
