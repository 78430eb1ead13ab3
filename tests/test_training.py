"""End to end: known answers on well separated data, and the CLI writing every artefact."""
import json

import keras
import numpy as np
import pytest
from conftest import FAST, ROOT, run_main, set_args

import train
from vade_tf import rundir
from vade_tf.config import load_config
from vade_tf.data import Dataset, load_dataset
from vade_tf.errors import ConfigError
from vade_tf.evaluation import elbo_estimate, evaluate
from vade_tf.fit import fit_vade, learning_rate_schedules, partition_log_gamma
from vade_tf.inference import assign_clusters
from vade_tf.initialise import build_model, initialise
from vade_tf.metrics import cluster_accuracy
from vade_tf.model import VaDE
from vade_tf.runs import best_restart, train_and_evaluate

TINY = {**FAST, "model.hidden_dims": [32, 16], "model.latent_dim": 3, "train.steps_per_execution": 4}


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
    model = build_model(config, data.input_dim, seed=0)
    init = initialise(model, data, config, 0, tmp_path / "pretrain", verbose=0)
    fit_vade(model, data, config, 0, tmp_path / "logs", tmp_path / "checkpoints", verbose=0)
    final = evaluate(model, data, config.train.elbo_draws, config.train.jit_compile)
    assert init["partition"]["acc"] > 0.95
    assert final["acc"] > 0.95 and final["nmi"] > 0.85
    assert np.isfinite(final["elbo"])


def test_the_final_elbo_spends_its_draws_to_shrink_its_monte_carlo_error():
    data = _separated_clusters(n_per_cluster=20)
    model = build_model(load_config(overrides=TINY), data.input_dim, seed=0)
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


NO_PICTURES = {"logging.tsne_samples": 0, "logging.image_every": 0, "logging.embedding_every": 0}


def _train(run_dir, *extra, pictures=False):
    """train.py on the embedded digits, tiny and short, in this process; pictures only when asked for
    (the logging keys are not part of a checkpoint's identity, so the runs below can share one)."""
    logging = {"logging.tsne_samples": 200, "logging.embedding_samples": 200} if pictures else NO_PICTURES
    return run_main(train.main, "--run-dir", run_dir, "--epochs", "2", "--pretrain-epochs", "2",
                    "--set", "pretrain.method=plain", "--set", "model.hidden_dims=[32,16]",
                    "--set", "pretrain.gmm_n_init=2", *set_args({**FAST, **logging}), *extra)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    result = _train(run_dir, pictures=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


def test_cli_trains_the_embedded_default_and_writes_every_artefact(digits_run):
    run_dir, result = digits_run
    last_line = result.stdout.strip().splitlines()[-1]
    assert last_line.startswith("final: acc ") and " nmi " in last_line and " ari " in last_line
    for name in (rundir.CONFIG_FILE, rundir.METRICS_FILE, rundir.MODEL_WEIGHTS, rundir.MODEL_SPEC,
                 f"{rundir.PRETRAIN_DIR}/{rundir.PRETRAIN_WEIGHTS}",
                 f"{rundir.PRETRAIN_DIR}/{rundir.PRETRAIN_INFO}", "samples.png", "tsne.png", "confusion.png"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / rundir.CHECKPOINT_DIR).glob("ckpt-*.index"))
    assert list((run_dir / "logs").rglob("events.out.tfevents.*"))
    metrics = json.loads((run_dir / rundir.METRICS_FILE).read_text())
    for key in ("acc", "nmi", "ari", "v_measure", "elbo", "wall_time_s", "seed", "versions"):
        assert key in metrics, key
    assert f"acc {metrics['acc']:.4f}" in last_line
    assert [e["epoch"] for e in metrics["restarts"][0]["epochs"]] == [1, 2]
    assert all("acc" in e for e in metrics["restarts"][0]["epochs"])
    config = json.loads((run_dir / rundir.CONFIG_FILE).read_text())
    assert config["data"]["name"] == "digits" and config["train"]["epochs"] == 2


def test_saved_model_rebuilds_from_its_spec_alone(digits_run):
    """model.json + model.weights.h5 reproduce the reported ACC without the training code."""
    run_dir, _ = digits_run
    model = VaDE(**json.loads((run_dir / rundir.MODEL_SPEC).read_text()))
    model.build((None, 64))
    model.load_weights(run_dir / rundir.MODEL_WEIGHTS)
    data = load_dataset(load_config(run_dir / rundir.CONFIG_FILE).data)
    metrics = json.loads((run_dir / rundir.METRICS_FILE).read_text())
    assert cluster_accuracy(data.y, assign_clusters(model, data.x)) == pytest.approx(metrics["acc"])


