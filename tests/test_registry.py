"""The extension points: a dataset, an architecture, a start, a pretraining or a baseline added by one
registry entry is valid everywhere a config, a run, an experiment table and an export look for it."""
import json
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import FAST, run_main, set_args
from sklearn.cluster import KMeans

from vade_tf import exporting, registry, rundir
from vade_tf.commands import export, train
from vade_tf.config import load_config
from vade_tf.data import Dataset
from vade_tf.errors import ConfigError
from vade_tf.runs import train_and_evaluate
from vade_tf.validation import setting

TOY_PREPROCESSING = "three 24-pixel binary prototypes, a fraction of the pixels flipped"


@dataclass(frozen=True)
class ToyOptions:
    """The data.options section of the toy dataset: the share of pixels flipped."""
    flip_rate: float = setting(0.05, minimum=0, below=0.5)


def toy_rows(flip_rate: float) -> Dataset:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 80)
    x = np.abs(np.kron(np.eye(3), np.ones((1, 8)))[y] - (rng.uniform(size=(len(y), 24)) < flip_rate))
    return Dataset(x=x.astype(np.float32), y=y, name="toy")


def load_toy(config) -> Dataset:
    return toy_rows(config.options.flip_rate)


TOY = registry.DatasetEntry(load_toy, TOY_PREPROCESSING, options=ToyOptions)


def test_a_toy_dataset_added_in_the_registry_alone_trains_and_exports(tmp_path, monkeypatch):
    """A dataset with a setting of its own (data.options.flip_rate), defined here: its section is
    validated by its own schema, reaches its loader, and the run trains and exports."""
    with pytest.raises(ConfigError, match="data.name: unknown value 'toy'"):
        load_config(overrides={"data.name": "toy"})
    monkeypatch.setitem(registry.DATASETS, "toy", TOY)
    with pytest.raises(ConfigError, match="data.options.flip_rate: got 0.7, must be in \\[0, 0.5\\)"):
        load_config(overrides={"data.name": "toy", "data.options.flip_rate": 0.7})
    with pytest.raises(ConfigError, match="key 'data.options.flip_rat'; did you mean 'flip_rate'"):
        load_config(overrides={"data.name": "toy", "data.options.flip_rat": 0.1})
    settings = {"data.name": "toy", "data.options.flip_rate": 0.02, "model.n_clusters": 3,
                "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3, "pretrain.method": "plain",
                "pretrain.batch_size": 32, "train.batch_size": 32, **FAST}
    result = run_main(train.main, "--run-dir", tmp_path / "run", "--epochs", "3", "--pretrain-epochs", "30",
                      *set_args(settings))
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((tmp_path / "run" / rundir.CONFIG_FILE).read_text())
    assert config["data"]["options"] == {"flip_rate": 0.02}
    metrics = json.loads((tmp_path / "run" / rundir.METRICS_FILE).read_text())
    assert metrics["acc"] > 0.95
    result = run_main(export.main, "--run-dir", tmp_path / "run", "--export-dir", tmp_path / "models")
    assert result.returncode == 0, result.stderr[-2000:]
    version = next((tmp_path / "models").iterdir())
    contract = json.loads((version / "assets" / exporting.CONTRACT_FILE).read_text())
    assert contract["dataset"] == "toy" and contract["preprocessing"] == TOY_PREPROCESSING


@dataclass(frozen=True)
class OneLayerOptions:
    """The model.networks section of a toy architecture: one hidden layer of ``width`` units."""
    width: int = setting(16, minimum=1)

    def resolved(self, data) -> "OneLayerOptions":
        return self


def one_layer_networks(options: OneLayerOptions, shape):
    import keras

    from vade_tf.networks import Decoder, GaussianEncoder, parameters_per_feature

    def hidden(name):
        return keras.layers.Dense(options.width, activation="relu", name=name)
    out = keras.layers.Dense(shape.input_dim * parameters_per_feature(shape.likelihood), name="x_params")
    return (GaussianEncoder(keras.Sequential([hidden("encoder_hidden")]), shape.latent_dim, name="encoder"),
            Decoder(keras.Sequential([hidden("decoder_hidden"), out]), name="decoder"))


