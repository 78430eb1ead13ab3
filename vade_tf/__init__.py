"""vade-tf: Variational Deep Embedding (VaDE) in TensorFlow 2, Keras 3 and TensorFlow Probability."""
__version__ = "0.1.0"
