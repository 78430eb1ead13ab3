"""A model ready for VaDE training: built from the config, its autoencoder pretrained (or taken from
the run's pretraining cache, ``pretraining_cache``), its prior set from a partition of the
pretrained latent."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from vade_tf.config import Config
from vade_tf.data import Dataset
from vade_tf.data.dataset import in_memory
from vade_tf.errors import ConfigError
from vade_tf.inference import assign_clusters
from vade_tf.metrics import clustering_scores
from vade_tf.model import VaDE
from vade_tf.partition import initialise_mixture
from vade_tf.pretrain import pretrain_autoencoder
from vade_tf.pretraining_cache import PretrainingCache
from vade_tf.registry import STARTS
from vade_tf.scaling import feature_moments
from vade_tf.timing import Stopwatch


def model_spec(config: Config, input_dim: int, seed: int) -> dict:
    """The ``VaDE.get_config`` of ``config``'s model on ``input_dim`` features (its "auto" values
    resolved): what ``VaDE.from_config`` builds and a finished run's model.json records."""
    m = config.model
    return {"input_dim": input_dim, "n_clusters": m.n_clusters, "latent_dim": m.latent_dim,
            "covariance": m.covariance, "likelihood": m.likelihood,
            "standardize": m.standardize != "none" and m.likelihood == "gaussian",
            "mc_samples": m.mc_samples, "seed": seed, "architecture": m.architecture,
            "networks": json.loads(json.dumps(dataclasses.asdict(m.networks)))}


def build_model(config: Config, input_dim: int, seed: int) -> VaDE:
    """A built VaDE for ``config``'s model on ``input_dim`` features, its initial weights a function of
    ``seed`` alone: Keras's layer initialisers draw from the global seed, so it is set here, where the
    weights are made, and not left to each caller."""
    keras.utils.set_random_seed(seed)
    precision = config.train.mixed_precision
    model = VaDE.from_config(model_spec(config, input_dim, seed),
                             hidden_dtype=None if precision == "none" else precision)
    model.build((None, input_dim))
    return model


def standardize_model(model: VaDE, data: Dataset, scaling: str) -> None:
    """Set a standardising model's offset and scale from the training data, as ``scaling``
    (model.standardize) says; the model applies them to every batch it sees, in pretraining,
    training and serving."""
    if not model.standardize:
        return
    if not in_memory(data.x):
        raise ConfigError(f"model.standardize: {data.name}'s features are streamed from disk, and their "
                          "moments would need a pass of their own; set model.standardize=none")
    model.set_standardization(*feature_moments(data.x, scaling))


def load_pretrained_networks(model: VaDE, data: Dataset, config: Config, seed: int, cache: Path) -> bool:
    """Load into ``model`` the networks of a cached pretraining (``cache``, or pretrain.from_dir) made
    with ``config``'s autoencoder, whatever its mixture and partition, and set its feature moments;
    False, and nothing loaded, when there is none. The cache is read, never written."""
    cached = PretrainingCache(cache, config, data.input_dim, seed)
    if cached.reuse is None:
        return False
    standardize_model(model, data, config.model.standardize)
    cached.load(model)
    return True


def initialise(model: VaDE, data: Dataset, config: Config, seed: int, cache: Path, verbose: int,
               log_dir: Optional[Path] = None,
               stopwatch: Optional[Stopwatch] = None) -> tuple[dict, np.ndarray]:
    """Pretrain ``model`` and set its prior from a partition of the latent, or reuse ``cache`` (or
    pretrain.from_dir) as far as it matches (``pretraining_cache``); ``stopwatch`` gets the seconds
    of both phases. Returns the cache's info and the starting partition.

    A new partition of a cached autoencoder (another K, or another partition) is written into
    ``cache``, never into from_dir; a from_dir that holds no pretraining of this autoencoder is an
    error.
    """
    # before any weights load: theirs are the same moments
    standardize_model(model, data, config.model.standardize)
    cached = PretrainingCache(cache, config, data.input_dim, seed)
    if cached.reuse == "pretraining":
        cached.load(model)
        if verbose:
            print(f"pretraining reused from {cached.source}")
        return cached.info, cached.partition()
    stopwatch = stopwatch or Stopwatch()
    start = time.perf_counter()
    if cached.reuse == "autoencoder":
        cached.load(model)
        history = cached.info["losses"]
        if verbose:
            print(f"autoencoder reused from {cached.source}; its latent is partitioned anew")
    elif cached.borrowed:
        raise ConfigError(f"pretrain.from_dir: {cached.source} holds no pretraining made with this config "
                          "(data, model, the autoencoder's pretrain keys and seed must match); remove the "
                          "key to pretrain anew")
    else:
        said = f"pretraining ({config.pretrain.method})" if verbose else None
        with stopwatch.phase("pretraining", say=said):
            history = pretrain_autoencoder(model, data.x, config.pretrain, seed, verbose, log_dir,
                                           config.train.jit_compile)
    partition_name = STARTS[config.pretrain.mixture_init].title
    with stopwatch.phase("partition", say=partition_name if verbose else None):
        assignments = initialise_mixture(model, data.x, config.pretrain, seed, config.train.jit_compile)
    info = {"digest": cached.digest, "fingerprint": cached.fingerprint, "losses": history,
            "wall_time_s": time.perf_counter() - start}
    if data.y is not None:
        # The starting partition, named for what made it: spectral clustering or a GMM on the latent.
        info["partition"] = clustering_scores(data.y, assignments)
        prior_assignments = assign_clusters(model, data.x, config.train.jit_compile)
        info["vade_init"] = clustering_scores(data.y, prior_assignments)
        if verbose:
            print(f"starting partition ({partition_name}): "
                  f"acc {info['partition']['acc']:.4f} nmi {info['partition']['nmi']:.4f}; the prior made "
                  f"from it: acc {info['vade_init']['acc']:.4f}")
        if log_dir is not None:
            with tf.summary.create_file_writer(str(log_dir)).as_default():
                for name, value in info["partition"].items():
                    tf.summary.scalar(f"partition/{name}", value, step=0)
    cached.save(model, assignments, info)
    return info, assignments
