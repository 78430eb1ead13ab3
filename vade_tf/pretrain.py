"""Autoencoder pretraining of the encoder's mean path g and the decoder f, before VaDE trains them.

``pretrain.method`` names one of ``registry.PRETRAININGS``: "stacked_denoising" (DEC's recipe:
greedy layer-wise denoising autoencoders, masking noise on each layer's input, then end-to-end
fine-tuning), "denoising" or "plain" (end to end, with or without masking noise), or "none". The
paper pretrains a stacked autoencoder and its authors never released that code; weak pretraining
is why reimplementations stall below the paper (docs/guide/recipe.md
compares them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from vade_tf import likelihoods
from vade_tf.console import EpochReport, log_value
from vade_tf.data.pipeline import epoch_steps, execution_steps, training_dataset
from vade_tf.distribute import replicated
from vade_tf.fit import batch_iterator, network_optimizer, train_steps
from vade_tf.inference import batched
from vade_tf.model import VaDE
from vade_tf.registry import PRETRAININGS, resolve
from vade_tf.summaries import EpochScalars


def _squared_error(x, x_hat):
    return 0.5 * tf.reduce_sum(tf.square(x - x_hat), -1)


def _standardized(model: VaDE, inputs):
    """``inputs`` (a Keras input) as the model's networks see them: standardised when it standardises."""
    return keras.layers.Lambda(model.standardized)(inputs)


def _reconstruction_loss(model: VaDE):
    """The likelihood's autoencoder loss against the features the networks model: a standardising
    model's targets are standardised in the graph, batch by batch, as its inputs are."""
    loss = likelihoods.autoencoder_loss(model.likelihood)

    def reconstruction_loss(x, x_hat):  # named: Keras serialises a lambda with a warning
        return loss(model.standardized(x), x_hat)
    return reconstruction_loss


def _fit(model: VaDE, autoencoder: keras.Model, x: np.ndarray, loss, epochs: int, noise_rate: float,
         config, seed: int, tag: str, verbose: int, log_dir: Optional[Path] = None,
         jit_compile: bool = True, callbacks: Sequence[keras.callbacks.Callback] = ()) -> list[float]:
    batch_size = min(config.batch_size, len(x))
    optimizer = network_optimizer(model, keras.optimizers.Adam(config.learning_rate))
    many, steps = replicated(), epoch_steps(x, batch_size)
    autoencoder.compile(optimizer=optimizer, loss=loss, jit_compile=jit_compile and not many,
                        steps_per_execution=execution_steps(steps, 1 if many else 50))
    # Its moments made here, not in the first step's graph: a distribution strategy mirrors them only so.
    optimizer.build(autoencoder.trainable_variables)
    iterator = batch_iterator(autoencoder, training_dataset(x, batch_size, seed, epochs, targets=True,
                                                            noise_rate=noise_rate))
    if verbose:
        print(f"pretraining {tag}: {epochs} epochs")
    scalars = [] if log_dir is None else [EpochScalars(log_dir / tag.replace(" ", "_"))]
    listeners = keras.callbacks.CallbackList(
        [EpochReport(verbose, f"pretraining {tag}", ("loss",)), *scalars, *callbacks], model=autoencoder,
        epochs=epochs, steps=steps, verbose=verbose)
    losses = []
    listeners.on_train_begin()
    for epoch in range(epochs):
        autoencoder.reset_metrics()
        listeners.on_epoch_begin(epoch)
        logs = train_steps(autoencoder, iterator, steps,
                           lambda done, logs: listeners.on_train_batch_end(done - 1, logs))
        losses.append(log_value(logs["loss"]))
        listeners.on_epoch_end(epoch, {"loss": losses[-1]})
    listeners.on_train_end()
    return losses


def _layer_pairs(model: VaDE) -> list[tuple[keras.layers.Layer, keras.layers.Layer]]:
    """(encoder layer k, its mirror decoder layer), outermost first: (D->h1, h1->D'), ..., (h->J, J->h)."""
    encoder_layers = model.encoder.features.layers + [model.encoder.mean]
    decoder_layers = model.decoder.body.layers
    return list(zip(encoder_layers, reversed(decoder_layers)))


