"""The extension points, one registry each, keyed by the names a config uses: datasets
(``data.name``), network architectures (``model.architecture``), likelihoods (``model.likelihood``),
pretrainings (``pretrain.method``), starting partitions (``pretrain.mixture_init``) and methods
(``method``). A config's allowed values are these keys, so one entry here makes a name
valid everywhere. Each entry names its code as "module:attribute", imported on use, so that checking
a config never imports TensorFlow; a test may give the callable itself.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

Code = Union[str, Callable]  # "module:attribute", or the callable itself


def resolve(code: Code) -> Any:
    """The callable a registry entry names."""
    if callable(code):
        return code
    module, attribute = code.split(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class NoOptions:
    """The config section of an entry without settings of its own."""

    def resolved(self, data) -> "NoOptions":
        return self


def options_schema(entries: dict, name: str) -> type:
    """The dataclass of entry ``name``'s own config section (``model.networks`` for an architecture,
    ``data.options`` for a dataset): a frozen dataclass of ``validation.setting`` fields (an
    architecture's also has ``resolved(data)``, which replaces its "auto" values for the data);
    ``NoOptions`` for an entry with none."""
    options = entries[name].options
    return NoOptions if options is None else resolve(options)


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset ``data.name`` can name.

    Parameters
    ----------
    load : str or callable
        ``DataConfig -> data.dataset.Dataset``, as "module:attribute" or the callable.
    preprocessing : str
        How raw data becomes the rows x: the input contract an export carries.
    class_names : tuple of str
        Label 0, 1, ... as the figures name them; empty: the numbers.
    options : str or callable, optional
        The dataclass of its ``data.options`` section; None: it has none.
    """

    load: Code
    preprocessing: str
    class_names: tuple[str, ...] = ()
    options: Optional[Code] = None


@dataclass(frozen=True)
class ArchitectureEntry:
    """Encoder and decoder networks that ``model.architecture`` can name.

    Parameters
    ----------
    networks : str or callable
        ``(options, architectures.NetworkShape) -> (networks.GaussianEncoder, networks.Decoder)``.
    dense_layer_pairs : bool
        Mirrored dense layers, which ``stacked_denoising`` pretraining trains a pair at a time.
    options : str or callable, optional
        The dataclass of its ``model.networks`` section; None: it has none.
    """

    networks: Code
    dense_layer_pairs: bool
    options: Optional[Code] = None


@dataclass(frozen=True)
class LikelihoodEntry:
    """A p(x|z) that ``model.likelihood`` can name.

    Parameters
    ----------
    distribution : str or callable
        The decoder's output -> a TFP distribution of x.
    parameters_per_feature : int
        Decoder outputs per input feature.
    support : tuple of float, optional
        The range x must lie in; None: any real value.
    """

    distribution: Code
    parameters_per_feature: int
    support: Optional[tuple[float, float]] = None


@dataclass(frozen=True)
class PretrainingEntry:
    """An autoencoder pretraining that ``pretrain.method`` can name.

    Parameters
    ----------
    train : str or callable, optional
        ``(model, x, PretrainConfig, seed, verbose, log_dir, jit_compile) -> losses``; None: no
        pretraining.
    layerwise : bool
        Trains mirrored dense layer pairs one at a time, each layer's codes in memory.
    """

    train: Optional[Code]
    layerwise: bool = False


@dataclass(frozen=True)
class StartEntry:
    """A starting partition of the pretrained latent that ``pretrain.mixture_init`` can name.

    Parameters
    ----------
    start : str or callable
        ``(z, x, n_clusters, covariance, PretrainConfig, seed) -> partition.StartingMixture``.
    title : str
        What it partitions, as the console says it.
    clusters_features : bool
        Partitions the features x themselves, which must then be in memory.
    """

    start: Code
    title: str
    clusters_features: bool = False


@dataclass(frozen=True)
class MethodEntry:
    """A method of the paper's Table 2 that ``method`` and ``vade-experiment`` can name.

    Parameters
    ----------
    title : str
        Its row in the paper's Table 2.
    uses_autoencoder : bool
        Trained on VaDE's pretrained networks (it shares their pretraining).
    fit : str or callable, optional
        A baseline's ``(config, data, run_dir, verbose) -> (assigner, info for metrics)``; None: VaDE.
    """

    title: str
    uses_autoencoder: bool
    fit: Optional[Code] = None


DATASETS = {
    "digits": DatasetEntry("vade_tf.data.digits:load",
                           "8x8 pixel counts (0-16), flattened row by row, divided by 16"),
    "mnist": DatasetEntry("vade_tf.data.idx:load_mnist",
                          "28x28 grayscale pixels (0-255), flattened row by row, divided by 255"),
    "fashion_mnist": DatasetEntry("vade_tf.data.idx:load_fashion_mnist",
                                  "28x28 grayscale pixels (0-255), flattened row by row, divided by 255",
                                  ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                   "Sneaker", "Bag", "Ankle boot")),
    "hhar": DatasetEntry("vade_tf.data.har:load",
                         "the 561 UCI HAR features as published (already normalised to [-1, 1])"),
    "reuters10k": DatasetEntry("vade_tf.data.reuters:load_reuters10k",
                               "the 2000 TF-IDF features of reuters10k.mat / DEC's reutersidf10k.npy"),
    "reuters": DatasetEntry("vade_tf.data.rcv1:load",
                            "2000 TF-IDF features as vade_tf.data.rcv1 prepares them (its vocabulary and "
                            "idf, sublinear tf, rows of l2 norm 200)"),
    "stl10": DatasetEntry("vade_tf.data.stl10:load",
                          "2048 ResNet-50 features (vade_tf.data.stl10.feature_extractor on 96x96 RGB "
                          "images); export with --images to send the images themselves",
                          ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                           "truck"), options="vade_tf.data.stl10:Options"),
    "custom": DatasetEntry("vade_tf.data.custom:load",
                           "the features exactly as stored in the training file (data.options.path)",
                           options="vade_tf.data.custom:Options"),
}

