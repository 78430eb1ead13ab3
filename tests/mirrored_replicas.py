"""Run in a subprocess by test_distribute.py: two logical CPU devices must be made before TF starts.

Prints one JSON line: the per-step losses and final weights of the same noiseless VaDE trained on
one device and on two mirrored replicas, and the figures of a whole mirrored train_and_evaluate run.
"""
import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from conftest import FAST, MODEL_SPEC  # noqa: E402

from vade_tf import elbo, runs  # noqa: E402
from vade_tf.config import load_config  # noqa: E402
from vade_tf.data import Dataset  # noqa: E402
from vade_tf.model import VaDE  # noqa: E402

TWO_REPLICAS = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


class NoiselessVaDE(VaDE):
    """z = E[z|x]: without sampling noise the replicas' arithmetic can be compared to one device's."""

    def elbo_terms(self, x, log_gamma=None):
        z_mean, z_log_var = self.encoder(x)
        return elbo.elbo_terms(x, z_mean, z_log_var, z_mean[tf.newaxis], self.decoder(z_mean[tf.newaxis]),
                               self.prior.distribution(), self.likelihood)


def trajectory(strategy, x):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = NoiselessVaDE.from_config({**MODEL_SPEC, "input_dim": x.shape[1], "n_clusters": 3,
                                           "networks": {"hidden_dims": [16, 8]}})
        model.build((None, x.shape[1]))
        model.compile(keras.optimizers.Adam(1e-2), mixture_optimizer=keras.optimizers.Adam(1e-2),
                      jit_compile=False)
    batches = tf.data.Dataset.from_tensor_slices(x).batch(16)  # the global batch
    losses = model.fit(batches, epochs=5, verbose=0, shuffle=False).history["loss"]
    return losses, [w.tolist() for w in model.get_weights()]


def main(run_dir: str) -> None:
    x = np.random.default_rng(0).uniform(size=(64, 12)).astype(np.float32)
    one_losses, one_weights = trajectory(tf.distribute.get_strategy(), x)
    two_losses, two_weights = trajectory(TWO_REPLICAS, x)

    runs.make_strategy = lambda name: TWO_REPLICAS if name == "mirrored" else tf.distribute.get_strategy()
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 60)
    data = Dataset(x=np.abs(np.kron(np.eye(3), np.ones((1, 8)))[y] - (rng.uniform(size=(180, 24)) < 0.05))
                   .astype(np.float32), y=y, name="separated")
    config = load_config(overrides={
        "model.n_clusters": 3, "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3,
        "pretrain.method": "plain", "pretrain.epochs": 20, "pretrain.batch_size": 32,
        "train.epochs": 3, "train.batch_size": 32,
        "train.strategy": "mirrored", **FAST})
    metrics = runs.train_and_evaluate(config, run_dir, verbose=0, data=data)
    print(json.dumps({"one": [one_losses, one_weights], "two": [two_losses, two_weights],
                      "run": {k: metrics[k] for k in ("acc", "elbo")},
                      "replicas": TWO_REPLICAS.num_replicas_in_sync}))


if __name__ == "__main__":
    main(sys.argv[1])