def test_pretraining_cache_is_reused_only_for_the_same_config(digits_run, tmp_path):
    run_dir, _ = digits_run
    info = run_dir / rundir.PRETRAIN_DIR / rundir.PRETRAIN_INFO
    stamp = info.stat().st_mtime_ns
    again = _train(run_dir)
    assert again.returncode == 0 and "pretraining reused" in again.stdout
    assert info.stat().st_mtime_ns == stamp
    # The same run directory refuses another config: its checkpoints belong to the first one.
    changed = _train(run_dir, "--set", "pretrain.noise_rate=0.1")
    assert changed.returncode == 2 and "holds a checkpoint of another config" in changed.stderr
    assert info.stat().st_mtime_ns == stamp
    # Another run can borrow the pretraining, but only when its config produced it.
    borrowed = _train(tmp_path / "other", "--set", f"pretrain.from_dir={json.dumps(str(run_dir))}")
    assert borrowed.returncode == 0 and "pretraining reused from" in borrowed.stdout
    refused = _train(tmp_path / "third", "--set", f"pretrain.from_dir={json.dumps(str(run_dir))}",
                     "--set", "pretrain.noise_rate=0.3")
    assert refused.returncode == 2 and "pretrain.from_dir" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_another_partition_reuses_the_autoencoder_and_leaves_the_source_as_it_was(digits_run, tmp_path):
    run_dir, _ = digits_run
    source_info = run_dir / rundir.PRETRAIN_DIR / rundir.PRETRAIN_INFO
    stamp = source_info.stat().st_mtime_ns
    other = tmp_path / "gmm-start"
    result = _train(other, "--set", f"pretrain.from_dir={json.dumps(str(run_dir))}",
                    "--set", 'pretrain.mixture_init="gmm"')
    assert result.returncode == 0, result.stderr[-3000:]
    assert "autoencoder reused from" in result.stdout and "pretraining end-to-end" not in result.stdout
    own = json.loads((other / rundir.PRETRAIN_DIR / rundir.PRETRAIN_INFO).read_text())
    borrowed = json.loads(source_info.read_text())
    assert own["fingerprint"]["pretrain"]["mixture_init"] == "gmm"
    assert borrowed["fingerprint"]["pretrain"]["mixture_init"] == "spectral"
    assert own["losses"] == borrowed["losses"]  # the autoencoder was not trained again
    assert (other / rundir.PRETRAIN_DIR / rundir.PRETRAIN_PARTITION).exists()
    assert source_info.stat().st_mtime_ns == stamp


def test_partition_warmup_trains_from_the_saved_partition(digits_run, tmp_path):
    run_dir, _ = digits_run
    partition = np.load(run_dir / rundir.PRETRAIN_DIR / rundir.PRETRAIN_PARTITION)
    assert partition.shape == (1797,) and set(np.unique(partition)) <= set(range(10))
    warm = _train(tmp_path / "warm", "--set", f"pretrain.from_dir={json.dumps(str(run_dir))}",
                  "--set", "train.partition_warmup_epochs=1")
    assert warm.returncode == 0, warm.stderr[-2000:]
    split = _train(tmp_path / "split", "--set", f"pretrain.from_dir={json.dumps(str(run_dir))}",
                   "--set", "train.partition_warmup_epochs=1", "--set", "train.validation_fraction=0.1")
    assert split.returncode == 0, split.stderr[-2000:]  # the held-out rows leave the partition with them


def test_restarts_keep_the_best_elbo_not_the_best_accuracy():
    records = [{"restart": 0, "final": {"elbo": -90.0, "acc": 0.97}},
               {"restart": 1, "final": {"elbo": -80.0, "acc": 0.60}},
               {"restart": 2, "final": {"elbo": -85.0, "acc": 0.99}}]
    assert best_restart(records)["restart"] == 1


def test_a_cache_is_reused_whole_for_its_own_config_and_for_its_networks_under_another_mixture():
    config = load_config(overrides=TINY)
    fingerprint = rundir.pretrain_fingerprint(config, 64, 0)
    cached = {"digest": rundir.fingerprint_digest(fingerprint), "fingerprint": fingerprint}

    def reuse(**overrides):
        return rundir.cache_reuse(cached, rundir.pretrain_fingerprint(
            load_config(overrides={**TINY, **overrides}), 64, 0))

    assert reuse() == "pretraining" and reuse(**{"data.dir": "/moved"}) == "pretraining"
    assert reuse(**{"model.n_clusters": 14}) == "autoencoder"
    assert reuse(**{"pretrain.spectral_neighbors": 10}) == "autoencoder"
    assert reuse(**{"model.covariance": "diag", "pretrain.mixture_init": "gmm"}) == "autoencoder"
    assert reuse(**{"pretrain.epochs": 3}) is None and reuse(**{"model.latent_dim": 4}) is None
    assert rundir.cache_reuse(None, fingerprint) is None
    assert rundir.cache_reuse(cached, rundir.pretrain_fingerprint(config, 64, 1)) is None  # another seed


