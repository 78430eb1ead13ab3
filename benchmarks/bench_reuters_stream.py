"""Peak memory of one VaDE epoch over a full-Reuters-sized corpus streamed from disk.

Builds a synthetic corpus of 685,071 documents x 2,000 features in the prepared on-disk format
(sparse shards, as ``vade_tf.data.rcv1.prepare`` writes them; about 4% of the entries non-zero,
each row with l2 norm 200 like the real features), then trains one epoch of VaDE on it through the
same pipeline as ``train.py`` and reports the process's peak RSS. Dense float32 would be 5.5 GB;
the target is < 2 GB, whatever N is.

    python -m benchmarks.bench_reuters_stream [--dir /tmp/reuters-synthetic]
        [--out results/bench-reuters-stream.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse

from vade_tf import rundir
from vade_tf.data import rcv1, shards

N_DOCUMENTS, N_FEATURES, DENSITY = 685_071, 2000, 0.04


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def build_corpus(directory: Path, n_documents: int, seed: int = 0) -> shards.ShardedFeatures:
    """Synthetic shards with meta.json last, as the preparation writes them; reused when complete."""
    if (directory / shards.META_FILE).exists():
        features = shards.ShardedFeatures(directory)
        if len(features) == n_documents:
            return features
        raise SystemExit(f"{directory} holds a corpus of {len(features)} documents; remove it or pass "
                         "another --dir")
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    for index, start in enumerate(range(0, n_documents, rcv1.SHARD_SIZE)):
        rows = min(rcv1.SHARD_SIZE, n_documents - start)
        x = scipy.sparse.random(rows, N_FEATURES, density=DENSITY, format="csr", dtype=np.float64,
                                random_state=rng)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        x = (scipy.sparse.diags(rcv1.ROW_NORM / np.maximum(norms, 1e-12)) @ x).astype(np.float32).tocsr()
        shards.write_shard(directory / shards.shard_name(index), x, rng.integers(0, 4, rows))
        written.append({"file": shards.shard_name(index), "n": rows})
        print(f"shard {index + 1}: {start + rows}/{n_documents}", flush=True)
    meta = {"n_samples": n_documents, "n_features": N_FEATURES, "shards": written, "min": 0.0,
            "max": rcv1.ROW_NORM, "synthetic": True}
    (directory / shards.META_FILE).write_text(json.dumps(meta))
    return shards.ShardedFeatures(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/reuters-synthetic", help="where the corpus is built")
    parser.add_argument("--documents", type=int, default=N_DOCUMENTS, help="corpus size (default: RCV1's)")
    parser.add_argument("--out", default="results/bench-reuters-stream.json")
    args = parser.parse_args()

    start = time.perf_counter()
    features = build_corpus(Path(args.dir), args.documents)
    build_seconds = time.perf_counter() - start
    rss_after_build = peak_rss_bytes()

    from vade_tf.config import load_config
    from vade_tf.data import Dataset
    from vade_tf.fit import fit_vade
    from vade_tf.initialise import build_model

    config = load_config("configs/reuters.json",
                         {"train.epochs": 1, "train.eval_every_epoch": False})
    data = Dataset(x=features, y=None, name="reuters-synthetic")
    model = build_model(config, N_FEATURES, seed=0)
    start = time.perf_counter()
    epochs = fit_vade(model, data, config, 0, Path(args.dir) / "logs", Path(args.dir) / "checkpoints", 1)
    epoch_seconds = time.perf_counter() - start
    peak = peak_rss_bytes()

    dense_bytes = args.documents * N_FEATURES * 4
    on_disk = sum(p.stat().st_size for p in features.paths)
    result = {
        "benchmark": "one VaDE epoch (configs/reuters.json, batch 100), 685,071 x 2,000 streamed features",
        "command": "python " + " ".join(sys.argv), "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "versions": rundir.library_versions(),
        "n_documents": args.documents, "n_features": N_FEATURES, "density": DENSITY,
        "corpus_on_disk_bytes": on_disk, "dense_float32_bytes": dense_bytes,
        "corpus_build_seconds": round(build_seconds, 1), "epoch_seconds": round(epoch_seconds, 1),
        "peak_rss_after_build_bytes": rss_after_build, "peak_rss_bytes": peak,
        "peak_rss_gib": round(peak / 2 ** 30, 3), "target_gib": 2.0, "under_target": peak < 2 * 2 ** 30,
        "peak_rss_over_dense_size": round(peak / dense_bytes, 3), "final_elbo": epochs[-1].get("elbo"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("peak_rss_gib", "under_target", "epoch_seconds")}))


if __name__ == "__main__":
    main()
