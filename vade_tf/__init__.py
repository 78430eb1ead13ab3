"""vade-tf: Variational Deep Embedding (VaDE) in TensorFlow 2, Keras 3 and TensorFlow Probability.

``from vade_tf import VaDEClustering`` is the scikit-learn estimator; the commands are ``vade-train``,
``vade-export``, ``vade-experiment`` and ``vade-predict``.
"""
__version__ = "0.1.0"
__all__ = ["VaDEClustering"]


def __getattr__(name: str):
    """The estimator on first use: ``import vade_tf`` stays light for the commands' quick checks."""
    if name == "VaDEClustering":
        from vade_tf.estimator import VaDEClustering

        return VaDEClustering
    raise AttributeError(f"module 'vade_tf' has no attribute {name!r}")
