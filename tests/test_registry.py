"""The extension points: a dataset or a baseline added by one registry entry is valid everywhere a
config, a run, an experiment table and an export look for it."""
import json

import numpy as np
import pytest
from conftest import FAST, run_main, set_args
from sklearn.cluster import KMeans

from vade_tf import exporting, registry, rundir
from vade_tf.commands import train
from vade_tf.config import load_config
from vade_tf.data import Dataset
from vade_tf.errors import ConfigError
from vade_tf.runs import train_and_evaluate

TOY_PREPROCESSING = "three 24-pixel binary prototypes, 5% of the pixels flipped"


def load_toy(config) -> Dataset:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 80)
    x = np.abs(np.kron(np.eye(3), np.ones((1, 8)))[y] - (rng.uniform(size=(len(y), 24)) < 0.05))
    return Dataset(x=x.astype(np.float32), y=y, name="toy")


def test_a_toy_dataset_added_in_the_registry_alone_trains_and_exports(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="data.name: unknown value 'toy'"):
        load_config(overrides={"data.name": "toy"})
    monkeypatch.setitem(registry.DATASETS, "toy", registry.DatasetEntry(load_toy, TOY_PREPROCESSING))
    result = run_main(train.main, "--run-dir", tmp_path / "run", "--epochs", "3", "--pretrain-epochs", "30",
                      *[a for s in ("data.name=toy", "model.n_clusters=3", "model.hidden_dims=[32,16]",
                                    "model.latent_dim=3", "pretrain.method=plain", "pretrain.batch_size=32",
                                    "train.batch_size=32")
                        for a in ("--set", s)], *set_args(FAST))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / rundir.METRICS_FILE).read_text())
    assert metrics["acc"] > 0.95
    module, config, metrics = exporting.build_module(tmp_path / "run")
    contract = exporting.input_contract(module, config, metrics)
    assert contract["dataset"] == "toy" and contract["preprocessing"] == TOY_PREPROCESSING


def fit_kmeans(config, data, run_dir, verbose):
    kmeans = KMeans(config.model.n_clusters, n_init=3, random_state=config.seed).fit(data.x)
    return kmeans.predict, {"inertia": float(kmeans.inertia_)}


def test_a_baseline_added_in_the_registry_alone_runs_like_the_papers(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.METHODS, "kmeans", registry.MethodEntry("k-means", uses_autoencoder=False,
                                                                         fit=fit_kmeans))
    config = load_config(overrides={"method": "kmeans", "model.n_clusters": 3})
    metrics = train_and_evaluate(config, tmp_path / "run", verbose=0, data=load_toy(config.data))
    assert metrics["method"] == "kmeans" and metrics["acc"] == 1.0 and metrics["baseline"]["inertia"] > 0
    assert (tmp_path / "run" / rundir.CONFIG_FILE).is_file()
