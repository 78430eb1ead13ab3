"""Datasets: each loader (``registry.DATASETS``) returns a :class:`Dataset` of float32 features."""
from vade_tf.data.dataset import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