def test_a_toy_architecture_added_in_the_registry_alone_trains_and_exports(tmp_path, monkeypatch):
    """A one-layer MLP with a setting of its own (model.networks.width), defined here: its section is
    validated by its own schema, it trains, and its export serves what the run's model computes."""
    import tensorflow as tf

    overrides = {"data.name": "toy", "model.n_clusters": 3, "model.latent_dim": 3, "pretrain.method": "plain",
                 "pretrain.batch_size": 32, "train.batch_size": 32, "model.architecture": "one_layer",
                 "model.networks.width": 24, **FAST}
    monkeypatch.setitem(registry.DATASETS, "toy", TOY)
    with pytest.raises(ConfigError, match="model.architecture: unknown value 'one_layer'"):
        load_config(overrides=overrides)
    monkeypatch.setitem(registry.ARCHITECTURES, "one_layer", registry.ArchitectureEntry(
        one_layer_networks, dense_layer_pairs=False, options=OneLayerOptions))
    with pytest.raises(ConfigError, match="unknown config key 'model.networks.widht'; did you mean 'width'"):
        load_config(overrides={**overrides, "model.networks.widht": 24})
    with pytest.raises(ConfigError, match="model.networks.width: got 0, must be >= 1"):
        load_config(overrides={**overrides, "model.networks.width": 0})
    run_dir = tmp_path / "run"
    result = run_main(train.main, "--run-dir", run_dir, "--epochs", "3", "--pretrain-epochs", "30",
                      *set_args(overrides))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((run_dir / rundir.METRICS_FILE).read_text())
    assert metrics["acc"] > 0.95
    spec = json.loads((run_dir / rundir.MODEL_SPEC).read_text())
    assert spec["architecture"] == "one_layer" and spec["networks"] == {"width": 24}
    result = run_main(export.main, "--run-dir", run_dir, "--export-dir", tmp_path / "models")
    assert result.returncode == 0, result.stderr[-2000:]
    model, _, _ = exporting.load_run(run_dir)
    assert [layer.units for layer in model.encoder.features.layers] == [24]
    served = tf.saved_model.load(str(next((tmp_path / "models").iterdir())))
    x = tf.constant(toy_rows(0.05).x[:5])
    np.testing.assert_allclose(served.signatures["serving_default"](x=x)["cluster_probs"].numpy(),
                               model(x).numpy(), rtol=1e-5, atol=1e-6)


def fit_kmeans(config, data, run_dir, verbose):
    kmeans = KMeans(config.model.n_clusters, n_init=3, random_state=config.seed).fit(data.x)
    return kmeans.predict, {"inertia": float(kmeans.inertia_)}


def test_a_baseline_added_in_the_registry_alone_runs_like_the_papers(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.METHODS, "kmeans", registry.MethodEntry("k-means", uses_autoencoder=False,
                                                                         fit=fit_kmeans))
    config = load_config(overrides={"method": "kmeans", "model.n_clusters": 3})
    metrics = train_and_evaluate(config, tmp_path / "run", verbose=0, data=toy_rows(0.05))
    assert metrics["method"] == "kmeans" and metrics["acc"] == 1.0 and metrics["baseline"]["inertia"] > 0
    assert (tmp_path / "run" / rundir.CONFIG_FILE).is_file()


def alternate_start(z, x, n_clusters, covariance, config, seed):
    """A toy start: sample i in cluster i mod K, kept by the prior (``partition_moments``)."""
    from vade_tf.partition import StartingMixture, partition_moments

    assignments = np.arange(len(z)) % n_clusters
    return StartingMixture(*partition_moments(z, assignments, n_clusters, covariance), assignments)


def constant_pretraining(model, x, config, seed, verbose, log_dir, jit_compile):
    """A toy pretraining that leaves the networks as initialised and reports one loss."""
    return {"constant": [float(config.learning_rate)]}


def test_a_start_and_a_pretraining_added_in_the_registry_alone_run(tmp_path, monkeypatch):
    """pretrain.mixture_init and pretrain.method name registry entries: one defined here is a valid
    value, runs, and its partition and losses are what the run's pretraining cache keeps."""
    with pytest.raises(ConfigError, match="pretrain.mixture_init: unknown value 'alternate'"):
        load_config(overrides={"pretrain.mixture_init": "alternate"})
    monkeypatch.setitem(registry.STARTS, "alternate", registry.StartEntry(alternate_start, "i mod K"))
    monkeypatch.setitem(registry.PRETRAININGS, "constant", registry.PretrainingEntry(constant_pretraining))
    config = load_config(overrides={
        "model.n_clusters": 3, "model.networks.hidden_dims": [16], "model.latent_dim": 2,
        "pretrain.method": "constant", "pretrain.learning_rate": 0.5, "pretrain.mixture_init": "alternate",
        "train.epochs": 1, "train.batch_size": 32, **FAST})
    train_and_evaluate(config, tmp_path / "run", verbose=0, data=toy_rows(0.05))
    cache = tmp_path / "run" / rundir.PRETRAIN_DIR
    np.testing.assert_array_equal(np.load(cache / rundir.PRETRAIN_PARTITION), np.arange(240) % 3)
    assert json.loads((cache / rundir.PRETRAIN_INFO).read_text())["losses"] == {"constant": [0.5]}
