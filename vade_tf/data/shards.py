"""Sparse feature shards on disk, streamed as dense batches: a matrix too large for memory.

A prepared directory holds CSR shards (``shard-00000.npz``, ...) and ``meta.json``, written last, so a
directory without it is never read as data. :class:`ShardedFeatures` reads it shard by shard: memory
holds one shard and one batch, whatever N is.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Optional

import numpy as np
import scipy.sparse

from vade_tf import files
from vade_tf.errors import DataError

META_FILE = "meta.json"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npz"


def write_shard(path: Path, x: scipy.sparse.csr_matrix, y: np.ndarray) -> None:
    """One shard, atomically: a crash leaves the old state or the new, never half a file."""
    files.save_npz(path, data=x.data, indices=x.indices.astype(np.int32), indptr=x.indptr.astype(np.int64),
                   shape=np.asarray(x.shape), labels=y.astype(np.int64))


def read_shard(path: Path) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as s:
            x = scipy.sparse.csr_matrix((s["data"], s["indices"], s["indptr"]), shape=tuple(s["shape"]))
            return x, s["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{path} is corrupt ({e}); delete it and re-run the preparation") from None


class ShardedFeatures:
    """The [N, D] feature matrix of a prepared directory, read shard by shard, never whole.

    Quacks like the part of an array the pipeline needs: ``len``, ``shape``, ``min``, ``max``, and
    ``batches`` for a tf.data input whose memory is one shard plus one batch.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        meta_path = self.directory / META_FILE
        if not meta_path.exists():
            raise DataError(f"{self.directory} holds no prepared Reuters features ({META_FILE} missing); "
                            "point --data-dir at the RCV1 files to prepare them")
        self.meta = json.loads(meta_path.read_text())
        self.paths = [self.directory / s["file"] for s in self.meta["shards"]]
        missing = [p.name for p in self.paths if not p.exists()]
        if missing:
            raise DataError(f"{self.directory}: shard {missing[0]} is missing; delete {META_FILE} and re-run "
                            "the preparation to rebuild it")
        self.shape = (int(self.meta["n_samples"]), int(self.meta["n_features"]))

    def __len__(self) -> int:
        return self.shape[0]

    def min(self) -> float:
        return float(self.meta["min"])

    def max(self) -> float:
        return float(self.meta["max"])

    def labels(self) -> np.ndarray:
        parts = []
        for path in self.paths:
            with np.load(path, allow_pickle=False) as shard:
                parts.append(shard["labels"])
        return np.concatenate(parts)

    def _worker_files(self, shard: tuple[int, int]) -> list[int]:
        """The shard files worker ``index`` of ``workers`` reads: every workers-th, from its index."""
        index, workers = shard
        return list(range(index, len(self.paths), workers))

    def _rows(self, batch_size: int, seed: Optional[int], epoch: int, drop_remainder: bool,
              shard: tuple[int, int] = (0, 1)):
        """Dense float32 batches from this worker's shard files; with a seed, the files and the rows
        inside each are shuffled per epoch."""
        rng = None if seed is None else np.random.default_rng([seed, epoch])
        files = self._worker_files(shard)
        order = files if rng is None else rng.permutation(files)
        pending = np.zeros((0, self.shape[1]), np.float32)
        for index in order:
            x, _ = read_shard(self.paths[index])
            rows = np.arange(x.shape[0]) if rng is None else rng.permutation(x.shape[0])
            for start in range(0, len(rows), batch_size):
                pending = np.concatenate([pending, x[rows[start:start + batch_size]].toarray()])
                while len(pending) >= batch_size:
                    yield pending[:batch_size]
                    pending = pending[batch_size:]
        if len(pending) and not drop_remainder:
            yield pending

    def epoch_steps(self, batch_size: int, workers: int = 1) -> int:
        """Global batches per epoch: the fewest that any worker's files fill at batch_size / workers."""
        sizes = [shard["n"] for shard in self.meta["shards"]]
        rows = [sum(sizes[i] for i in self._worker_files((w, workers))) for w in range(workers)]
        return min(rows) // (batch_size // workers)

    def epoch_batches(self, batch_size: int, seed: int, first_epoch: int, last_epoch: int, skip: int = 0,
                      shard: tuple[int, int] = (0, 1)):
        """Full batches of epochs first_epoch..last_epoch-1 back to back (see pipeline.epoch_batches);
        with ``shard`` = (worker index, workers), batches of batch_size / workers from this worker's files."""
        import tensorflow as tf

        steps = self.epoch_steps(batch_size, shard[1])

        def rows():
            for epoch in range(first_epoch, last_epoch):
                batches = self._rows(batch_size // shard[1], seed, epoch, drop_remainder=True, shard=shard)
                yield from itertools.islice(batches, skip if epoch == first_epoch else 0, steps)
        ds = tf.data.Dataset.from_generator(
            rows, output_signature=tf.TensorSpec((None, self.shape[1]), tf.float32))
        n_batches = (last_epoch - first_epoch) * steps - skip
        return ds.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(tf.data.AUTOTUNE)

    def batches(self, batch_size: int):
        """Every row once, in order, in batches of ``batch_size`` (the last may be short)."""
        import tensorflow as tf

        ds = tf.data.Dataset.from_generator(
            lambda: self._rows(batch_size, None, 0, drop_remainder=False),
            output_signature=tf.TensorSpec((None, self.shape[1]), tf.float32))
        return ds.apply(tf.data.experimental.assert_cardinality(-(-len(self) // batch_size)))
