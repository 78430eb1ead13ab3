"""Table 2's baselines and the multi-seed runner: known answers, identities, aggregation, resumption."""
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import FAST, make_vade, run_main

from vade_tf import elbo, likelihoods, rundir
from vade_tf.baselines import fit_gmm_on_inputs, train_vae
from vade_tf.commands import experiment as experiment_cli
from vade_tf.config import load_config
from vade_tf.data import Dataset
from vade_tf.errors import ConfigError
from vade_tf.experiments import (
    Experiment,
    markdown_table,
    paper_accuracy,
    run_experiment,
    summarise,
    write_results,
)
from vade_tf.metrics import cluster_accuracy
from vade_tf.recipe import resolve_auto

TINY = {**FAST, "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3, "pretrain.method": "plain",
        "pretrain.epochs": 2, "pretrain.gmm_n_init": 2, "train.epochs": 1, "train.steps_per_execution": 4}


def _blobs(n_per_cluster=60, k=3, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = 6.0 * rng.standard_normal((k, d))
    y = np.repeat(np.arange(k), n_per_cluster)
    x = (centres[y] + rng.standard_normal((len(y), d))).astype(np.float32)
    return Dataset(x=x, y=y, name="blobs")


def test_gmm_baseline_recovers_separated_gaussians(tmp_path):
    data = _blobs()
    config = load_config(overrides={"method": "gmm", "model.n_clusters": 3, "model.likelihood": "gaussian"})
    assign, info = fit_gmm_on_inputs(resolve_auto(config, data), data, tmp_path, verbose=0)
    assert cluster_accuracy(data.y, assign(data.x)) == 1.0
    assert info["converged"] and np.isfinite(info["log_likelihood"])


def test_a_one_component_vade_at_the_standard_normal_is_a_vae():
    """gamma = 1 and KL(gamma || pi) = 0, so Eq. 12 is E log p(x|z) - KL(q(z|x) || N(0, I))."""
    keras.utils.set_random_seed(0)
    model = make_vade(6, 1, hidden_dims=[8])
    model.prior.set_mixture(np.ones(1), np.zeros((1, 2)), np.ones((1, 2)))
    log_var_kernel = model.encoder.log_var.kernel  # zero at start: give q(z|x) variances other than 1
    log_var_kernel.assign(np.random.default_rng(1).normal(size=log_var_kernel.shape))
    x = tf.constant(np.random.default_rng(0).uniform(size=(4, 6)), tf.float32)
    z_mean, z_log_var = model.encoder(x)
    z = z_mean + tf.exp(0.5 * z_log_var) * tf.random.stateless_normal((1, 4, 2), seed=[1, 2])
    terms = elbo.elbo_terms(x, z_mean, z_log_var, z, model.decoder(z), model.prior.distribution(),
                            "bernoulli")
    kl_standard = 0.5 * tf.reduce_sum(tf.exp(z_log_var) + z_mean ** 2 - 1.0 - z_log_var, -1)
    np.testing.assert_allclose(terms["kl_c"], 0.0, atol=1e-6)
    np.testing.assert_allclose(terms["kl_z"], kl_standard, rtol=1e-5, atol=1e-6)
    vae_elbo = tf.reduce_mean(likelihoods.log_prob(x, model.decoder(z), "bernoulli"), 0) - kl_standard
    np.testing.assert_allclose(terms["elbo"], vae_elbo, rtol=1e-5, atol=1e-5)


def test_the_vae_starts_from_the_autoencoder_and_keeps_its_prior_fixed(tmp_path):
    x = np.random.default_rng(0).uniform(size=(200, 12)).astype(np.float32)
    data = Dataset(x=x, y=None, name="noise")
    config = load_config(overrides={**TINY, "method": "vae_gmm", "model.n_clusters": 2, "train.epochs": 2,
                                    "train.batch_size": 50})
    vae, history = train_vae(resolve_auto(config, data), data, tmp_path, verbose=0)
    assert vae.n_clusters == 1 and len(history) == 2
    np.testing.assert_array_equal(vae.prior.means.numpy(), 0.0)
    np.testing.assert_array_equal(vae.prior.log_vars.numpy(), 0.0)
    assert all(not v.trainable for v in vae.prior.mixture_variables)
    assert history[1]["elbo"] > history[0]["elbo"] - 1.0  # trained on its ELBO, not diverging


def test_summarise_uses_the_sample_standard_deviation():
    s = summarise([0.90, 0.94, 0.95, 0.92, 0.96])
    assert s["mean"] == pytest.approx(0.934) and s["median"] == pytest.approx(0.94) and s["n"] == 5
    assert s["std"] == pytest.approx(np.std([0.90, 0.94, 0.95, 0.92, 0.96], ddof=1))
    assert summarise([0.5])["std"] == 0.0


@pytest.fixture(scope="module")
def tiny_experiment(tmp_path_factory):
    """Every method, 2 seeds, 1 epoch, on the embedded digits."""
    base = tmp_path_factory.mktemp("experiment")
    experiment = Experiment(name="tiny", config_path=None, methods=("gmm", "ae_gmm", "vae_gmm", "vade"),
                            seeds=(0, 1), runs_dir=base / "runs", overrides=TINY)
    progress = []
    result = run_experiment(experiment, verbose=0, command="test", on_progress=progress.append)
    return experiment, result, base, progress


def test_progress_is_reported_after_every_run_with_each_vade_epoch(tiny_experiment):
    """A stopped experiment has recorded what it finished: the result so far after every run, and
    each VaDE run with its starting partition and every epoch's ACC, ELBO and partition agreement."""
    _, result, _, progress = tiny_experiment
    assert len(progress) == 8                                             # 4 methods x 2 seeds
    assert [len(progress[0]["methods"][m]["runs"]) for m in result["methods"]] == [1, 0, 0, 0]
    assert progress[-1]["methods"] == result["methods"]
    assert "(finished so far: 0 of 2)" in markdown_table(progress[0])
    for run in result["methods"]["vade"]["runs"]:
        metrics = json.loads((Path(run["run_dir"]) / rundir.METRICS_FILE).read_text())
        assert run["start"]["partition"] == metrics["restarts"][0]["init"]["partition"]
        assert [e["epoch"] for e in run["per_epoch"]] == [1]
        assert {"acc", "elbo", "partition_agreement"} <= set(run["per_epoch"][0])
        assert set(run["seconds"]) >= {"training", "evaluation", "checkpoints", "summaries"}
    assert "| VaDE | 1 |" in markdown_table(result)


def test_the_runner_aggregates_every_method_over_the_seeds(tiny_experiment):
    experiment, result, _, _ = tiny_experiment
    assert list(result["methods"]) == ["gmm", "ae_gmm", "vae_gmm", "vade"] and result["seeds"] == [0, 1]
    for method, entry in result["methods"].items():
        assert [r["seed"] for r in entry["runs"]] == [0, 1]
        for record in entry["runs"]:
            metrics = json.loads((Path(record["run_dir"]) / rundir.METRICS_FILE).read_text())
            assert metrics["method"] == method and metrics["seed"] == record["seed"]
            assert record["acc"] == metrics["acc"] and 0.0 < metrics["acc"] <= 1.0
        accs = [r["acc"] for r in entry["runs"]]
        assert entry["summary"]["acc"]["mean"] == pytest.approx(np.mean(accs))
        assert entry["summary"]["acc"]["std"] == pytest.approx(np.std(accs, ddof=1))
    # GMM on the raw digits is deterministic given its seed, and the seeds differ.
    assert result["methods"]["gmm"]["runs"][0]["acc"] != result["methods"]["gmm"]["runs"][1]["acc"]


def test_methods_of_a_seed_share_one_pretraining(tiny_experiment):
    experiment, _, _, _ = tiny_experiment
    for seed in (0, 1):
        donor = str(experiment.run_dir("ae_gmm", seed))
        for method in ("vae_gmm", "vade"):
            config = json.loads((experiment.run_dir(method, seed) / rundir.CONFIG_FILE).read_text())
            assert config["pretrain"]["from_dir"] == donor
        assert not (experiment.run_dir("vade", seed) / rundir.PRETRAIN_DIR).exists()


def test_rerunning_reads_finished_runs_back_and_refuses_another_config(tiny_experiment):
    experiment, result, _, _ = tiny_experiment
    metrics_file = experiment.run_dir("vade", 1) / rundir.METRICS_FILE
    before = metrics_file.stat().st_mtime_ns
    again = run_experiment(experiment, verbose=0, command="test")
    assert metrics_file.stat().st_mtime_ns == before
    assert again["methods"]["vade"]["runs"] == result["methods"]["vade"]["runs"]
    changed = Experiment(**{**experiment.__dict__, "overrides": {**TINY, "train.learning_rate": 0.01}})
    with pytest.raises(ConfigError, match="train.learning_rate"):
        run_experiment(changed, verbose=0)


def test_results_are_written_as_json_and_a_table_beside_the_paper(tiny_experiment, tmp_path):
    _, result, _, _ = tiny_experiment
    json_path, md_path = write_results(result, tmp_path)
    assert json.loads(json_path.read_text())["methods"]["vade"]["summary"]["acc"]["n"] == 2
    table = md_path.read_text()
    rows = ("| GMM |", "| AE+GMM |", "| VAE+GMM |", "| VaDE |")
    for text in (table, markdown_table(json.loads(json_path.read_text()))):  # JSON sorts the methods
        positions = [text.index(row) for row in rows]
        assert positions == sorted(positions), "rows in the paper's order"
    mnist = {**result, "dataset": "mnist",
             "methods": {m: {**e, "paper_acc": v} for (m, e), v in
                         zip(result["methods"].items(), (53.73, 82.18, 72.94, 94.46))}}
    assert "| 94.46 |" in markdown_table(mnist)


def test_the_paper_stands_beside_a_run_only_with_its_number_of_clusters():
    assert paper_accuracy(load_config(overrides={"data.name": "mnist"}))["vade"] == 94.46
    assert paper_accuracy(load_config(overrides={"data.name": "mnist", "model.n_clusters": 14})) == {}
    assert paper_accuracy(load_config()) == {}  # the embedded digits are not in Table 2


def test_the_held_out_protocol_scores_the_test_split(tmp_path):
    """Every method is scored on the test split; VaDE also at its start and after every epoch, so
    'ends at or above its start' can be read on the held-out split as well."""
    experiment = Experiment(name="heldout", config_path=None, methods=("gmm", "ae_gmm", "vade"), seeds=(0,),
                            protocol="heldout", runs_dir=tmp_path, overrides=TINY)
    result = run_experiment(experiment, verbose=0)
    for entry in result["methods"].values():
        record = entry["runs"][0]
        assert record["evaluation"]["split"] == "test" and record["evaluation"]["n_samples"] == 297
        assert 0.0 < record["evaluation"]["acc"] <= 1.0
        assert "evaluation" in entry["summary"]
    assert result["n_samples"] == 1500  # trained on the train split only
    table = markdown_table(result)
    assert "held-out split" in table and "held-out V-measure: start → end" in table
    vade = result["methods"]["vade"]["runs"][0]
    last_epoch = vade["per_epoch"][-1]  # the model after the last epoch is the final model
    for metric in ("acc", "nmi", "v_measure"):
        assert last_epoch[f"evaluation_{metric}"] == pytest.approx(vade["evaluation"][metric])
    assert vade["start"]["evaluation"]["split"] == "test"
    assert f"{100 * vade['start']['evaluation']['acc']:.2f} → {100 * vade['evaluation']['acc']:.2f}" in table

    # Untrained, the model scored at the end is the starting one.
    untrained = Experiment(**{**experiment.__dict__, "name": "heldout0", "methods": ("vade",),
                              "overrides": {**TINY, "train.epochs": 0}})
    run = run_experiment(untrained, verbose=0)["methods"]["vade"]["runs"][0]
    assert run["per_epoch"] == []
    assert run["start"]["evaluation"] == run["evaluation"]


def test_experiment_cli_explains_bad_settings_in_one_line(tmp_path):
    for args, fragment in ((["--set", "vade:train.epochz=3"], "unknown config key 'train.epochz'"),
                           (["--methods", "gmm", "--set", "vade:train.epochs=3"], "does not run"),
                           (["--run-dir", "vade=runs/x"], "{seed}")):
        result = run_main(experiment_cli.main, "--name", "bad", "--seeds", "0", "--runs-dir", tmp_path, *args)
        assert result.returncode == 2, result.stderr[-2000:]
        assert fragment in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_cli_settings_reach_the_methods_they_name():
    args = experiment_cli.parse_args(["--name", "x", "--restarts", "3", "--epochs", "2",
                                  "--set", "vae_gmm:train.epochs=7", "--run-dir", "vade=runs/old-{seed}"])
    built = experiment_cli.build_experiment(args)
    assert built.config("vade", 0).train.restarts == 3 and built.config("gmm", 0).train.restarts == 1
    assert built.config("vae_gmm", 1).train.epochs == 7 and built.config("vade", 1).train.epochs == 2
    assert built.run_dir("vade", 4) == Path("runs/old-4")
    assert built.run_dir("gmm", 4) == Path("runs/experiments/x/gmm/seed-4")


def test_the_papers_restart_protocol_runs_inside_an_experiment(tmp_path):
    """VaDE with restarts pretrains each restart itself (seeds 0 and 1) and keeps the best final ELBO."""
    experiment = Experiment(name="restarts", config_path=None, methods=("ae_gmm", "vade"), seeds=(0,),
                            runs_dir=tmp_path, overrides=TINY,
                            method_overrides={"vade": {"train.restarts": 2}})
    run_experiment(experiment, verbose=0)
    run_dir = experiment.run_dir("vade", 0)
    metrics = json.loads((run_dir / rundir.METRICS_FILE).read_text())
    assert json.loads((run_dir / rundir.CONFIG_FILE).read_text())["pretrain"]["from_dir"] is None
    assert [r["seed"] for r in metrics["restarts"]] == [0, 1]
    best = max(metrics["restarts"], key=lambda r: r["final"]["elbo"])
    assert metrics["best_restart"] == best["restart"] and metrics["acc"] == best["final"]["acc"]
