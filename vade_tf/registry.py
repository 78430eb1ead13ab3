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
    load: Code           # DataConfig -> Dataset
    preprocessing: str   # how raw data becomes the rows x: the input contract an export carries
    class_names: tuple[str, ...] = ()  # label 0, 1, ... as the figures name them; empty: the numbers
    options: Optional[Code] = None     # the dataclass of its data.options section; None: it has none


@dataclass(frozen=True)
class ArchitectureEntry:
    networks: Code                  # (options, NetworkShape) -> (GaussianEncoder, Decoder)
    dense_layer_pairs: bool         # mirrored dense layers, which stacked_denoising trains a pair at a time
    options: Optional[Code] = None  # the dataclass of its model.networks section; None: it has none


@dataclass(frozen=True)
class LikelihoodEntry:
    distribution: Code            # decoder output -> a TFP distribution of x
    parameters_per_feature: int   # decoder outputs per input feature
    support: Optional[tuple[float, float]] = None  # the range x must lie in; None: any real value


@dataclass(frozen=True)
class PretrainingEntry:
    # (model, x, PretrainConfig, seed, verbose, log_dir, jit_compile) -> its losses; None: no pretraining
    train: Optional[Code]
    layerwise: bool = False  # trains mirrored dense layer pairs one at a time, each layer's codes in memory


@dataclass(frozen=True)
class StartEntry:
    start: Code                    # (z, x, n_clusters, covariance, PretrainConfig, seed) -> StartingMixture
    title: str                     # what it partitions, as the console says it
    clusters_features: bool = False  # partitions the features x themselves, which must be in memory


@dataclass(frozen=True)
class MethodEntry:
    title: str                        # its row in the paper's Table 2
    uses_autoencoder: bool            # trained on VaDE's pretrained networks (shares their pretraining)
    fit: Optional[Code] = None  # a baseline: (config, data, run_dir, verbose) -> (assigner, info for metrics)


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