def test_restart_selection_trains_only_the_best_early_elbo_to_the_end(tmp_path):
    result = _train(tmp_path, "--epochs", "3", "--set", "train.restarts=3",
                    "--set", "train.restart_selection_epochs=1")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / rundir.METRICS_FILE).read_text())
    records = metrics["restarts"]
    early = [r.get("selection", r["final"])["elbo"] for r in records]
    best = records[metrics["best_restart"]]
    assert metrics["best_restart"] == int(np.argmax(early)) and "selection" in best
    assert [len(r["epochs"]) for r in records] == [3 if r is best else 1 for r in records]
    assert metrics["elbo"] == best["final"]["elbo"]
    for r in range(3):  # each restart pretrained its own autoencoder
        assert (tmp_path / f"restart_{r}" / rundir.PRETRAIN_DIR / rundir.PRETRAIN_INFO).is_file()


def test_the_pretraining_cache_follows_the_data_not_where_it_lives():
    here = load_config(overrides={"data.dir": "/data/a"})
    moved = load_config(overrides={"data.dir": "/elsewhere", "data.evaluate_split": "test"})
    assert rundir.pretrain_fingerprint(here, 64, 0) == rundir.pretrain_fingerprint(moved, 64, 0)
    conv = {"model.architecture": "conv", "pretrain.method": "plain"}
    for change in ({"model.n_clusters": 7}, {"data.split": "train"}, {"pretrain.epochs": 3}, conv):
        other = load_config(overrides={"data.dir": "/data/a", **change})
        assert rundir.pretrain_fingerprint(other, 64, 0) != rundir.pretrain_fingerprint(here, 64, 0), change
    plain_conv = rundir.pretrain_fingerprint(load_config(overrides=conv), 64, 0)
    dense_conv = rundir.pretrain_fingerprint(load_config(overrides={**conv, "model.conv_dense": [32]}), 64, 0)
    assert "conv_dense" not in plain_conv["model"]  # conv caches from before the key still match
    assert dense_conv["model"]["conv_dense"] == [32]


def test_the_custom_template_keeps_small_separated_data_apart(tmp_path):
    """configs/custom.json, as a user with a small matrix runs it (an .npz of 320 samples, K = 8 real-
    valued clusters): no epoch puts (nearly) every sample in one cluster, and VaDE ends at or above the
    partition it starts from."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(8), 40)
    centres = rng.normal(scale=4.0, size=(8, 30))
    x = (centres[y] + rng.normal(size=(len(y), 30))).astype(np.float32)
    np.savez(tmp_path / "mine.npz", X=x, y=y)
    result = run_main(train.main, "--config", ROOT / "configs" / "custom.json",
                      "--run-dir", tmp_path / "run", "--epochs", "20", "--quiet",
                      "--set", f"data.path={json.dumps(str(tmp_path / 'mine.npz'))}",
                      "--set", "model.n_clusters=8", *set_args({**FAST, **NO_PICTURES}))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / rundir.METRICS_FILE).read_text())
    epochs = metrics["restarts"][0]["epochs"]
    assert len(epochs) == 20 and max(e["largest_cluster"] for e in epochs) < 0.5
    start = metrics["restarts"][0]["init"]["partition"]["acc"]
    assert metrics["acc"] >= start - 1e-9 and metrics["acc"] > 0.9, (start, metrics["acc"])


def test_another_number_of_clusters_reuses_the_autoencoder(tmp_path, capsys):
    """The pretrained networks do not depend on K or the mixture's covariance, so one pretraining
    serves every K: pretrained for each, they are equal; borrowed, they are loaded, not trained."""
    data = load_dataset(load_config().data)
    base = {**TINY, "pretrain.epochs": 1, "pretrain.gmm_n_init": 1, "pretrain.mixture_init": "gmm"}

    def pretrained(name, overrides):
        config = load_config(overrides={**base, **overrides})
        keras.utils.set_random_seed(0)  # as each restart does before it builds its model
        model = build_model(config, data.input_dim, 0)
        info = initialise(model, data, config, 0, tmp_path / name / rundir.PRETRAIN_DIR, verbose=1)
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
    assert partition.max() < 14 and borrowed.mixture_variables[0].shape[0] == 14
