"""Full Reuters (RCV1-v2, 685,071 documents): features prepared once on disk, streamed by tf.data.

``prepare`` turns the LYRL2004 token files and the topic qrels into 2,000 TF-IDF features per
document, following DEC/VaDE: keep the documents with exactly one of the root topics CCAT, GCAT,
MCAT, ECAT; count the 2,000 most frequent words; TF-IDF with sublinear tf and l2 rows; x sqrt(2000);
l2-normalise and x 200 (the two scalings compose to rows of l2 norm 200). As dense float32 that is
5.5 GB, so it is stored sparse, in shards that ``shards.ShardedFeatures`` streams.

Preparation writes each shard atomically and ``meta.json`` last, so an interrupted run can be
re-run: finished shards are kept, and a directory without ``meta.json`` is never read as data.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import scipy.sparse

from vade_tf import files
from vade_tf.data.dataset import Dataset, only_split_all, require_dir
from vade_tf.data.shards import META_FILE, ShardedFeatures, read_shard, shard_name, write_shard
from vade_tf.errors import DataError

ROOT_TOPICS = ("CCAT", "ECAT", "GCAT", "MCAT")  # label = index in this tuple
TOKEN_FILES = ("lyrl2004_tokens_train.dat", "lyrl2004_tokens_test_pt0.dat", "lyrl2004_tokens_test_pt1.dat",
               "lyrl2004_tokens_test_pt2.dat", "lyrl2004_tokens_test_pt3.dat")
QRELS_FILE = "rcv1-v2.topics.qrels"
EXPECTED = (f"{', '.join(TOKEN_FILES)} and {QRELS_FILE} (RCV1-v2 appendices, "
            "http://www.ai.mit.edu/projects/jmlr/papers/volume5/lewis04a/lyrl2004_rcv1v2_README.htm)")
N_FEATURES = 2000
ROW_NORM = 200.0
VOCABULARY_FILE = "vocabulary.json"
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
        files.write_json(out / VOCABULARY_FILE, words)
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
    files.write_json(out / META_FILE, meta)  # last: marks the directory complete
    return meta


def load(config):
    """Full Reuters from a prepared directory, preparing it first from the native files if needed."""
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
