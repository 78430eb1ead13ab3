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
from pathlib import Path
from typing import Callable

import numpy as np

from vade_tf import rundir
from vade_tf.config import Config
from vade_tf.data import Dataset
from vade_tf.fit import fit_vade
from vade_tf.inference import mean_encoder
from vade_tf.initialise import build_model, initialise
from vade_tf.partition import gaussian_mixture

Assigner = Callable[[np.ndarray], np.ndarray]


def _fit_gmm(features: np.ndarray, config: Config) -> tuple[Assigner, dict]:
    p = config.pretrain
    gmm = gaussian_mixture(features, config.model.n_clusters, p.gmm_n_init, config.seed, p.gmm_covariance)
    info = {"log_likelihood": float(gmm.lower_bound_), "converged": bool(gmm.converged_),
            "n_iter": int(gmm.n_iter_)}
    return gmm.predict, info


def pretrained_autoencoder(config: Config, data: Dataset, run_dir: Path, verbose: int):
    """VaDE's networks after its pretraining (this run's cache, or pretrain.from_dir's)."""
    model = build_model(config, data.input_dim, config.seed)
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
    vae = build_model(vae_config, data.input_dim, config.seed)
    vae.encoder.set_weights(autoencoder.encoder.get_weights())
    vae.decoder.set_weights(autoencoder.decoder.get_weights())
    vae.prior.set_mixture(np.ones(1), np.zeros((1, vae.latent_dim)), np.ones((1, vae.latent_dim)))
    for variable in vae.prior.mixture_variables:
        variable.trainable = False
    history = fit_vade(vae, data, vae_config, config.seed, run_dir / "logs" / "vae",
                       run_dir / rundir.CHECKPOINT_DIR, verbose)
    return vae, history


def fit_gmm_on_inputs(config: Config, data: Dataset, run_dir: Path, verbose: int) -> tuple[Assigner, dict]:
    return _fit_gmm(data.x, config)


def fit_ae_gmm(config: Config, data: Dataset, run_dir: Path, verbose: int) -> tuple[Assigner, dict]:
    encode = mean_encoder(pretrained_autoencoder(config, data, run_dir, verbose), config.train.jit_compile)
    assign, info = _fit_gmm(encode(data.x), config)
    return (lambda x: assign(encode(x))), info


def fit_vae_gmm(config: Config, data: Dataset, run_dir: Path, verbose: int) -> tuple[Assigner, dict]:
    vae, history = train_vae(config, data, run_dir, verbose)
    encode = mean_encoder(vae, config.train.jit_compile)
    assign, info = _fit_gmm(encode(data.x), config)
    info["vae_epochs"] = history
    return (lambda x: assign(encode(x))), info
