"""The paper's fully connected networks (DEC's D-500-500-2000-J): ReLU Dense layers down to the latent,
and the same widths in reverse up to the likelihood's parameters."""
from __future__ import annotations

from dataclasses import dataclass, replace

from vade_tf.validation import AUTO, setting


def widths_for(n_samples: int) -> tuple[int, int, int]:
    """(h, h, 4h), the paper's shape, with h = N / 8 within [64, 500]."""
    width = int(min(max(n_samples // 8, 64), 500))
    return width, width, 4 * width


@dataclass(frozen=True)
class Options:
    """The ``model.networks`` section of ``model.architecture = "mlp"``."""
    # Encoder widths D-h1-h2-h3-J; the decoder mirrors them (the paper and DEC use 500-500-2000).
    # "auto": (h, h, 4h) with h = N / 8 within [64, 500], the paper's network from 4,000 samples up: a
    # 5-million-weight autoencoder on a few hundred rows learns a latent weaker than the raw features.
    hidden_dims: tuple[int, ...] = setting(AUTO, minimum=1, nonempty=True, auto=True)

    def resolved(self, data) -> "Options":
        """These options with "auto" replaced by its value for ``data`` (a loaded Dataset)."""
        if self.hidden_dims == AUTO:
            return replace(self, hidden_dims=widths_for(len(data.x)))
        return self


def networks(options: Options, shape):
    """An encoder and decoder of ``options.hidden_dims`` for ``shape`` (``architectures.NetworkShape``)."""
    import keras

    from vade_tf.networks import Decoder, GaussianEncoder, parameters_per_feature, relu_layers

    # Made in the order the layers run: an initialiser draws its seed when its layer is made.
    widths = list(options.hidden_dims)
    features = keras.Sequential(relu_layers(widths, shape.hidden_dtype, "encoder"), name="features")
    encoder = GaussianEncoder(features, shape.latent_dim, name="encoder")
    hidden = relu_layers(widths[::-1], shape.hidden_dtype, "decoder")
    output = keras.layers.Dense(shape.input_dim * parameters_per_feature(shape.likelihood), dtype="float32",
                                name="x_params")
    return encoder, Decoder(keras.Sequential([*hidden, output], name="body"), name="decoder")
