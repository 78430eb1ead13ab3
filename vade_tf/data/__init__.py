"""Datasets: each loader returns a :class:`Dataset` of float32 features in memory."""
from vade_tf.data.dataset import DataError, Dataset, check_dataset, load_dataset

__all__ = ["Dataset", "DataError", "check_dataset", "load_dataset"]
