"""Full Reuters (RCV1-v2, 685,071 documents): features prepared once on disk, streamed by tf.data.

``prepare`` turns the LYRL2004 token files and the topic qrels into 2,000 TF-IDF features per
document, following DEC/VaDE: keep the documents with exactly one of the root topics CCAT, GCAT,
MCAT, ECAT; count the 2,000 most frequent words; TF-IDF with sublinear tf and l2 rows; x sqrt(2000);
l2-normalise and x 200 (the two scalings compose to rows of l2 norm 200). As dense float32 that is
5.5 GB, so it is stored sparse, in shards (CSR ``.npz``), and :class:`ShardedFeatures` streams it:
memory holds one shard and one batch, whatever N is.

Preparation writes each shard atomically and ``meta.json`` last, so an interrupted run can be
re-run: finished shards are kept, and a directory without ``meta.json`` is never read as data.
"""
from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import scipy.sparse

from vade_tf.data.dataset import DataError

ROOT_TOPICS = ("CCAT", "ECAT", "GCAT", "MCAT")  # label = index in this tuple
TOKEN_FILES = ("lyrl2004_tokens_train.dat", "lyrl2004_tokens_test_pt0.dat", "lyrl2004_tokens_test_pt1.dat",
               "lyrl2004_tokens_test_pt2.dat", "lyrl2004_tokens_test_pt3.dat")
QRELS_FILE = "rcv1-v2.topics.qrels"
EXPECTED = (f"{', '.join(TOKEN_FILES)} and {QRELS_FILE} (RCV1-v2 appendices, "
            "http://www.ai.mit.edu/projects/jmlr/papers/volume5/lewis04a/lyrl2004_rcv1v2_README.htm)")
N_FEATURES = 2000
ROW_NORM = 200.0
META_FILE, VOCABULARY_FILE = "meta.json", "vocabulary.json"
SHARD_SIZE = 50_000


# ----------------------------------------------------------------------------- reading the native files
def read_single_topic_labels(path: Path) -> dict[int, int]:
    """doc id -> root-topic label, for documents with exactly one root topic."""
    topics: dict[int, set] = {}
    try:
        with open(path) as f:
            for line_number, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) < 2 or not parts[1].isdigit():
                    raise DataError(f"{path}:{line_number}: expected 'TOPIC DOCID 1', got {line.strip()!r}")
                if parts[0] in ROOT_TOPICS:
                    topics.setdefault(int(parts[1]), set()).add(parts[0])
    except FileNotFoundError:
        raise DataError(f"{path} not found; expected {EXPECTED}") from None
    return {doc: ROOT_TOPICS.index(next(iter(t))) for doc, t in topics.items() if len(t) == 1}


def read_token_documents(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(doc id, tokens) for each ``.I id`` / ``.W`` record of a LYRL2004 token file."""
    if not path.exists():
        raise DataError(f"{path} not found; expected {EXPECTED}")
    doc_id: Optional[int] = None
    tokens: list[str] = []
    with open(path) as f:
        for line_number, line in enumerate(f, 1):
            if line.startswith(".I"):
                if doc_id is not None:
                    yield doc_id, tokens
                try:
                    doc_id, tokens = int(line[2:]), []
                except ValueError:
                    raise DataError(f"{path}:{line_number}: expected '.I <doc id>', "
                                    f"got {line.strip()!r}") from None
            elif line.startswith(".W"):
                continue
            elif doc_id is None:
                if line.strip():
                    raise DataError(f"{path}:{line_number}: text before the first '.I' record; "
                                    "is this a LYRL2004 token file?")
            else:
                tokens.extend(line.split())
    if doc_id is not None:
        yield doc_id, tokens


def _kept_documents(source: Path, labels: dict[int, int]) -> Iterator[tuple[int, list[str]]]:
    for name in TOKEN_FILES:
        for doc_id, tokens in read_token_documents(source / name):
            if doc_id in labels:
                yield doc_id, tokens


# ----------------------------------------------------------------------------- the features
def vocabulary_and_idf(documents, n_features: int = N_FEATURES) -> tuple[list[str], np.ndarray, int]:
    """The ``n_features`` most frequent words (ties by word) and their smoothed idf, in one pass.

    idf = ln((1 + n) / (1 + df)) + 1, scikit-learn's ``TfidfTransformer(smooth_idf=True)``.
    """
    counts, document_frequency, n = Counter(), Counter(), 0
    for _, tokens in documents:
        counts.update(tokens)
        document_frequency.update(set(tokens))
        n += 1
    vocabulary = sorted(sorted(counts), key=lambda w: -counts[w])[:n_features]
    vocabulary.sort()  # column order: alphabetical, as CountVectorizer orders its features
    df = np.array([document_frequency[w] for w in vocabulary], np.float64)
    return vocabulary, np.log((1.0 + n) / (1.0 + df)) + 1.0, n


def tfidf_rows(token_lists: list[list[str]], vocabulary: list[str],
               idf: np.ndarray) -> scipy.sparse.csr_matrix:
    """Counts -> sublinear tf x idf -> l2 rows -> x sqrt(D) -> l2 rows x 200, as float32 CSR."""
    column = {w: i for i, w in enumerate(vocabulary)}
    rows, cols, values = [], [], []
    for r, tokens in enumerate(token_lists):
        counted = Counter(column[t] for t in tokens if t in column)
        rows += [r] * len(counted)
        cols += list(counted)
        values += list(counted.values())
    x = scipy.sparse.csr_matrix((np.asarray(values, np.float64), (rows, cols)),
                                shape=(len(token_lists), len(vocabulary)))
    x.data = 1.0 + np.log(x.data)                          # sublinear tf
    x = x @ scipy.sparse.diags(idf)
    x = _l2_rows(x) * np.sqrt(len(vocabulary))
    return (_l2_rows(x) * ROW_NORM).astype(np.float32).tocsr()


def _l2_rows(x: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return scipy.sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x


# ----------------------------------------------------------------------------- the prepared directory
def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npz"


def write_shard(path: Path, x: scipy.sparse.csr_matrix, y: np.ndarray) -> None:
    """One shard, atomically: a crash leaves the old state or the new, never half a file."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        np.savez(f, data=x.data, indices=x.indices.astype(np.int32), indptr=x.indptr.astype(np.int64),
                 shape=np.asarray(x.shape), labels=y.astype(np.int64))
    os.replace(partial, path)