def pretrain_stacked(model: VaDE, x: np.ndarray, config, seed: int, verbose: int = 0,
                     log_dir: Optional[Path] = None, jit_compile: bool = True) -> dict:
    """Greedy layer-wise denoising autoencoders, each reconstructing its clean input from a masked copy."""
    losses = {}
    h = x
    for k, (encode, decode) in enumerate(_layer_pairs(model)):
        # The first layer sees the features as the model does (standardised, when it standardises).
        inputs = keras.Input((h.shape[1],))
        encoded = encode(_standardized(model, inputs) if k == 0 else inputs)
        outputs = decode(encoded)
        loss = _reconstruction_loss(model) if k == 0 else _squared_error
        losses[f"layer_{k}"] = _fit(model, keras.Model(inputs, outputs), h, loss, config.layer_epochs,
                                    config.noise_rate, config, seed + k, f"layer {k}", verbose, log_dir,
                                    jit_compile)
        # The next layer's inputs, in float32 (half precision under mixed_precision).
        h = batched(keras.Model(inputs, encoded), jit_compile)(h).astype(np.float32)
    return losses


def pretrain_end_to_end(model: VaDE, x: np.ndarray, config, seed: int, noise_rate: float,
                        verbose: int = 0, log_dir: Optional[Path] = None, jit_compile: bool = True,
                        callbacks: Sequence[keras.callbacks.Callback] = ()) -> list[float]:
    """Train encoder mean -> decoder as one autoencoder on the reconstruction loss (``callbacks``: Keras
    callbacks told of each epoch's begin and end)."""
    inputs = keras.Input((model.input_dim,))
    # The mean path only: the log-variance head has no autoencoder role.
    hidden = model.encoder.features(_standardized(model, inputs))
    autoencoder = keras.Model(inputs, model.decoder(model.encoder.mean(hidden)))
    return _fit(model, autoencoder, x, _reconstruction_loss(model), config.epochs, noise_rate, config, seed,
                "end-to-end", verbose, log_dir, jit_compile, callbacks)


def stacked_denoising(model: VaDE, x: np.ndarray, config, seed: int, verbose: int = 0,
                      log_dir: Optional[Path] = None, jit_compile: bool = True) -> dict:
    """DEC's recipe: greedy layer-wise denoising autoencoders, then end-to-end fine-tuning."""
    return {"layerwise": pretrain_stacked(model, x, config, seed, verbose, log_dir, jit_compile),
            "finetune": pretrain_end_to_end(model, x, config, seed, 0.0, verbose, log_dir, jit_compile)}


def denoising(model: VaDE, x: np.ndarray, config, seed: int, verbose: int = 0, log_dir: Optional[Path] = None,
              jit_compile: bool = True) -> dict:
    """End to end, with masking noise (``pretrain.noise_rate``) on the inputs."""
    return {"finetune": pretrain_end_to_end(model, x, config, seed, config.noise_rate, verbose, log_dir,
                                            jit_compile)}


def plain(model: VaDE, x: np.ndarray, config, seed: int, verbose: int = 0, log_dir: Optional[Path] = None,
          jit_compile: bool = True) -> dict:
    """End to end, without noise."""
    return {"finetune": pretrain_end_to_end(model, x, config, seed, 0.0, verbose, log_dir, jit_compile)}


def pretrain_autoencoder(model: VaDE, x: np.ndarray, config, seed: int, verbose: int = 0,
                         log_dir: Optional[Path] = None, jit_compile: bool = True) -> dict:
    """Train the encoder's mean path and the decoder as ``config.method`` says (``registry.PRETRAININGS``);
    returns the losses. ``jit_compile``: XLA-compile the steps (``train.jit_compile``)."""
    train = PRETRAININGS[config.method].train
    return {} if train is None else resolve(train)(model, x, config, seed, verbose, log_dir, jit_compile)
