"""Stride-2 convolutions down to the latent and stride-2 transposed convolutions back up (a student
reproduction's variant), for data whose rows are images."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from vade_tf.errors import ConfigError
from vade_tf.validation import setting


@dataclass(frozen=True)
class Options:
    """The ``model.networks`` section of ``model.architecture = "conv"``."""
    # Channels of the encoder's layers (each halves height and width); the decoder mirrors them.
    filters: tuple[int, ...] = setting((32, 64, 128), minimum=1, nonempty=True)
    # Widths of ReLU dense layers between the flattened last feature map and the latent (the decoder
    # mirrors them); empty: the feature map feeds the latent heads directly.
    dense: tuple[int, ...] = setting((), minimum=1)
    # (height, width, channels) of each row; empty: the dataset's own grey images.
    image_shape: tuple[int, ...] = ()

    def __post_init__(self):
        if self.image_shape and (len(self.image_shape) != 3 or min(self.image_shape) < 1):
            raise ConfigError(f"model.networks.image_shape: got {list(self.image_shape)!r}, must be "
                              "[height, width, channels] or empty (the dataset's own)")

    def resolved(self, data) -> "Options":
        """These options with the image shape filled in from ``data`` (a loaded Dataset), and checked
        against its width."""
        shape = self.image_shape
        if not shape:
            if data.image_shape is None:
                raise ConfigError(f"model.architecture=conv: {data.name}'s rows are not images; set model."
                                  "networks.image_shape=[height, width, channels] or use architecture mlp")
            shape = (*data.image_shape, 1)
        if math.prod(shape) != data.input_dim:
            raise ConfigError(f"model.networks.image_shape: {list(shape)} holds {math.prod(shape)} values "
                              f"but the data has {data.input_dim} features per row; fix the shape")
        return replace(self, image_shape=tuple(shape))


def halved_sizes(height: int, width: int, n_layers: int) -> list[tuple[int, int]]:
    """(height, width) before and after each of ``n_layers`` stride-2 "same" convolutions: each
    rounds up, so 28 -> 14 -> 7 -> 4. The decoder retraces them, cropping after each upsampling."""
    sizes = [(height, width)]
    for _ in range(n_layers):
        h, w = sizes[-1]
        sizes.append((math.ceil(h / 2), math.ceil(w / 2)))
    return sizes


def networks(options: Options, shape):
    """An encoder of 4x4 stride-2 ReLU convolutions (a kernel divisible by the stride sees every pixel
    equally often), flattened, then ReLU dense layers; and a decoder that retraces it: the dense
    layers in reverse, a dense layer to the last feature map, then transposed convolutions, each
    cropped back to its size. The decoder's rows hold all P = 1 parameters (or the means, then the
    log-variances) in the layout of the MLP decoder's, for ``shape`` (``architectures.NetworkShape``)."""
    import keras

    from vade_tf.networks import Decoder, GaussianEncoder, parameters_per_feature, relu_layers

    height, width, channels = options.image_shape
    filters, dense, dtype = list(options.filters), list(options.dense), shape.hidden_dtype
    sizes = halved_sizes(height, width, len(filters))
    h, w = sizes[-1]
    convs = [keras.layers.Conv2D(f, 4, strides=2, padding="same", activation="relu", dtype=dtype,
                                 name=f"encoder_conv_{i}") for i, f in enumerate(filters)]
    features = keras.Sequential([keras.layers.Reshape((height, width, channels)), *convs,
                                 keras.layers.Flatten(), *relu_layers(dense, dtype, "encoder")],
                                name="features")
    # Made before the decoder's layers, in the order the layers run: an initialiser draws its seed
    # when its layer is made.
    encoder = GaussianEncoder(features, shape.latent_dim, name="encoder")
    per_pixel = parameters_per_feature(shape.likelihood)
    body = [*relu_layers(dense[::-1], dtype, "decoder"),
            keras.layers.Dense(h * w * filters[-1], activation="relu", dtype=dtype, name="decoder_dense"),
            keras.layers.Reshape((h, w, filters[-1]))]
    out_channels = list(reversed(filters[:-1])) + [channels * per_pixel]
    for i, (c, (target_h, target_w), (small_h, small_w)) in enumerate(
            zip(out_channels, reversed(sizes[:-1]), reversed(sizes[1:]))):
        last = i == len(out_channels) - 1  # emits the distribution's parameters: float32, linear
        body.append(keras.layers.Conv2DTranspose(
            c, 4, strides=2, padding="same", activation=None if last else "relu",
            dtype="float32" if last else dtype, name="x_params" if last else f"decoder_deconv_{i}"))
        body.append(keras.layers.Cropping2D(((0, 2 * small_h - target_h), (0, 2 * small_w - target_w))))
    # [N, H, W, P*C] -> [N, P, H, W, C] -> rows: all P=1 (or the means, then the log-variances)
    body += [keras.layers.Reshape((height, width, per_pixel, channels)), keras.layers.Permute((3, 1, 2, 4)),
             keras.layers.Reshape((per_pixel * height * width * channels,))]
    return encoder, Decoder(keras.Sequential(body, name="body"), name="decoder")
