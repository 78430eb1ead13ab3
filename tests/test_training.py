"""Training through the API: known answers on well separated data, the ELBO estimate, schedules,
restart selection and the pretraining cache's rules."""

import json

import keras
import numpy as np
import pytest
from conftest import DIGITS_RUN, FAST, FINAL_KEYS, train_tiny

from vade_tf import rundir
from vade_tf.config import load_config
from vade_tf.data import Dataset, load_dataset
from vade_tf.errors import ConfigError
from vade_tf.evaluation import elbo_estimate, evaluate
from vade_tf.fit import fit_vade, learning_rate_schedules, partition_log_gamma
from vade_tf.initialise import build_model, initialise
from vade_tf.pretraining_cache import cache_reuse, pretrain_fingerprint
from vade_tf.recipe import resolve_auto
from vade_tf.runs import best_restart, train_and_evaluate

TINY = {**FAST, "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3, "train.steps_per_execution": 4}


def _separated_clusters(n_per_cluster=80, k=3, d=24, seed=0):
    """k binary prototypes on disjoint pixel blocks, each sample with 5% of its pixels flipped."""
    rng = np.random.default_rng(seed)
    prototypes = np.kron(np.eye(k), np.ones((1, d // k)))
    y = np.repeat(np.arange(k), n_per_cluster)
    flips = rng.uniform(size=(len(y), d)) < 0.05
    x = np.abs(prototypes[y] - flips).astype(np.float32)
    order = rng.permutation(len(y))
    return Dataset(x=x[order], y=y[order], name="separated")


def test_well_separated_clusters_are_recovered(tmp_path):
    data = _separated_clusters()
    config = load_config(overrides={**TINY, "model.n_clusters": 3, "pretrain.method": "plain",
                                    "pretrain.epochs": 30, "pretrain.batch_size": 32,
                                    "train.epochs": 5, "train.batch_size": 32})
    config = resolve_auto(config, data)
    model = build_model(config, data.input_dim, seed=0)
    init, _ = initialise(model, data, config, 0, tmp_path / "pretrain", verbose=0)
    fit_vade(model, data, config, 0, tmp_path / "logs", tmp_path / "checkpoints", verbose=0)
    final = evaluate(model, data, config.train.elbo_draws, config.train.jit_compile)
    assert init["partition"]["acc"] > 0.95
    assert final["acc"] > 0.95 and final["nmi"] > 0.85
    assert np.isfinite(final["elbo"])


def test_a_models_initial_weights_are_a_function_of_its_seed_alone():
    config = resolve_auto(load_config(overrides=TINY), _separated_clusters(n_per_cluster=5))

    def weights(seed):
        model = build_model(config, 24, seed=seed)
        keras.random.normal((3,))  # whatever the process drew before the next model
        return [w.numpy() for w in model.weights]

    first, again, other = weights(0), weights(0), weights(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_the_final_elbo_spends_its_draws_to_shrink_its_monte_carlo_error():
    data = _separated_clusters(n_per_cluster=20)
    model = build_model(resolve_auto(load_config(overrides=TINY), data), data.input_dim, seed=0)
    one_draw = [elbo_estimate(model, data.x, 1)["elbo"] for _ in range(20)]
    many_draws = [elbo_estimate(model, data.x, 100 * len(data.x))["elbo"] for _ in range(20)]
    assert np.std(many_draws) < np.std(one_draw) / 4  # 100 draws a sample: a tenth, in expectation
    assert abs(np.mean(many_draws) - np.mean(one_draw)) < 3 * np.std(one_draw) / np.sqrt(20)
    terms = elbo_estimate(model, data.x, 1)
    assert terms["elbo"] == pytest.approx(terms["reconstruction"] - terms["kl_z"] - terms["kl_c"], rel=1e-5)


def test_the_partition_warmup_refuses_several_workers_by_name(tmp_path):
    with pytest.raises(ConfigError, match="train.partition_warmup_epochs needs in-memory features and one"):
        config = load_config(overrides={**TINY, "model.n_clusters": 3, "train.strategy": "multi_worker",
                                        "pretrain.from_dir": str(tmp_path), "train.batch_size": 10,
                                        "train.partition_warmup_epochs": 2})
        train_and_evaluate(config, tmp_path / "run", verbose=0, data=_separated_clusters(n_per_cluster=10))
    assert not (tmp_path / "run").exists()


def test_the_partition_becomes_a_finite_one_hot_log_gamma():
    log_gamma = partition_log_gamma(np.array([2, 0, 1]), 3)
    assert np.isfinite(log_gamma).all() and (log_gamma.argmax(axis=1) == [2, 0, 1]).all()
    np.testing.assert_allclose(np.exp(log_gamma).sum(axis=1), 1.0, rtol=1e-6)
    assert np.exp(log_gamma).min() < 1e-6  # the other clusters' KL terms weigh next to nothing


def test_mixture_schedule_is_the_network_schedule_scaled():
    config = load_config(overrides={"train.learning_rate": 0.002, "train.lr_decay": 0.5,
                                    "train.lr_decay_epochs": 1, "train.lr_floor": 0.0004,
                                    "train.mixture_learning_rate": 0.0002})
    network, mixture = learning_rate_schedules(config.train, steps_per_epoch=5)
    for step in (0, 5, 10, 15, 100):  # before, during and after the floor
        assert float(mixture(step)) == pytest.approx(0.1 * float(network(step)))
    assert float(mixture(100)) == pytest.approx(0.00004)  # the floor, scaled: never lifted to 0.0004
    shared = load_config(overrides={"train.mixture_learning_rate": None})  # the paper: one optimizer
    assert learning_rate_schedules(shared.train, 5)[1] is None


def test_restarts_keep_the_best_elbo_not_the_best_accuracy():
    records = [{"restart": 0, "final": {"elbo": -90.0, "acc": 0.97}},
               {"restart": 1, "final": {"elbo": -80.0, "acc": 0.60}},
               {"restart": 2, "final": {"elbo": -85.0, "acc": 0.99}}]
    assert best_restart(records) == 1


def test_a_cache_is_reused_whole_for_its_own_config_and_for_its_networks_under_another_mixture():
    config = load_config(overrides=TINY)
    fingerprint = pretrain_fingerprint(config, 64, 0)
    cached = {"digest": rundir.fingerprint_digest(fingerprint), "fingerprint": fingerprint}

    def reuse(**overrides):
        return cache_reuse(cached, pretrain_fingerprint(
            load_config(overrides={**TINY, **overrides}), 64, 0))

    assert reuse() == "pretraining" and reuse(**{"data.dir": "/moved"}) == "pretraining"
    assert reuse(**{"model.n_clusters": 14}) == "autoencoder"
    assert reuse(**{"pretrain.spectral_neighbors": 10}) == "autoencoder"
    assert reuse(**{"model.covariance": "diag", "pretrain.mixture_init": "gmm"}) == "autoencoder"
    assert reuse(**{"pretrain.epochs": 3}) is None and reuse(**{"model.latent_dim": 4}) is None
    assert cache_reuse(None, fingerprint) is None
    assert cache_reuse(cached, pretrain_fingerprint(config, 64, 1)) is None  # another seed


def test_the_pretraining_cache_follows_the_data_not_where_it_lives():
    here = load_config(overrides={"data.dir": "/data/a"})
    moved = load_config(overrides={"data.dir": "/elsewhere", "data.evaluate_split": "test"})
    assert pretrain_fingerprint(here, 64, 0) == pretrain_fingerprint(moved, 64, 0)
    conv = {"model.architecture": "conv", "pretrain.method": "plain"}
    for change in ({"model.n_clusters": 7}, {"data.split": "train"}, {"pretrain.epochs": 3}, conv):
        other = load_config(overrides={"data.dir": "/data/a", **change})
        assert pretrain_fingerprint(other, 64, 0) != pretrain_fingerprint(here, 64, 0), change
    plain_conv = pretrain_fingerprint(load_config(overrides=conv), 64, 0)
    dense_conv = pretrain_fingerprint(load_config(overrides={**conv,
                                                                    "model.networks.dense": [32]}), 64, 0)
    assert plain_conv["model"]["networks"]["dense"] == [] and dense_conv["model"]["networks"]["dense"] == [32]


def test_another_number_of_clusters_reuses_the_autoencoder(tmp_path, capsys):
    """The pretrained networks do not depend on K or the mixture's covariance, so one pretraining
    serves every K: pretrained for each, they are equal; borrowed, they are loaded, not trained."""
    data = load_dataset(load_config().data)
    base = {**TINY, "pretrain.epochs": 1, "pretrain.gmm_n_init": 1, "pretrain.mixture_init": "gmm"}

    def pretrained(name, overrides):
        config = resolve_auto(load_config(overrides={**base, **overrides}), data)
        keras.utils.set_random_seed(0)  # as each restart does before it builds its model
        model = build_model(config, data.input_dim, 0)
        info, _ = initialise(model, data, config, 0, tmp_path / name / rundir.PRETRAIN_DIR, verbose=1)
        return model, info

    ten, ten_info = pretrained("k10", {"model.n_clusters": 10, "model.covariance": "diag"})
    fourteen, _ = pretrained("k14", {"model.n_clusters": 14, "model.covariance": "full"})
    for a, b in zip(ten.network_variables, fourteen.network_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    capsys.readouterr()
    borrowed, info = pretrained("k14-borrowed", {"model.n_clusters": 14, "model.covariance": "full",
                                                  "pretrain.from_dir": str(tmp_path / "k10")})
    assert "autoencoder reused from" in capsys.readouterr().out
    assert info["losses"] == ten_info["losses"]
    for a, b in zip(ten.network_variables, borrowed.network_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    partition = np.load(tmp_path / "k14-borrowed" / rundir.PRETRAIN_DIR / rundir.PRETRAIN_PARTITION)
    assert partition.max() < 14 and borrowed.prior.mixture_variables[0].shape[0] == 14


def test_the_default_run_repeats_itself_without_op_determinism(digits_run, tmp_path):
    """A run is a function of its seed: with the defaults (train.deterministic off) the shared digits
    run trained again gives the same epochs and the same final metrics, to the last bit."""
    result = train_tiny(tmp_path, *DIGITS_RUN)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [json.loads((run_dir / rundir.METRICS_FILE).read_text()) for run_dir in (digits_run[0], tmp_path)]
    assert [runs[0][k] for k in FINAL_KEYS] == [runs[1][k] for k in FINAL_KEYS]
    assert runs[0]["restarts"][0]["epochs"] == runs[1]["restarts"][0]["epochs"]
