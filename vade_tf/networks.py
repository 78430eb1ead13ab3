"""The encoder g(x; phi) and decoder f(z; theta) of VaDE: fully connected ReLU networks (DEC's), or
stride-2 convolutions and transposed convolutions for images (a student reproduction's variant).

Both kinds take and return flat rows ([B, D] in, [.., D] or [.., 2D] parameters out), so the ELBO,
the data pipeline and the exported signatures do not depend on the architecture.

``hidden_dtype`` (a Keras dtype policy such as "mixed_bfloat16") applies to the hidden layers only,
where nearly all the FLOPs are; the heads that emit distribution parameters compute in float32, so
the ELBO and the mixture never see half precision.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from vade_tf.registry import LIKELIHOODS


def _check_widths(name: str, widths: Sequence[int]) -> list[int]:
    widths = [int(w) for w in widths]
    if not widths or min(widths) < 1:
        raise ValueError(f"{name} must be a non-empty list of positive integers, received {widths!r}")
    return widths


def _build_stack(layers, input_shape) -> tuple:
    """Build Dense layers applied in sequence; return the shape that comes out of the last."""
    shape = tuple(input_shape)
    for layer in layers:
        layer.build(shape)
        shape = shape[:-1] + (layer.units,)
    return shape


def _parameters_per_feature(likelihood: str) -> int:
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, received {likelihood!r}")
    return LIKELIHOODS[likelihood].parameters_per_feature


def _relu_stack(widths: Sequence[int], hidden_dtype: Optional[str], prefix: str) -> list:
    return [keras.layers.Dense(w, activation="relu", dtype=hidden_dtype, name=f"{prefix}_hidden_{i}")
            for i, w in enumerate(widths)]


class _GaussianEncoder(keras.layers.Layer):
    """An encoder whose ``features`` feed two linear heads: the mean and log-variance of q(z|x)."""

    def _add_heads(self, latent_dim: int) -> None:
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, received {latent_dim!r}")
        self.latent_dim = int(latent_dim)
        self.mean = keras.layers.Dense(self.latent_dim, dtype="float32", name="z_mean")
        # Starts at log sigma~^2 = 0 with zero weights, so the first samples are not wildly noisy.
        self.log_var = keras.layers.Dense(self.latent_dim, kernel_initializer="zeros", dtype="float32",
                                          name="z_log_var")

    def _build_heads(self, feature_shape) -> None:
        self.mean.build(feature_shape)
        self.log_var.build(feature_shape)

    def call(self, x):
        h = self.features(x)
        return self.mean(h), self.log_var(h)


class Encoder(_GaussianEncoder):
    """x -> (mean, log-variance) of q(z|x); the last hidden layer feeds the two heads."""

    def __init__(self, hidden_dims: Sequence[int], latent_dim: int, hidden_dtype: Optional[str] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.hidden_dims = _check_widths("hidden_dims", hidden_dims)
        self.hidden = _relu_stack(self.hidden_dims, hidden_dtype, self.name)
        self._add_heads(latent_dim)

    def build(self, input_shape):
        self._build_heads(_build_stack(self.hidden, input_shape))

    def features(self, x):
        for layer in self.hidden:
            x = layer(x)
        return x

    def get_config(self):
        return {**super().get_config(), "hidden_dims": self.hidden_dims, "latent_dim": self.latent_dim}


class Decoder(keras.layers.Layer):
    """z -> parameters of p(x|z): Bernoulli logits [.., D], or Gaussian [mean; log-variance] [.., 2D]."""

    def __init__(self, hidden_dims: Sequence[int], output_dim: int, likelihood: str,
                 hidden_dtype: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dims = _check_widths("hidden_dims", hidden_dims)
        self.output_dim = int(output_dim)
        self.likelihood = likelihood
        self.hidden = _relu_stack(self.hidden_dims, hidden_dtype, self.name)
        width = self.output_dim * _parameters_per_feature(likelihood)
        self.out = keras.layers.Dense(width, dtype="float32", name="x_params")

    def build(self, input_shape):
        _build_stack(self.hidden + [self.out], input_shape)

    def call(self, z):
        for layer in self.hidden:
            z = layer(z)
        return self.out(z)

    def get_config(self):
        return {**super().get_config(), "hidden_dims": self.hidden_dims, "output_dim": self.output_dim,
                "likelihood": self.likelihood}


def _check_image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), received {image_shape!r}")
    return shape


def halved_sizes(height: int, width: int, n_layers: int) -> list[tuple[int, int]]:
    """(height, width) before and after each of ``n_layers`` stride-2 "same" convolutions: each
    rounds up, so 28 -> 14 -> 7 -> 4. The decoder retraces them, cropping after each upsampling."""
    sizes = [(height, width)]
    for _ in range(n_layers):
        h, w = sizes[-1]
        sizes.append((math.ceil(h / 2), math.ceil(w / 2)))
    return sizes


class ConvEncoder(_GaussianEncoder):
    """x [B, H*W*C] -> (mean, log-variance) of q(z|x): stride-2 ReLU convolutions (4x4 kernels,
    divisible by the stride, so every input pixel is seen equally often), flattened, then optional
    ReLU dense layers of ``dense_dims``, into two heads."""

    def __init__(self, image_shape: Sequence[int], filters: Sequence[int], latent_dim: int,
                 hidden_dtype: Optional[str] = None, dense_dims: Sequence[int] = (), **kwargs):
        super().__init__(**kwargs)
        self.image_shape = _check_image_shape(image_shape)
        self.filters = _check_widths("filters", filters)
        self.dense_dims = _check_widths("dense_dims", dense_dims) if dense_dims else []
        self.convs = [keras.layers.Conv2D(f, 4, strides=2, padding="same", activation="relu",
                                          dtype=hidden_dtype, name=f"{self.name}_conv_{i}")
                      for i, f in enumerate(self.filters)]
        h, w = halved_sizes(*self.image_shape[:2], len(self.filters))[-1]
        self.feature_dim = h * w * self.filters[-1]
        self.hidden = _relu_stack(self.dense_dims, hidden_dtype, self.name)
        self._add_heads(latent_dim)

    def build(self, input_shape):
        shape = (None, *self.image_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self._build_heads(_build_stack(self.hidden, (None, self.feature_dim)))

    def features(self, x):
        h = keras.ops.reshape(x, (-1, *self.image_shape))
        for conv in self.convs:
            h = conv(h)
        h = keras.ops.reshape(h, (-1, self.feature_dim))
        for layer in self.hidden:
            h = layer(h)
        return h

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "filters": self.filters,
                "latent_dim": self.latent_dim, "dense_dims": self.dense_dims}


class ConvDecoder(keras.layers.Layer):
    """z [.., J] -> parameters of p(x|z) as flat rows: the encoder's dense layers in reverse, a dense
    layer to its last feature map, then stride-2 transposed convolutions back up its sizes; Bernoulli
    logits [.., D], or Gaussian [mean; log-variance] [.., 2D] in the same layout as the MLP decoder's."""

    def __init__(self, image_shape: Sequence[int], filters: Sequence[int], likelihood: str,
                 hidden_dtype: Optional[str] = None, dense_dims: Sequence[int] = (), **kwargs):
        super().__init__(**kwargs)
        self.image_shape = _check_image_shape(image_shape)
        self.filters = _check_widths("filters", filters)  # the encoder's order; used reversed
        self.dense_dims = _check_widths("dense_dims", dense_dims) if dense_dims else []  # likewise
        self.likelihood = likelihood
        self.sizes = halved_sizes(*self.image_shape[:2], len(self.filters))
        h, w = self.sizes[-1]
        self.hidden = _relu_stack(self.dense_dims[::-1], hidden_dtype, self.name)
        self.dense = keras.layers.Dense(h * w * self.filters[-1], activation="relu", dtype=hidden_dtype,
                                        name=f"{self.name}_dense")
        self.parameters_per_pixel = _parameters_per_feature(likelihood)
        channels = list(reversed(self.filters[:-1])) + [self.image_shape[2] * self.parameters_per_pixel]
        self.deconvs = []
        for i, c in enumerate(channels):
            last = i == len(channels) - 1  # emits the distribution's parameters: float32, linear
            self.deconvs.append(keras.layers.Conv2DTranspose(
                c, 4, strides=2, padding="same", activation=None if last else "relu",
                dtype="float32" if last else hidden_dtype,
                name="x_params" if last else f"{self.name}_deconv_{i}"))

    def build(self, input_shape):
        self.dense.build(_build_stack(self.hidden, (None, input_shape[-1])))
        h, w = self.sizes[-1]
        shape = (None, h, w, self.filters[-1])
        for deconv in self.deconvs:
            deconv.build(shape)
            shape = deconv.compute_output_shape(shape)

    def call(self, z):
        height, width, channels = self.image_shape
        h = tf.reshape(z, [-1, z.shape[-1]])
        for layer in self.hidden:
            h = layer(h)
        h = self.dense(h)
        h = tf.reshape(h, [-1, *self.sizes[-1], self.filters[-1]])
        for deconv, (target_h, target_w) in zip(self.deconvs, reversed(self.sizes[:-1])):
            h = deconv(h)[:, :target_h, :target_w, :]  # 2 * ceil(s / 2) >= s: crop back to s
        # [N, H, W, P*C] -> [N, P, H, W, C] -> rows: all P=1 (or the means, then the log-variances)
        h = tf.reshape(h, [-1, height, width, self.parameters_per_pixel, channels])
        h = tf.transpose(h, [0, 3, 1, 2, 4])
        width_out = self.parameters_per_pixel * height * width * channels
        return tf.reshape(h, tf.concat([tf.shape(z)[:-1], [width_out]], 0))

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "filters": self.filters,
                "likelihood": self.likelihood, "dense_dims": self.dense_dims}


