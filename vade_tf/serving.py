"""What ``export.py`` saves: the serving functions of a trained model, as a Keras ``ExportArchive``.

The graph holds only standard TensorFlow ops (matmuls, softmax, stateless random numbers), no
device pinning and no Python from vade_tf or TFP, so the same SavedModel serves on CPU or GPU.
``ExportArchive`` (rather than ``tf.saved_model.save`` of a ``tf.Module``) is what makes Keras 3
variables restorable by the graph-mode loader that TF Serving and ``saved_model_cli run`` use.

Signatures (method ``tensorflow/serving/predict``, dynamic batch):
  serving_default  x [B, D] float32 -> cluster [B] int64, cluster_probs [B, K], z_mean [B, J]
  embed            x [B, D] float32 -> z_mean [B, J], z_log_var [B, J]
  generate         cluster [B] int64, seed [] int64 -> x [B, D] (a sample of p(x|z)), x_mean [B, D],
                   z [B, J] (z ~ p(z|c)): the paper's cluster-conditional generation
  score            x [B, D] float32, seed [] int64 -> elbo [B]: each row's ELBO (Eq. 12, VaDE.row_elbos),
                   a lower bound on log p(x) (outliers score low); the rows must lie in the
                   likelihood's support
With an image model (STL-10), ``x`` is replaced by ``images`` [B, 96, 96, 3] float32 RGB in 0..255.
"""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from vade_tf import elbo
from vade_tf.model import VaDE


class VaDEServing:
    """The trained encoder, decoder and mixture behind the four serving signatures."""

    def __init__(self, model: VaDE, image_features: Optional[keras.Model] = None):
        self.model = model
        self.image_features = image_features
        if image_features is None:
            self.input_spec = tf.TensorSpec([None, model.input_dim], tf.float32, name="x")
        else:
            image_shape = [None, *image_features.input_shape[1:]]
            self.input_spec = tf.TensorSpec(image_shape, tf.float32, name="images")
        self.input_name = self.input_spec.name

    def features(self, inputs):
        return inputs if self.image_features is None else self.image_features(inputs, training=False)

    def serve(self, inputs) -> dict:
        z_mean, _ = self.model.encode(self.features(inputs))
        log_gamma = elbo.cluster_log_posterior(self.model.prior.distribution(), z_mean)            # [B, K]
        return {"cluster": tf.argmax(log_gamma, axis=-1, output_type=tf.int64),
                "cluster_probs": tf.exp(log_gamma), "z_mean": z_mean}

    def embed(self, inputs) -> dict:
        z_mean, z_log_var = self.model.encode(self.features(inputs))
        return {"z_mean": z_mean, "z_log_var": z_log_var}

    def generate(self, cluster, seed) -> dict:
        return self.model.generate(cluster, seed)

    def score(self, inputs, seed) -> dict:
        return {"elbo": self.model.row_elbos(self.features(inputs), seed)}

    def endpoints(self) -> dict:
        """Every signature: name -> (its function, its input specs). The archive, the export's input
        contract and TF Serving's warm-up requests are all made from this one list."""
        seed = tf.TensorSpec([], tf.int64, name="seed")
        return {"serving_default": (self.serve, [self.input_spec]),
                "embed": (self.embed, [self.input_spec]),
                "generate": (self.generate, [tf.TensorSpec([None], tf.int64, name="cluster"), seed]),
                "score": (self.score, [self.input_spec, seed])}

    def outputs(self) -> dict:
        """Every signature's output names, in the order its function returns them."""
        return {name: list(tf.function(function).get_concrete_function(*specs).structured_outputs)
                for name, (function, specs) in self.endpoints().items()}

    def archive(self) -> keras.export.ExportArchive:
        """The signatures over the tracked model (and image extractor), ready to write out."""
        archive = keras.export.ExportArchive()
        archive.track(self.model)
        if self.image_features is not None:
            archive.track(self.image_features)
        for name, (function, specs) in self.endpoints().items():
            archive.add_endpoint(name, function, input_signature=specs)
        return archive
