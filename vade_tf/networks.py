"""The encoder g(x; phi) and decoder f(z; theta) of VaDE: fully connected ReLU networks (DEC's).

``hidden_dtype`` (a Keras dtype policy such as "mixed_bfloat16") applies to the hidden layers only,
where nearly all the FLOPs are; the heads that emit distribution parameters compute in float32, so
the ELBO and the mixture never see half precision.
"""
from __future__ import annotations

from typing import Optional, Sequence

import keras


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


class Encoder(keras.layers.Layer):
    """x -> (mean, log-variance) of q(z|x); the last hidden layer feeds two linear heads."""

    def __init__(self, hidden_dims: Sequence[int], latent_dim: int, hidden_dtype: Optional[str] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.hidden_dims = _check_widths("hidden_dims", hidden_dims)
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, received {latent_dim!r}")
        self.latent_dim = int(latent_dim)
        self.hidden = [keras.layers.Dense(w, activation="relu", dtype=hidden_dtype,
                                          name=f"{self.name}_hidden_{i}")
                       for i, w in enumerate(self.hidden_dims)]
        self.mean = keras.layers.Dense(self.latent_dim, dtype="float32", name="z_mean")
        # Starts at log sigma~^2 = 0 with zero weights, so the first samples are not wildly noisy.
        self.log_var = keras.layers.Dense(self.latent_dim, kernel_initializer="zeros", dtype="float32",
                                          name="z_log_var")

    def build(self, input_shape):
        shape = _build_stack(self.hidden, input_shape)
        self.mean.build(shape)
        self.log_var.build(shape)

    def features(self, x):
        for layer in self.hidden:
            x = layer(x)
        return x

    def call(self, x):
        h = self.features(x)
        return self.mean(h), self.log_var(h)

    def get_config(self):
        return {**super().get_config(), "hidden_dims": self.hidden_dims, "latent_dim": self.latent_dim}


class Decoder(keras.layers.Layer):
    """z -> parameters of p(x|z): Bernoulli logits [.., D], or Gaussian [mean; log-variance] [.., 2D]."""

    def __init__(self, hidden_dims: Sequence[int], output_dim: int, likelihood: str,
                 hidden_dtype: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dims = _check_widths("hidden_dims", hidden_dims)
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', received {likelihood!r}")
        self.output_dim = int(output_dim)
        self.likelihood = likelihood
        self.hidden = [keras.layers.Dense(w, activation="relu", dtype=hidden_dtype,
                                          name=f"{self.name}_hidden_{i}")
                       for i, w in enumerate(self.hidden_dims)]
        width = self.output_dim * (2 if likelihood == "gaussian" else 1)
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
