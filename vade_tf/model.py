"""VaDE as a Keras 3 model composed of an encoder, a decoder and a Gaussian-mixture prior, trained on
the ELBO."""
from __future__ import annotations

import dataclasses
import json
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from vade_tf import elbo, likelihoods
from vade_tf.elbo_training import ELBOTraining
from vade_tf.prior import MixturePrior
from vade_tf.registry import LIKELIHOODS
from vade_tf.validation import require_positive_integers

ROW_ELBO_DRAWS = 16  # z draws behind one row's ELBO (row_elbos)
ROW_ELBO_SEED = 0    # their seed in score_samples and vade-predict's elbo column, so the two agree


class VaDE(ELBOTraining, keras.Model):
    """Variational Deep Embedding (Jiang et al., IJCAI 2017), composed of its parts.

    Generative model: c ~ Cat(pi), z ~ N(mu_c, Sigma_c), x ~ p(x | f(z)): the mixture ``prior`` gives
    p(z) and p(c | z), the ``decoder`` f and the ``likelihood`` give p(x | z), and the ``encoder``
    gives q(z | x). ``train_step`` maximises the ELBO of Eq. 12; ``call`` returns the deterministic
    cluster posterior p(c | z = E[z|x]) used for assignment.

    Parameters
    ----------
    encoder : networks.GaussianEncoder
        Rows [B, D] -> (mean, log-variance) of q(z|x) [B, J].
    decoder : networks.Decoder
        z [.., J] -> the parameters of p(x|z) [.., P * D].
    prior : prior.MixturePrior
        The Gaussian mixture over z.
    input_dim, likelihood : int and str
        D, features per row, and p(x|z), a key of ``registry.LIKELIHOODS``.
    standardize : bool
        Model the features standardised, (x - offset) / scale per feature, with the training data's
        moments (``set_standardization``) kept as weights: they travel with the model into checkpoints
        and the SavedModel, so every caller passes raw rows.
    mc_samples, seed : int
        L, the ELBO's draws of z per row, and the seed of the model's own stream of them.
    architecture, network_options : str and dict, optional
        The ``registry.ARCHITECTURES`` entry and its options that built ``encoder`` and ``decoder``:
        what ``get_config`` records and ``from_config`` rebuilds them from.
    hidden_dtype : str, optional
        The Keras dtype policy the networks' hidden layers compute in (``train.mixed_precision``): a
        training choice that ``get_config`` does not record, so a model rebuilt for serving computes
        in float32 (``fit.network_optimizer`` reads it).
    **kwargs
        Keras ``Model`` arguments (``name``).
    """

    def __init__(self, encoder, decoder, prior: MixturePrior, input_dim: int, likelihood: str,
                 standardize: bool = False, mc_samples: int = 1, seed: int = 0,
                 architecture: Optional[str] = None, network_options: Optional[dict] = None,
                 hidden_dtype: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        require_positive_integers(input_dim=input_dim, mc_samples=mc_samples)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, received {likelihood!r}")
        self.encoder, self.decoder, self.prior = encoder, decoder, prior
        self.input_dim, self.likelihood = int(input_dim), likelihood
        self.mc_samples, self.seed = int(mc_samples), int(seed)
        self.architecture, self.network_options = architecture, network_options
        self.hidden_dtype = hidden_dtype
        self.standardize = bool(standardize)
        if self.standardize:
            self.feature_offset = self.add_weight(shape=(self.input_dim,), initializer="zeros",
                                                  trainable=False, name="feature_offset")
            self.feature_scale = self.add_weight(shape=(self.input_dim,), initializer="ones",
                                                 trainable=False, name="feature_scale")
        self.noise = keras.random.SeedGenerator(self.seed, name="noise")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("loss", "elbo", "reconstruction", "kl_z", "kl_c")}

    @classmethod
    def from_config(cls, config: dict, hidden_dtype: Optional[str] = None) -> "VaDE":
        """The model ``get_config`` describes, its networks built anew by their architecture: how a
        run directory or the estimator rebuilds a model before loading its weights.

        Parameters
        ----------
        config : dict
            What ``get_config`` returned (a run's ``model.json``).
        hidden_dtype : str, optional
            A Keras dtype policy for the hidden layers, a training choice the config does not record:
            a rebuilt model computes in float32.

        Returns
        -------
        VaDE
            The model, its weights freshly initialised.
        """
        from vade_tf.architectures import NetworkShape, build_networks
        from vade_tf.registry import ARCHITECTURES, options_schema
        from vade_tf.validation import build

        schema = options_schema(ARCHITECTURES, config["architecture"])
        options = build(schema, config["networks"], "networks.")
        shape = NetworkShape(config["input_dim"], config["latent_dim"], config["likelihood"], hidden_dtype)
        encoder, decoder = build_networks(config["architecture"], options, shape)
        prior = MixturePrior(config["n_clusters"], config["latent_dim"], config["covariance"], config["seed"],
                             name="prior")
        return cls(encoder, decoder, prior, config["input_dim"], config["likelihood"],
                   standardize=config["standardize"], mc_samples=config["mc_samples"], seed=config["seed"],
                   architecture=config["architecture"], network_options=dataclasses.asdict(options),
                   hidden_dtype=hidden_dtype)

    def get_config(self):
        if self.architecture is None:
            raise NotImplementedError("name the networks' architecture= and network_options= to get_config")
        return {"input_dim": self.input_dim, "n_clusters": self.n_clusters, "latent_dim": self.latent_dim,
                "covariance": self.prior.covariance, "likelihood": self.likelihood,
                "standardize": self.standardize, "mc_samples": self.mc_samples, "seed": self.seed,
                "architecture": self.architecture, "networks": json.loads(json.dumps(self.network_options))}

    @property
    def n_clusters(self) -> int:
        """K, the prior's number of components."""
        return self.prior.n_clusters

    @property
    def latent_dim(self) -> int:
        """J, the dimension of z."""
        return self.prior.latent_dim

    @property
    def network_variables(self) -> list:
        """The encoder's and the decoder's trainable weights: what the networks' optimizer updates."""
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    def set_standardization(self, offset: np.ndarray, scale: np.ndarray) -> None:
        """Set the per-feature offset and scale that ``standardized`` applies (a standardising model)."""
        if not self.standardize:
            raise ValueError("this model was built with standardize=False; it has no feature moments")
        self.feature_offset.assign(np.asarray(offset, np.float32))
        self.feature_scale.assign(np.asarray(scale, np.float32))

    def standardized(self, x):
        """The features the networks and the likelihood see: raw ``x`` [.., D], standardised when the
        model standardises, else unchanged."""
        if not self.standardize:
            return x
        x = tf.convert_to_tensor(x)
        return (x - tf.cast(self.feature_offset, x.dtype)) / tf.cast(self.feature_scale, x.dtype)

    def unstandardized(self, x):
        """Raw features from standardised ones: the inverse of ``standardized``."""
        if not self.standardize:
            return x
        return x * tf.cast(self.feature_scale, x.dtype) + tf.cast(self.feature_offset, x.dtype)

    def encode(self, x):
        """q(z|x), the encoder's Gaussian for each row: the embedding, and its uncertainty.

        Parameters
        ----------
        x : tensor [B, D]
            Raw rows (a standardising model standardises them itself).

        Returns
        -------
        tuple of tensors [B, J]
            The mean E[z|x] and the log-variance of q(z|x).
        """
        return self.encoder(self.standardized(x))

    def build(self, input_shape):
        self.encoder.build(input_shape)
        self.decoder.build((None, self.latent_dim))
        super().build(input_shape)

    def call(self, x):
        """Cluster probabilities gamma = p(c | z = z_mean) [B, K], deterministic."""
        z_mean, _ = self.encode(x)
        return tf.exp(elbo.cluster_log_posterior(self.prior.distribution(), z_mean))

    def generate(self, cluster, seed) -> dict:
        """The paper's generative process for chosen clusters: z ~ p(z|c), then x ~ p(x|z).

        Parameters
        ----------
        cluster : int64 tensor [B]
            The cluster of each sample.
        seed : int64 scalar
            The draws' seed, stateless: the same seed gives the same samples.

        Returns
        -------
        dict of tensors
            ``x`` [B, D] (a sample), ``x_mean`` [B, D] (E[x|z]) and ``z`` [B, J].
        """
        z = self.prior.sample(cluster, seed)
        x_given_z = likelihoods.decoded(self.decoder(z), self.likelihood)
        # TFP's samplers take int32 seed pairs: one drawn from (seed, 1) keeps every bit of the int64 seed.
        x_seed = tf.random.stateless_uniform([2], tf.stack([seed, 1]), minval=None, maxval=None,
                                             dtype=tf.int32)
        return {"x": self.unstandardized(x_given_z.sample(seed=x_seed)),
                "x_mean": self.unstandardized(x_given_z.mean()), "z": z}

    def reconstruct(self, x):
        """Each row as the model sees it: the decoder's mean at the encoder's mean.

        Parameters
        ----------
        x : tensor [B, D]
            Raw rows.

        Returns
        -------
        tensor [B, D]
            E[x | z = E[z|x]], in the rows' own scale.
        """
        mean = likelihoods.decoded(self.decoder(self.encode(x)[0]), self.likelihood).mean()
        return self.unstandardized(mean)

    def elbo_terms(self, x, log_gamma=None, samples: Optional[int] = None, noise_seed=None) -> dict:
        """Eq. 12 for each row, and its terms, from L reparameterised draws z = mean + sigma * eps.

        A standardising model's reconstruction term is the density of the raw rows: that of the
        standardised ones less sum_d log scale_d (the change of variables), so ELBOs compare across
        models whatever their scaling.

        Parameters
        ----------
        x : tensor [B, D]
            Raw rows.
        log_gamma : tensor [B, K], optional
            log q(c|x) in place of Eq. 16's p(c|z): the training loop feeds the starting partition's
            during the warm-up. The ELBO is a lower bound for any q(c|x).
        samples : int, optional
            L, the draws of z per row; the model's ``mc_samples`` by default.
        noise_seed : int64 scalar, optional
            Draw z statelessly from this seed, the same L standard-normal draws for every row (common
            random numbers), so a row's ELBO depends on the row and the seed alone, whatever batch it
            is in; by default the model's own stream of draws.

        Returns
        -------
        dict of tensors [B]
            ``elbo``, ``reconstruction`` (E log p(x|z)), ``kl_z`` and ``kl_c``, each row's mean over
            the draws.
        """
        x = self.standardized(x)
        z_mean, z_log_var = self.encoder(x)                                            # [B, J]
        shape = (samples or self.mc_samples,) + tuple(tf.unstack(tf.shape(z_mean)))
        if noise_seed is None:  # the model's own stream of draws
            eps = keras.random.normal(shape, seed=self.noise)                           # [L, B, J]
        else:                   # stateless, shared by the rows: [L, 1, J], broadcast over the batch
            row_shape = tf.stack([shape[0], 1, shape[2]])
            eps = tf.random.stateless_normal(row_shape, seed=tf.stack([noise_seed, 2]))
        z = z_mean + tf.exp(0.5 * z_log_var) * eps
        x_params = self.decoder(z)                                                       # [L, B, D']
        if log_gamma is not None:
            log_gamma = log_gamma[tf.newaxis]                                            # [1, B, K]
        terms = elbo.elbo_terms(x, z_mean, z_log_var, z, x_params, self.prior.distribution(),
                                self.likelihood, log_gamma)
        if self.standardize:
            log_jacobian = tf.reduce_sum(tf.math.log(self.feature_scale))
            terms["reconstruction"] = terms["reconstruction"] - log_jacobian
            terms["elbo"] = terms["elbo"] - log_jacobian
        return terms

    @tf.function
    def summed_elbo_terms(self, x, samples: int) -> dict:
        """Each of Eq. 12's terms summed over the batch: traced once per model and draw count, so every
        estimate of a run (restart selection, the final ELBO) reuses one graph."""
        return {name: tf.reduce_sum(value) for name, value in self.elbo_terms(x, samples=samples).items()}

    @tf.function
    def row_elbos(self, x, seed):
        """Each row's ELBO, a lower bound on log p(x): low for an outlier.

        The same row and seed give the same number in any batch, so ``score_samples``, vade-predict
        and the export's ``score`` agree.

        Parameters
        ----------
        x : tensor [B, D]
            Raw rows, inside the likelihood's support.
        seed : int64 scalar
            The seed of the ROW_ELBO_DRAWS draws of z, shared by the rows.

        Returns
        -------
        tensor [B]
            Eq. 12 of each row, averaged over the draws.
        """
        return self.elbo_terms(x, samples=ROW_ELBO_DRAWS, noise_seed=seed)["elbo"]
