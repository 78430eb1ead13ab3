"""The encoder g(x; phi) and decoder f(z; theta) of VaDE as two Keras layers that every architecture
fills with its own body: the protocol that the ELBO, pretraining and the exported model rely on.

- ``GaussianEncoder(features, latent_dim)``: rows x [B, D] -> (mean, log-variance) [B, J] of q(z|x).
  ``features`` is the architecture's body (any Keras layer from rows to feature vectors);
  ``mean`` and ``log_var`` are the two linear heads on it. Pretraining trains the mean path
  ``mean(features(x))``; the log-variance head starts at zero and is set when VaDE training starts.
- ``Decoder(body)``: z [.., J] -> the parameters of p(x|z) as flat rows [.., P * D] (P per feature:
  1 Bernoulli logit, or the Gaussian's means followed by its log-variances). ``body`` maps [N, J] to
  [N, P * D]; the ELBO's leading dimensions (its [L, B, J] draws) are folded into N and back.
- An architecture whose ``registry.ArchitectureEntry.dense_layer_pairs`` is true has bodies that are
  ``keras.Sequential`` stacks of Dense layers, the decoder's mirroring the encoder's, which stacked
  denoising pretraining trains one pair at a time.

Both take and return flat rows, so the ELBO, the data pipeline and the exported signatures do not
depend on the architecture. The heads compute in float32, so under mixed precision the ELBO and the
mixture never see half precision.
"""
from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from vade_tf.registry import LIKELIHOODS
from vade_tf.validation import require_positive_integers


@keras.saving.register_keras_serializable(package="vade_tf")
class GaussianEncoder(keras.layers.Layer):
    """x -> (mean, log-variance) of q(z|x): ``features`` feeding two float32 linear heads.

    Parameters
    ----------
    features : keras.layers.Layer
        The architecture's body, from rows [B, D] to feature vectors [B, F].
    latent_dim : int
        J, the dimension of z.
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``).
    """

    def __init__(self, features: keras.layers.Layer, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        require_positive_integers(latent_dim=latent_dim)
        self.features, self.latent_dim = features, int(latent_dim)
        self.mean = keras.layers.Dense(self.latent_dim, dtype="float32", name="z_mean")
        # Starts at log sigma~^2 = 0 with zero weights, so the first samples are not wildly noisy.
        self.log_var = keras.layers.Dense(self.latent_dim, kernel_initializer="zeros", dtype="float32",
                                          name="z_log_var")

    def build(self, input_shape):
        self.features.build(input_shape)
        feature_shape = self.features.compute_output_shape(input_shape)
        self.mean.build(feature_shape)
        self.log_var.build(feature_shape)

    def call(self, x):
        h = self.features(x)
        return self.mean(h), self.log_var(h)

    def get_config(self):
        return {**super().get_config(), "features": keras.saving.serialize_keras_object(self.features),
                "latent_dim": self.latent_dim}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "features": keras.saving.deserialize_keras_object(config["features"])})


@keras.saving.register_keras_serializable(package="vade_tf")
class Decoder(keras.layers.Layer):
    """z [.., J] -> the parameters of p(x|z) [.., P * D], through ``body`` on [N, J] rows.

    Parameters
    ----------
    body : keras.layers.Layer
        The architecture's body, from latent rows [N, J] to parameter rows [N, P * D].
    **kwargs
        Keras ``Layer`` arguments (``name``, ``dtype``).
    """

    def __init__(self, body: keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.body = body

    def build(self, input_shape):
        self.body.build((None, input_shape[-1]))

    def call(self, z):
        rows = self.body(tf.reshape(z, [-1, z.shape[-1]]))
        return tf.reshape(rows, tf.concat([tf.shape(z)[:-1], tf.shape(rows)[-1:]], 0))

    def get_config(self):
        return {**super().get_config(), "body": keras.saving.serialize_keras_object(self.body)}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "body": keras.saving.deserialize_keras_object(config["body"])})


def parameters_per_feature(likelihood: str) -> int:
    """P, the decoder's outputs per input feature under ``likelihood``."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, received {likelihood!r}")
    return LIKELIHOODS[likelihood].parameters_per_feature


def relu_layers(widths: Sequence[int], hidden_dtype: Optional[str], prefix: str) -> list:
    """ReLU Dense layers of ``widths``, computing in ``hidden_dtype`` (a Keras dtype policy, or None)."""
    return [keras.layers.Dense(w, activation="relu", dtype=hidden_dtype, name=f"{prefix}_hidden_{i}")
            for i, w in enumerate(widths)]