# The builders ``registry.ARCHITECTURES`` names: a VaDE's settings -> its (encoder, decoder).
def mlp_networks(model) -> tuple[Encoder, Decoder]:
    """The paper's fully connected networks of ``model.hidden_dims``; the decoder mirrors the encoder."""
    return (Encoder(model.hidden_dims, model.latent_dim, model.hidden_dtype, name="encoder"),
            Decoder(model.hidden_dims[::-1], model.input_dim, model.likelihood, model.hidden_dtype,
                    name="decoder"))


def conv_networks(model) -> tuple[ConvEncoder, ConvDecoder]:
    """Stride-2 convolutions of ``model.conv_filters`` (and dense layers of ``model.conv_dense``) over
    rows read as images of ``model.image_shape``, and their mirror image."""
    if model.image_shape is None or int(np.prod(model.image_shape)) != model.input_dim:
        raise ValueError(f"a conv VaDE needs image_shape (height, width, channels) with {model.input_dim} "
                         f"values, received {model.image_shape!r}")
    return (ConvEncoder(model.image_shape, model.conv_filters, model.latent_dim, model.hidden_dtype,
                        model.conv_dense, name="encoder"),
            ConvDecoder(model.image_shape, model.conv_filters, model.likelihood, model.hidden_dtype,
                        model.conv_dense, name="decoder"))