ARCHITECTURES = {
    "mlp": ArchitectureEntry("vade_tf.architectures.mlp:networks", dense_layer_pairs=True,
                             options="vade_tf.architectures.mlp:Options"),
    "conv": ArchitectureEntry("vade_tf.architectures.conv:networks", dense_layer_pairs=False,
                              options="vade_tf.architectures.conv:Options"),
}

LIKELIHOODS = {
    "bernoulli": LikelihoodEntry("vade_tf.likelihoods:bernoulli", 1, support=(0.0, 1.0)),
    "gaussian": LikelihoodEntry("vade_tf.likelihoods:gaussian", 2),
}

PRETRAININGS = {
    "stacked_denoising": PretrainingEntry("vade_tf.pretrain:stacked_denoising", layerwise=True),
    "denoising": PretrainingEntry("vade_tf.pretrain:denoising"),
    "plain": PretrainingEntry("vade_tf.pretrain:plain"),
    "none": PretrainingEntry(None),
}

# pretrain.mixture_init and pretrain.other_starts: how the pretrained latent is partitioned.
STARTS = {
    "gmm": StartEntry("vade_tf.partition:gmm_start", "GMM of the latent means"),
    "spectral": StartEntry("vade_tf.partition:spectral_start", "spectral clustering of the latent means"),
    "umap": StartEntry("vade_tf.partition:umap_start", "UMAP + GMM of the latent means"),
    "kmeans": StartEntry("vade_tf.partition:kmeans_start", "k-means of the features", clusters_features=True),
}

# In the paper's Table 2 order, which is the order of experiments' tables.
METHODS = {
    "gmm": MethodEntry("GMM", uses_autoencoder=False, fit="vade_tf.baselines:fit_gmm_on_inputs"),
    "ae_gmm": MethodEntry("AE+GMM", uses_autoencoder=True, fit="vade_tf.baselines:fit_ae_gmm"),
    "vae_gmm": MethodEntry("VAE+GMM", uses_autoencoder=True, fit="vade_tf.baselines:fit_vae_gmm"),
    "vade": MethodEntry("VaDE", uses_autoencoder=True),
}
