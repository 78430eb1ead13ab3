"""Network architectures, one module each, named in ``registry.ARCHITECTURES``.

An architecture module holds two things. ``Options``, a frozen dataclass of ``validation.setting``
fields: the schema of its ``model.networks`` config section, validated on load like every other
section, with a ``resolved(data)`` method that replaces its "auto" values for the data. And
``networks(options, shape)``, which returns its ``networks.GaussianEncoder`` and
``networks.Decoder`` for a ``NetworkShape``. Its module imports Keras inside ``networks`` only, so a
config is checked without TensorFlow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from vade_tf.registry import ARCHITECTURES, resolve


@dataclass(frozen=True)
class NetworkShape:
    """What the networks must fit, whatever their architecture: an architecture's ``networks``
    builds them for it.

    Parameters
    ----------
    input_dim : int
        D, features per row.
    latent_dim : int
        J, the dimension of z.
    likelihood : str
        p(x|z), which sets the decoder's outputs per feature.
    hidden_dtype : str, optional
        A Keras dtype policy for the hidden layers (mixed precision).
    """

    input_dim: int
    latent_dim: int
    likelihood: str
    hidden_dtype: Optional[str] = None


def build_networks(architecture: str, options, shape: NetworkShape) -> tuple:
    """(encoder, decoder) of ``architecture`` with its resolved ``options`` for ``shape``."""
    return resolve(ARCHITECTURES[architecture].networks)(options, shape)
