"""Write a finished run directory's figures as a results/ record.

Everything comes from the run's own metrics.json, so a record never holds a figure the run did not
produce; the caller adds what the run cannot know (the experiment, the commit, notes):

    python -m benchmarks.record_run --run-dir runs/mnist-s0 --out results/mnist-seed0.json \
        --experiment "..." --commit 01713b9 [--notes "..."]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path


def _finished(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    best = metrics["restarts"][metrics["best_restart"]]
    record = {key: metrics[key] for key in ("command", "seed", "n_samples", "versions", "wall_time_s",
                                            "acc", "nmi", "ari", "v_measure", "elbo")}
    record.update(best_restart=metrics["best_restart"],
                  ae_partition=best["init"]["partition"], vade_init=best["init"]["vade_init"],
                  pretrain_wall_time_s=best["init"]["wall_time_s"], per_epoch=best["epochs"])
    if "evaluation" in metrics:  # the held-out protocol's scores on the other split
        record["evaluation"] = metrics["evaluation"]
    if len(metrics["restarts"]) > 1:
        record["restarts"] = [{"restart": r["restart"], "seed": r["seed"],
                               "ae_partition": r["init"]["partition"], "epochs_trained": len(r["epochs"]),
                               "last_epoch": r["epochs"][-1]} for r in metrics["restarts"]]
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--commit", required=True, help="the code the run used")
    parser.add_argument("--notes", default="")
    args = parser.parse_args()
    if not (args.run_dir / "metrics.json").exists():
        sys.exit(f"error: {args.run_dir}/metrics.json not found; the run has not finished")
    record = {"experiment": args.experiment, "code_commit": args.commit,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", **_finished(args.run_dir),
              "notes": args.notes}
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{args.out}: acc {record['acc']:.4f} nmi {record['nmi']:.4f} ari {record['ari']:.4f}")


if __name__ == "__main__":
    main()
