"""How Keras's ``fit`` trains VaDE: a step of the ELBO (Eq. 12) with the networks' optimizer and the
mixture's own, the partition warm-up's KL weight, and the running means of the ELBO's terms that
``fit`` and ``evaluate`` report."""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf


class ELBOTraining:
    """Keras's training hooks for a model that has ``elbo_terms(x, log_gamma)``, a ``prior`` with
    ``mixture_variables``, ``network_variables`` and ``trackers`` (a ``keras.metrics.Mean`` per
    reported name): mixed into ``model.VaDE`` ahead of ``keras.Model``, so ``fit`` trains the model
    on its own ELBO."""

    mixture_optimizer: Optional[keras.optimizers.Optimizer] = None
    warmup_steps, warmup_kl_weight, warmup_freezes_mixture, release_steps = 0, 1.0, False, 0

    def compile(self, optimizer="adam", mixture_optimizer: Optional[keras.optimizers.Optimizer] = None,
                warmup_steps: int = 0, warmup_kl_weight: float = 1.0, warmup_freezes_mixture: bool = False,
                release_steps: int = 0, **kwargs):
        """Keras's ``compile``, with the mixture's own optimizer and the partition warm-up.

        Parameters
        ----------
        optimizer : keras.optimizers.Optimizer or str
            Updates the networks (and the mixture too, without ``mixture_optimizer``).
        mixture_optimizer : keras.optimizers.Optimizer, optional
            Updates pi, mu_c and Sigma_c on their own, as the authors' separate Adam; the model must
            be built first, so each optimizer knows its variables.
        warmup_steps : int
            Optimizer steps of the partition warm-up, from the start of training.
        warmup_kl_weight : float
            The KL terms' weight in the loss during the warm-up (``kl_weight``).
        warmup_freezes_mixture : bool
            Hold the mixture still during the warm-up while the encoder moves to it.
        release_steps : int
            Steps after the warm-up over which the KL weight returns linearly to 1.
        **kwargs
            Keras ``Model.compile`` arguments.

        Raises
        ------
        ValueError
            With a ``mixture_optimizer`` before the model is built.
        """
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
