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
from vade_tf.prior import MixturePrior
from vade_tf.registry import LIKELIHOODS
from vade_tf.validation import require_positive_integers

ROW_ELBO_DRAWS = 16  # z draws behind one row's ELBO (row_elbos)
ROW_ELBO_SEED = 0    # their seed in score_samples and vade-predict's elbo column, so the two agree

class VaDE(keras.Model):
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
        self.mixture_optimizer: Optional[keras.optimizers.Optimizer] = None
        self.warmup_steps, self.warmup_kl_weight, self.warmup_freezes_mixture = 0, 1.0, False
        self.release_steps = 0
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("loss", "elbo", "reconstruction", "kl_z", "kl_c")}

    @classmethod
    def from_config(cls, config: dict, hidden_dtype: Optional[str] = None) -> "VaDE":
        """The model ``get_config`` describes, its networks built anew by their architecture (weights
        freshly initialised); ``hidden_dtype``: a Keras dtype policy for the hidden layers, a training
        choice that the config does not record (a rebuilt model computes in float32)."""
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

    # ----------------------------------------------------------------------------- the model
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
        """q(z|x)'s (mean, log-variance) [B, J] for raw rows ``x`` [B, D]."""
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
        """The paper's generative process for the clusters ``cluster`` (int64 [B]): z ~ p(z|c),
        x ~ p(x|z), drawn statelessly from ``seed`` (an int64 scalar: the same seed, the same samples).
        Returns ``x`` (a sample), ``x_mean`` (E[x|z]) and ``z``."""
        z = self.prior.sample(cluster, seed)
        x_given_z = likelihoods.decoded(self.decoder(z), self.likelihood)
        # TFP's samplers take int32 seed pairs: one drawn from (seed, 1) keeps every bit of the int64 seed.
        x_seed = tf.random.stateless_uniform([2], tf.stack([seed, 1]), minval=None, maxval=None,
                                             dtype=tf.int32)
        return {"x": self.unstandardized(x_given_z.sample(seed=x_seed)),
                "x_mean": self.unstandardized(x_given_z.mean()), "z": z}

    def reconstruct(self, x):
        """E[x | z = E[z|x]]: the decoder's mean at the encoder's mean."""
        mean = likelihoods.decoded(self.decoder(self.encode(x)[0]), self.likelihood).mean()
        return self.unstandardized(mean)

    def elbo_terms(self, x, log_gamma=None, samples: Optional[int] = None, noise_seed=None) -> dict:
        """Eq. 12 per data point with L reparameterised samples z = mean + sigma * eps (L: ``samples``,
        else model.mc_samples).

        ``noise_seed`` (an int64 scalar), when given, draws the z samples statelessly from it instead of
        from the model's own stream, the same L standard-normal draws for every row (common random
        numbers): a row's ELBO is then a function of the row and the seed alone, whatever batch it
        sits in. ``log_gamma`` [B, K], when given, is q(c|x) in place of Eq. 16's p(c|z): the training
        loop feeds the starting partition's during the warm-up. The ELBO is a lower bound for any q(c|x).
        A standardising model's reconstruction term is the density of the raw rows: that of the
        standardised ones less sum_d log scale_d (the change of variables), so ELBOs compare across
        models whatever their scaling.
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
        """Eq. 12 of each row of ``x`` [B] from ROW_ELBO_DRAWS z draws seeded by ``seed`` (an int64
        scalar): a lower bound on log p(x), low for an outlier. The same row and seed give the same
        number in any batch, so ``score_samples``, vade-predict and the export's ``score`` agree."""
        return self.elbo_terms(x, samples=ROW_ELBO_DRAWS, noise_seed=seed)["elbo"]

    # ----------------------------------------------------------------------------- training
    def compile(self, optimizer="adam", mixture_optimizer: Optional[keras.optimizers.Optimizer] = None,
                warmup_steps: int = 0, warmup_kl_weight: float = 1.0, warmup_freezes_mixture: bool = False,
                release_steps: int = 0, **kwargs):
        """``mixture_optimizer``, when given, updates pi, mu_c, sigma_c (the authors' separate Adam);
        for the first ``warmup_steps`` steps (the partition warm-up) the KL terms weigh
        ``warmup_kl_weight`` in the loss and, with ``warmup_freezes_mixture``, the mixture holds still
        while the encoder moves to it; over the ``release_steps`` after it the weight returns to 1."""
        super().compile(optimizer=optimizer, **kwargs)
        self.mixture_optimizer, self.warmup_steps = mixture_optimizer, int(warmup_steps)
        self.warmup_kl_weight, self.release_steps = float(warmup_kl_weight), int(release_steps)
        self.warmup_freezes_mixture = bool(warmup_freezes_mixture)
        if mixture_optimizer is not None:
            if not self.built:
                raise ValueError("build the model (call it on a batch) before compiling with a "
                                 "mixture_optimizer, so both optimizers know their variables")
            self.optimizer.build(self.network_variables)
            mixture_optimizer.build(self.prior.mixture_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _update_trackers(self, terms: dict) -> dict:
        means = {name: tf.reduce_mean(value) for name, value in terms.items()}
        means["reconstruction"] = -means["reconstruction"]  # reported as a loss: -E log p(x|z)
        means["loss"] = -means["elbo"]
        for name, tracker in self.trackers.items():
            tracker.update_state(means[name])
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 reduces logs across workers with a MEAN over axis 0, which a scalar lacks.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def kl_weight(self, step) -> tf.Tensor:
        """The KL terms' weight in the loss at an optimizer step: ``warmup_kl_weight`` through the
        warm-up, then linearly back to 1 over ``release_steps`` (at once with none), so the samples
        the warm-up pulled into their clusters are let go gradually rather than in one step."""
        if self.warmup_steps == 0:
            return tf.constant(1.0)
        released = (tf.cast(step, tf.float32) - self.warmup_steps + 1.0) / (self.release_steps + 1.0)
        return self.warmup_kl_weight + (1.0 - self.warmup_kl_weight) * tf.clip_by_value(released, 0.0, 1.0)

    def train_step(self, data):
        # (x, log q(c|x)) when the training loop feeds q(c|x) (see elbo_terms), else x.
        x, log_gamma = data if isinstance(data, (tuple, list)) else (data, None)
        warming_up = self.optimizer.iterations < self.warmup_steps
        with tf.GradientTape(persistent=self.mixture_optimizer is not None) as tape:
            terms = self.elbo_terms(x, log_gamma)
            objective = terms["reconstruction"] - self.kl_weight(self.optimizer.iterations) * (
                terms["kl_z"] + terms["kl_c"])
            # Under tf.distribute the replicas' gradients are summed, so each replica's mean is
            # divided by their number: the update is the global batch's mean, whatever the replicas.
            loss = -tf.reduce_mean(objective) / tf.distribute.get_strategy().num_replicas_in_sync
            scaled_loss = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16, else loss
        mixture_moves = tf.cast(tf.logical_not(tf.logical_and(warming_up, self.warmup_freezes_mixture)),
                                tf.float32)
        if self.mixture_optimizer is None:
            variables = self.trainable_variables
            gradients = tape.gradient(scaled_loss, variables)
            mixture_ids = {id(v) for v in self.prior.mixture_variables}
            gradients = [g * mixture_moves if id(v) in mixture_ids else g
                         for g, v in zip(gradients, variables)]
            self.optimizer.apply_gradients(zip(gradients, variables))
        else:
            # The mixture's gradients flow through float32 ops only, so they come from the unscaled loss.
            network, mixture = self.network_variables, self.prior.mixture_variables
            self.optimizer.apply_gradients(zip(tape.gradient(scaled_loss, network), network))
            self.mixture_optimizer.apply_gradients(
                [(g * mixture_moves, v) for g, v in zip(tape.gradient(loss, mixture), mixture)])
        return self._update_trackers(terms)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data  # labels, if any, are ignored
        return self._update_trackers(self.elbo_terms(x))
