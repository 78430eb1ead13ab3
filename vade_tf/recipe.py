"""The default recipe's data-dependent values: each ``"auto"`` in a config, resolved from the data's
size and values before a run, so one recipe serves 150 rows and 70,000.

The paper's network (500-500-2000) and schedule were made for 70,000 MNIST images. On a few hundred
rows that network has thousands of weights per sample and learns a latent weaker than the raw
features, and a fixed number of epochs is a few dozen optimizer steps. So the networks grow with N
up to the paper's, the batches shrink with it, and the epochs are set for about
``TARGET_STEPS`` steps. ``resolve_auto`` writes the values into the config, and so into the run's
config.json: a finished run states what it trained with.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np

from vade_tf.config import Config
from vade_tf.data import Dataset, load_dataset
from vade_tf.data.sparse import SparseRows
from vade_tf.errors import ConfigError
from vade_tf.registry import LIKELIHOODS
from vade_tf.scaling import scaling_for
from vade_tf.validation import AUTO, check_data

TARGET_STEPS = 1000  # optimizer steps of pretraining, and of VaDE training, that "auto" epochs aim at
XLA_MIN_SAMPLES = 5000  # from here up "auto" compiles the steps with XLA
# An "auto" likelihood is Bernoulli for features in [0, 1] most of which have at least BOUNDARY_SHARE
# of their values exactly at 0 or 1 (pixels on a background, binary features) and whose other values
# average at least INTENSITY_MEAN: intensities that use the range, as pixels do. Continuous
# measurements that happen to lie in [0, 1] (a table with one near-constant column among them: the
# yeast table's), and weights that are small fractions of it (TF-IDF rows of unit length: BBC news'
# nonzero values average 0.095, and as Bernoulli data VaDE clustered them at chance), get a Gaussian.
BOUNDARY_SHARE = 0.1
INTENSITY_MEAN = 0.25


def _within(value: float, low: int, high: int) -> int:
    return int(min(max(value, low), high))


def neighbors_for(n_samples: int, n_clusters: int) -> int:
    """The spectral graph's neighbours: the mean cluster size N / K, within [5, 40]."""
    return _within(n_samples // n_clusters, 5, 40)


def batch_for(n_samples: int, divisor: int, low: int, high: int) -> int:
    """N / divisor within [low, high], and never more than N."""
    return min(_within(n_samples // divisor, low, high), n_samples)


def epochs_for(n_samples: int, batch: int, low: int, high: int) -> int:
    """Epochs of ``batch``-sized steps for about TARGET_STEPS steps, within [low, high]."""
    return _within(math.ceil(TARGET_STEPS / math.ceil(n_samples / batch)), low, high)


def likelihood_for(x, source: str) -> str:
    """"bernoulli" when every feature lies in its support ([0, 1]), the median feature has
    ``BOUNDARY_SHARE`` of its values at the ends and the values above 0 average ``INTENSITY_MEAN`` or
    more, else "gaussian"."""
    if not hasattr(x, "min"):
        raise ConfigError(f"model.likelihood: auto reads the features' range, which {source}'s streamed "
                          "features do not offer; set bernoulli or gaussian")
    low, high = LIKELIHOODS["bernoulli"].support
    if not (len(x) and low <= x.min() and x.max() <= high):
        return "gaussian"
    if isinstance(x, SparseRows):  # the implicit zeros are at the boundary
        matrix = x.matrix  # CSR: its indices are the stored values' columns
        rows, columns = matrix.shape
        at_boundary = (matrix.data == low) | (matrix.data == high)
        ends = (rows - np.bincount(matrix.indices, minlength=columns)
                + np.bincount(matrix.indices[at_boundary], minlength=columns))
        positive = matrix.data[matrix.data > low]
    else:
        ends = np.count_nonzero((x == low) | (x == high), axis=0)
        positive = x[x > low]
    intensities = positive.size and positive.mean() >= INTENSITY_MEAN
    at_ends = np.median(ends) >= BOUNDARY_SHARE * x.shape[0]
    return "bernoulli" if at_ends and intensities else "gaussian"


def prepare(config: Config, data: Optional[Dataset] = None) -> tuple[Config, Dataset]:
    """What a run does before it trains, and all of it that can fail on the user's input: load the
    data (unless given), resolve each "auto" for it (``resolve_auto``), check the two against each
    other (``validation.check_data``). Imports no TensorFlow, so the commands call it first.

    Returns
    -------
    (Config, Dataset)
        The config a run trains with, and its data: what ``runs.train_checked`` takes.
    """
    if data is None:
        data = load_dataset(config.data)
    config = resolve_auto(config, data)
    check_data(config, data)
    return config, data


def resolve_auto(config: Config, data) -> Config:
    """The config a run trains with: each "auto" replaced by its value for the data.

    Parameters
    ----------
    config : Config
        A validated config, whose settings may hold "auto" where ``config.setting`` allows it.
    data : Dataset
        The loaded training data: its size, width and (for the likelihood) values decide.

    Returns
    -------
    Config
        ``config`` with every "auto" resolved (equal to ``config`` when it holds none), as the run's
        config.json then records it; but for ``model.n_clusters``, which is chosen from the pretrained
        latent (``vade_tf.cluster_count``), and the neighbours of the spectral graph, which follow that
        K: a run resolves them once it is chosen, by calling this again.
    """
    n = len(data.x)
    model, pretrain, train = config.model, config.pretrain, config.train
    if model.likelihood == AUTO:
        model = dataclasses.replace(model, likelihood=likelihood_for(data.x, data.name))
    if model.standardize == AUTO:
        scaling = scaling_for(data.x) if model.likelihood == "gaussian" else "none"
        model = dataclasses.replace(model, standardize=scaling)
    if model.latent_dim == AUTO:
        model = dataclasses.replace(model, latent_dim=min(10, data.input_dim))
    model = dataclasses.replace(model, networks=model.networks.resolved(data))
    if pretrain.mixture_init == AUTO:
        uncompressed = data.input_dim <= model.latent_dim
        pretrain = dataclasses.replace(pretrain, mixture_init="gmm" if uncompressed or not data.in_memory
                                       else "spectral")
    if pretrain.gmm_covariance == AUTO:
        pretrain = dataclasses.replace(pretrain, gmm_covariance=model.covariance)
    if pretrain.spectral_neighbors == AUTO and model.n_clusters != AUTO:  # else once K is chosen
        pretrain = dataclasses.replace(pretrain, spectral_neighbors=neighbors_for(n, model.n_clusters))
    if pretrain.batch_size == AUTO:
        pretrain = dataclasses.replace(pretrain, batch_size=batch_for(n, 8, 32, 256))
    if pretrain.epochs == AUTO:
        pretrain = dataclasses.replace(pretrain, epochs=epochs_for(n, pretrain.batch_size, 20, 300))
    if train.batch_size == AUTO:
        train = dataclasses.replace(train, batch_size=batch_for(n, 10, 16, 100))
    if train.epochs == AUTO:
        train = dataclasses.replace(train, epochs=epochs_for(n, train.batch_size, 10, 50))
    if train.partition_warmup_epochs == AUTO:
        possible = data.in_memory and train.strategy != "multi_worker"
        train = dataclasses.replace(train, partition_warmup_epochs=round(train.epochs / 5) if possible else 0)
    if train.jit_compile == AUTO:
        train = dataclasses.replace(train, jit_compile=n >= XLA_MIN_SAMPLES)
    return dataclasses.replace(config, model=model, pretrain=pretrain, train=train)
