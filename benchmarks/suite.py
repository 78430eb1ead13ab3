"""What the suite's benchmarks share (``bench_datasets``, ``bench_n_clusters``): where the sets'
files are read from, the command line, the loop over sets and seeds, and the finished records read
back, so an interrupted benchmark picks up where it stopped."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from vade_tf import files


@dataclass(frozen=True)
class Suite:
    """Where the datasets of the suite are read from."""
    data_dir: Optional[Path]
    mnist_dir: Optional[Path]
    fashion_dir: Optional[Path]


def code_commit() -> Optional[str]:
    """The checkout's commit (the code being measured), or None outside a git checkout."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def finished_record(runs_dir: Path, name: str, seed: int, settings: dict) -> tuple[Path, Optional[dict]]:
    """Where the record of one dataset and seed lives, and that record when a finished one was made
    with ``settings`` (else None: it is made anew)."""
    path = runs_dir / name / f"seed-{seed}" / "result.json"
    record = json.loads(path.read_text()) if path.exists() else None
    return path, record if record is not None and record.get("settings") == settings else None


def suite_parser(description: str, choices, runs_dir: str, default=None) -> argparse.ArgumentParser:
    """The arguments of a benchmark over the suite: where its sets' files are, which sets and seeds,
    the runs folder, the record, and VaDEClustering settings for every fit (``--set``); ``--datasets``
    is ``default``, else every choice, when not given."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data-dir", type=Path, help="folder of the fetched sets' NAME.npz files")
    parser.add_argument("--mnist-dir", type=Path, help="MNIST's IDX files")
    parser.add_argument("--fashion-dir", type=Path, help="Fashion-MNIST's IDX files")
    parser.add_argument("--datasets", nargs="+", choices=choices,
                        default=list(choices if default is None else default))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--runs-dir", type=Path, default=Path(runs_dir))
    parser.add_argument("--out", type=Path, help="the gathered record (JSON; a .md table beside it)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a VaDEClustering setting (settings=) for every fit, to compare recipes")
    return parser


def suite_sets(args: argparse.Namespace, loaders: dict) -> tuple[list[tuple], list[str]]:
    """(name, x, y) of each set ``args.datasets`` names whose files are given (``loaders``: name ->
    Suite -> (x, y) or None), and the names skipped for want of them."""
    suite = Suite(args.data_dir, args.mnist_dir, args.fashion_dir)
    loaded, skipped = [], []
    for name in args.datasets:
        arrays = loaders[name](suite)
        if arrays is None:
            skipped.append(name)
            print(f"{name}: skipped, its files are not given", flush=True)
        else:
            loaded.append((name, *arrays))
    return loaded, skipped


def over_suite(sets: list[tuple], seeds: list[int], run: Callable, line: Callable) -> list[dict]:
    """``run(name, x, y, seed)``'s record for every set and seed, each told in ``line(name, seed,
    record)`` as it finishes."""
    records = []
    for name, x, y in sets:
        for seed in seeds:
            records.append(run(name, x, y, seed))
            print(line(name, seed, records[-1]), flush=True)
    return records


def write_record(out: Optional[Path], record: dict, table: str) -> None:
    """Print the markdown ``table``; with ``out``, write ``record`` there (JSON) and the table beside it."""
    print(table, end="")
    if out is not None:
        files.write_json(out, record)
        out.with_suffix(".md").write_text(table)
