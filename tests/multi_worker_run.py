"""A process of the two-worker test in test_distribute.py.

``pretrain RUN``: pretrain and initialise once, default strategy (train.epochs = 0); the test runs
this stage by calling ``main`` in the test's own process, no interpreter of its own.
``train RUN PRETRAINED``: one worker (TF_CONFIG names the cluster and this task) trains from that
pretraining with train.strategy = multi_worker, then prints the final metrics as one JSON line.
"""
import json
import sys

import numpy as np
from conftest import FAST

from vade_tf.config import load_config
from vade_tf.data import Dataset
from vade_tf.runs import train_and_evaluate


def main(stage: str, run_dir: str, pretrained: str = "") -> None:
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 60)
    x = np.abs(np.kron(np.eye(3), np.ones((1, 8)))[y] - (rng.uniform(size=(180, 24)) < 0.05))
    distributed = {"train.strategy": "multi_worker", "pretrain.from_dir": pretrained} if stage == "train" \
        else {"train.epochs": 0}
    config = load_config(overrides={
        "model.n_clusters": 3, "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3,
        "pretrain.method": "plain", "pretrain.epochs": 20, "pretrain.batch_size": 32,
        "train.epochs": 3, "train.batch_size": 32, "train.partition_warmup_epochs": 0, **FAST,
        **distributed})
    metrics = train_and_evaluate(config, run_dir, verbose=0, data=Dataset(x=x.astype(np.float32), y=y,
                                                                           name="separated"))
    print(json.dumps({k: metrics[k] for k in ("acc", "elbo")}))


if __name__ == "__main__":
    main(*sys.argv[1:])
