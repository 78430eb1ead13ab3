"""p(x|z): the decoder's output read as a TFP distribution over a row of features.

The decoder emits ``x_params`` [.., D * parameters_per_feature]; ``decoded`` turns them into the
distribution that ``model.likelihood`` names (``registry.LIKELIHOODS``), and everything that needs
p(x|z) asks it: the ELBO's reconstruction term, generation, reconstruction and pretraining's loss.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from vade_tf.registry import LIKELIHOODS, resolve

tfd = tfp.distributions


def bernoulli(x_params) -> tfd.Distribution:
    """Logits [.., D]: independent Bernoullis. Its log_prob takes continuous x in [0, 1] too: then it
    is the cross-entropy the paper optimises on MNIST's grey levels."""
    return tfd.Independent(tfd.Bernoulli(logits=x_params, dtype=x_params.dtype), 1)


def gaussian(x_params) -> tfd.Distribution:
    """[means; log-variances] [.., 2D]: independent Normals."""
    mean, log_var = tf.split(x_params, 2, axis=-1)
    return tfd.Independent(tfd.Normal(mean, tf.exp(0.5 * log_var)), 1)


@tf.autograph.experimental.do_not_convert  # plain Python: finding the registry's code imports a module
def decoded(x_params, likelihood: str) -> tfd.Distribution:
    """p(x|z) for decoder outputs ``x_params``, with the rows' D features as one event (in their
    precision: TFP would read a float64 array as float32)."""
    return resolve(LIKELIHOODS[likelihood].distribution)(tf.convert_to_tensor(x_params))


def log_prob(x, x_params, likelihood: str):
    """log p(x|z) [..], the D features summed; x [.., D] broadcasts against leading sample axes."""
    return decoded(x_params, likelihood).log_prob(x)


def autoencoder_loss(likelihood: str):
    """Pretraining's per-row loss: -log p(x|z) of the decoder's output, where the Gaussian's variances,
    which an autoencoder does not train, are held at one (the squared error of its means, halved)."""
    def loss(x, x_params):
        distribution = decoded(x_params, likelihood)
        if likelihood == "gaussian":
            return 0.5 * tf.reduce_sum(tf.square(x - distribution.mean()), -1)
        return -distribution.log_prob(x)
    return loss
