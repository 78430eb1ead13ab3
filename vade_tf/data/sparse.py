"""Sparse features kept sparse in memory and densified one batch at a time.

Bag-of-words and one-hot matrices are mostly zeros: a CSR matrix of N rows costs its non-zeros, the
dense float32 copy N x D x 4 bytes. Training and inference gather rows by index like an array's
(``pipeline.row_gatherer``), so the batches are the ones the dense array would give.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse


class SparseRows:
    """A float32 CSR matrix with the part of an array's interface the pipelines and checks use."""

    def __init__(self, matrix):
        self.matrix = scipy.sparse.csr_matrix(matrix, dtype=np.float32)
        self.matrix.sum_duplicates()  # canonical: sorted, unique column indices per row

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def __getitem__(self, rows) -> "SparseRows":
        """The rows a boolean mask or an index array selects, still sparse."""
        return SparseRows(self.matrix[rows])

    def min(self) -> float:
        return float(self.matrix.min())  # counts the implicit zeros

    def max(self) -> float:
        return float(self.matrix.max())

    def all_finite(self) -> bool:
        return bool(np.all(np.isfinite(self.matrix.data)))

    def toarray(self) -> np.ndarray:
        return self.matrix.toarray()
