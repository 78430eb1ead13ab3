"""The baselines of the paper's Table 2, each ending, as the paper's do, in a GaussianMixture:

- ``gmm``: on the inputs themselves;
- ``ae_gmm``: on the latent means of the pretrained autoencoder (VaDE without its KL terms);
- ``vae_gmm``: on the latent means of a VAE, the same networks and pretraining with a single N(0, I)
  prior, trained on its ELBO with VaDE's schedule (VAE and GMM optimised separately).

The mixture takes ``pretrain.gmm_n_init`` seeded restarts and keeps the best likelihood (the paper's
protocol) with ``pretrain.gmm_covariance`` covariances. The VAE is a VaDE with one frozen component
at N(0, I): then gamma = 1, KL(gamma || pi) = 0 and Eq. 12 is exactly the VAE's ELBO, so it trains,
checkpoints and resumes through the same code as VaDE.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Optional

import keras
import numpy as np

from vade_tf import rundir
from vade_tf.config import Config, ConfigError
from vade_tf.data import Dataset
from vade_tf.metrics import clustering_scores
from vade_tf.pretrain import encode_means, gaussian_mixture
from vade_tf.training import build_model, evaluation_scores, fit_vade, initialise

Assigner = Callable[[np.ndarray], np.ndarray]


def _fit_gmm(features: np.ndarray, config: Config) -> tuple[Assigner, dict]:
    p = config.pretrain
    gmm = gaussian_mixture(features, config.model.n_clusters, p.gmm_n_init, config.seed, p.gmm_covariance)
    info = {"log_likelihood": float(gmm.lower_bound_), "converged": bool(gmm.converged_),
            "n_iter": int(gmm.n_iter_)}
    return gmm.predict, info


def pretrained_autoencoder(config: Config, data: Dataset, run_dir: Path, verbose: int):
    """VaDE's networks after its pretraining (this run's cache, or pretrain.from_dir's)."""
    model = build_model(config, data.input_dim, config.seed, data.image_shape)
    initialise(model, data, config, config.seed, run_dir / rundir.PRETRAIN_DIR, verbose,
               run_dir / "logs" / "pretrain")
    return model


def train_vae(config: Config, data: Dataset, run_dir: Path, verbose: int):
    """A VAE on the pretrained networks: VaDE with one component frozen at N(0, I), train.* settings."""
    autoencoder = pretrained_autoencoder(config, data, run_dir, verbose)
    vae_config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, n_clusters=1),
        # One optimizer for the networks (the prior has nothing to learn); with one component the
        # clustering scores of each epoch would be those of a single cluster, so they are skipped.
        train=dataclasses.replace(config.train, mixture_learning_rate=None, eval_every_epoch=False,
                                  partition_warmup_epochs=0, restarts=1, initial_posterior_variance=None))
    vae = build_model(vae_config, data.input_dim, config.seed, data.image_shape)
    vae.encoder.set_weights(autoencoder.encoder.get_weights())
    vae.decoder.set_weights(autoencoder.decoder.get_weights())
    vae.set_mixture(np.ones(1), np.zeros((1, vae.latent_dim)), np.ones((1, vae.latent_dim)))
    for variable in vae.mixture_variables:
        variable.trainable = False
    history = fit_vade(vae, data, vae_config, config.seed, run_dir / "logs" / "vae",
                       run_dir / rundir.CHECKPOINT_DIR, verbose)
    return vae, history


def fit_baseline(config: Config, data: Dataset, run_dir: Path, verbose: int) -> tuple[Assigner, dict]:
    """Train ``config.method``'s baseline; returns its cluster assigner and what to record about it."""
    if not data.in_memory:
        raise ConfigError(f"method={config.method}: the GaussianMixture needs in-memory features, which "
                          f"{data.name} streams from disk; use method=vade")
    if config.method == "gmm":
        return _fit_gmm(data.x, config)
    if config.method == "ae_gmm":
        model = pretrained_autoencoder(config, data, run_dir, verbose)
        assign, info = _fit_gmm(encode_means(model, data.x), config)
        return (lambda x: assign(encode_means(model, x))), info
    vae, history = train_vae(config, data, run_dir, verbose)
    assign, info = _fit_gmm(encode_means(vae, data.x), config)
    info["vae_epochs"] = history
    return (lambda x: assign(encode_means(vae, x))), info


def train_baseline(config: Config, run_dir: Path, verbose: int, command: Optional[str], data: Dataset,
                   evaluation_data: Optional[Dataset]) -> dict:
    """Fit ``config.method``'s baseline and write config.json and metrics.json like a VaDE run."""
    start = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    rundir.write_json(run_dir / rundir.CONFIG_FILE, config.to_dict())
    assign, info = fit_baseline(config, data, run_dir, verbose)
    metrics = {"method": config.method, "seed": config.seed, "command": command,
               "n_samples": int(len(data.x)), "gmm": info}
    if data.y is not None:
        metrics.update(clustering_scores(data.y, assign(data.x)))
    if evaluation_data is not None:
        metrics["evaluation"] = evaluation_scores(assign, evaluation_data, config.data.evaluate_split)
    metrics.update(wall_time_s=time.perf_counter() - start, versions=rundir.library_versions())
    rundir.write_json(run_dir / rundir.METRICS_FILE, metrics)
    if verbose and "acc" in metrics:
        print(f"{config.method}: acc {metrics['acc']:.4f} nmi {metrics['nmi']:.4f} ari {metrics['ari']:.4f}")
    return metrics