def read_shard(path: Path) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as s:
            x = scipy.sparse.csr_matrix((s["data"], s["indices"], s["indptr"]), shape=tuple(s["shape"]))
            return x, s["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{path} is corrupt ({e}); delete it and re-run the preparation") from None


def _write_json(path: Path, value: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(partial, path)


def prepare(source: Path, out: Path, shard_size: int = SHARD_SIZE, verbose: bool = True) -> dict:
    """Build (or finish building) the prepared directory ``out`` from the native files in ``source``."""
    source, out = Path(source), Path(out)
    if (out / META_FILE).exists():
        return json.loads((out / META_FILE).read_text())
    out.mkdir(parents=True, exist_ok=True)
    labels = read_single_topic_labels(source / QRELS_FILE)
    if (out / VOCABULARY_FILE).exists():
        words = json.loads((out / VOCABULARY_FILE).read_text())
    else:
        if verbose:
            print(f"counting words in {source} (pass 1 of 2)", flush=True)
        vocabulary, idf, n = vocabulary_and_idf(_kept_documents(source, labels))
        if n == 0:
            raise DataError(f"{source}: no document has exactly one of {', '.join(ROOT_TOPICS)}; "
                            f"check {QRELS_FILE} against the token files")
        words = {"vocabulary": vocabulary, "idf": idf.tolist(), "n_documents": n}
        _write_json(out / VOCABULARY_FILE, words)
    vocabulary, idf = words["vocabulary"], np.asarray(words["idf"])
    shards, batch_tokens, batch_labels, stats = [], [], [], {"min": np.inf, "max": -np.inf}

    def flush():
        path = out / shard_name(len(shards))
        if path.exists():  # finished by an earlier, interrupted run
            x, y = read_shard(path)
        else:
            x, y = tfidf_rows(batch_tokens, vocabulary, idf), np.asarray(batch_labels)
            write_shard(path, x, y)
        stats["min"] = min(stats["min"], float(x.min()))
        stats["max"] = max(stats["max"], float(x.max()))
        shards.append({"file": path.name, "n": int(x.shape[0])})
        if verbose:
            done = sum(s["n"] for s in shards)
            print(f"shard {len(shards)}: {done}/{words['n_documents']} documents", flush=True)
        batch_tokens.clear()
        batch_labels.clear()

    for doc_id, tokens in _kept_documents(source, labels):
        batch_tokens.append(tokens)
        batch_labels.append(labels[doc_id])
        if len(batch_tokens) == shard_size:
            flush()
    if batch_tokens:
        flush()
    meta = {"n_samples": sum(s["n"] for s in shards), "n_features": len(vocabulary), "shards": shards,
            "n_classes": len(ROOT_TOPICS), "classes": list(ROOT_TOPICS), **stats}
    _write_json(out / META_FILE, meta)  # last: marks the directory complete
    return meta


# ----------------------------------------------------------------------------- streaming
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


def load(config):
    """Full Reuters from a prepared directory, preparing it first from the native files if needed."""
    from vade_tf.data.dataset import Dataset, only_split_all, require_dir

    directory = require_dir(config, "reuters", f"prepared features ({META_FILE}) or {EXPECTED}")
    only_split_all(config, "reuters")
    prepared = directory
    if not (directory / META_FILE).exists():
        if not (directory / QRELS_FILE).exists() and not any((directory / f).exists() for f in TOKEN_FILES):
            raise DataError(f"{directory} holds neither prepared features ({META_FILE}) nor {EXPECTED}")
        prepared = Path(config.cache_dir) if config.cache_dir else directory / "prepared"
        try:
            prepare(directory, prepared)
        except PermissionError as e:
            raise DataError(f"cannot write prepared features to {prepared} ({e.strerror}); set "
                            "data.cache_dir to a writable directory") from None
    x = ShardedFeatures(prepared)
    return Dataset(x=x, y=x.labels(), name="reuters")
