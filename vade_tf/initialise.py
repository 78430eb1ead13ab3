"""A model ready for VaDE training: built from the config, its autoencoder pretrained (or taken from
the cache), its prior set from a partition of the pretrained latent.

The cache, a run's ``pretrain/`` folder, holds the weights, the starting partition
(``partition.npy``) and ``init.json`` with the fingerprint of everything that produced them.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from vade_tf import files, rundir
from vade_tf.config import Config
from vade_tf.data import Dataset
from vade_tf.data.dataset import in_memory
from vade_tf.errors import ConfigError
from vade_tf.inference import assign_clusters
from vade_tf.metrics import clustering_scores
from vade_tf.model import VaDE
from vade_tf.partition import initialise_mixture
from vade_tf.pretrain import pretrain_autoencoder
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


def _pretraining_source(config: Config, cache: Path) -> Path:
    """Where a run's pretraining is read from: pretrain.from_dir's cache, else its own."""
    return cache if config.pretrain.from_dir is None else Path(config.pretrain.from_dir) / rundir.PRETRAIN_DIR


def load_pretrained_networks(model: VaDE, data: Dataset, config: Config, seed: int, cache: Path) -> bool:
    """Load into ``model`` the networks of a cached pretraining (``cache``, or pretrain.from_dir) made
    with ``config``'s autoencoder, whatever its mixture and partition, and set its feature moments;
    False, and nothing loaded, when there is none. The cache is read, never written."""
    source = _pretraining_source(config, cache)
    cached = _cached_info(source)
    if rundir.cache_reuse(cached, rundir.pretrain_fingerprint(config, data.input_dim, seed)) is None:
        return False
    standardize_model(model, data, config.model.standardize)
    load_autoencoder(model, source / rundir.PRETRAIN_WEIGHTS, cached["fingerprint"]["model"])
    return True


def _cached_info(cache: Path) -> Optional[dict]:
    """The cache's init.json, or None while it has none (never pretrained, or interrupted)."""
    info_path = cache / rundir.PRETRAIN_INFO
    return json.loads(info_path.read_text()) if info_path.exists() else None


def initialise(model: VaDE, data: Dataset, config: Config, seed: int, cache: Path, verbose: int,
               log_dir: Optional[Path] = None, stopwatch: Optional[Stopwatch] = None) -> dict:
    """Pretrain ``model`` and set its prior from a partition of the latent, or reuse ``cache`` (or
    pretrain.from_dir) when it matches; ``stopwatch`` gets the seconds of both phases.

    The cache holds the weights, the starting partition (``partition.npy``) and ``init.json`` with
    the fingerprint of everything that produced them (data, model, pretrain config, seed). When only
    the partition's keys or the mixture's shape differ (``rundir.PARTITION_KEYS``,
    ``rundir.MIXTURE_KEYS``: another K on the same autoencoder), the autoencoder is kept and only the
    partition is made anew, into ``cache`` (never into from_dir); any other difference means
    pretraining anew (or, with from_dir, an error).
    """
    # before any weights load: theirs are the same moments
    standardize_model(model, data, config.model.standardize)
    fingerprint = rundir.pretrain_fingerprint(config, data.input_dim, seed)
    digest = rundir.fingerprint_digest(fingerprint)
    borrowed = config.pretrain.from_dir is not None
    source = _pretraining_source(config, cache)
    cached = _cached_info(source)
    reuse = rundir.cache_reuse(cached, fingerprint)
    if reuse == "pretraining":
        model.load_weights(source / rundir.PRETRAIN_WEIGHTS)
        if verbose:
            print(f"pretraining reused from {source}")
        return cached
    stopwatch = stopwatch or Stopwatch()
    start = time.perf_counter()
    if reuse == "autoencoder":
        load_autoencoder(model, source / rundir.PRETRAIN_WEIGHTS, cached["fingerprint"]["model"])
        history = cached["losses"]
        if verbose:
            print(f"autoencoder reused from {source}; its latent is partitioned anew")
    elif borrowed:
        raise ConfigError(f"pretrain.from_dir: {source} holds no pretraining made with this config "
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
    cache.mkdir(parents=True, exist_ok=True)
    (cache / rundir.PRETRAIN_INFO).unlink(missing_ok=True)  # the cache is incomplete until it is rewritten
    files.save_npy(cache / rundir.PRETRAIN_PARTITION, assignments.astype(np.int32))
    info = {"digest": digest, "fingerprint": fingerprint, "losses": history,
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
    model.save_weights(cache / rundir.PRETRAIN_WEIGHTS)
    files.write_json(cache / rundir.PRETRAIN_INFO, info)  # written last: marks the cache complete
    return info


def load_autoencoder(model: VaDE, weights: Path, saved_model: dict) -> None:
    """The networks of a pretraining saved with a mixture of another shape (``saved_model``: its
    fingerprint's model keys), read through a model of that shape; the mixture is left as it is."""
    saved_mixture = {key: saved_model[key] for key in rundir.MIXTURE_KEYS}
    if all(model.get_config()[key] == value for key, value in saved_mixture.items()):
        model.load_weights(weights)
        return
    saved = VaDE.from_config({**model.get_config(), **saved_mixture})
    saved.build((None, model.input_dim))
    saved.load_weights(weights)
    for target, source in zip(model.network_variables, saved.network_variables, strict=True):
        target.assign(source)


def load_partition(config: Config, restart_dir: Path) -> np.ndarray:
    """The starting partition saved with the pretraining this restart uses: its own (also when it
    partitioned a borrowed autoencoder anew), else from_dir's."""
    own = restart_dir / rundir.PRETRAIN_DIR
    borrowed = config.pretrain.from_dir is not None and not (own / rundir.PRETRAIN_INFO).exists()
    source = Path(config.pretrain.from_dir) / rundir.PRETRAIN_DIR if borrowed else own
    return np.load(source / rundir.PRETRAIN_PARTITION)
