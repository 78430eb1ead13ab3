"""n_clusters="auto": K chosen without labels from one pretraining, exact on well-separated clusters,
its scores recorded (metrics.json, TensorBoard), a model of the K chosen that saves, loads and
exports like any other, and the new keys validated."""
import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import FAST, run_main, set_args
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from vade_tf import VaDEClustering, exporting, rundir
from vade_tf.cluster_count import count_clusters, laplacian_spectrum, neighbour_graph
from vade_tf.config import Config, config_from_dict
from vade_tf.data import Dataset
from vade_tf.errors import ConfigError, DataError
from vade_tf.pretraining_cache import pretrain_fingerprint
from vade_tf.recipe import neighbors_for, resolve_auto
from vade_tf.validation import check_data

# The default recipe's pretraining (its latent keeps the blobs apart), two epochs of VaDE: seconds.
AUTO_ESTIMATOR = {"n_clusters": "auto", "epochs": 2, "random_state": 0,
                  "settings": {**FAST, "model.max_clusters": 12, "train.elbo_draws": 500}}


def separated(k: int, n_samples: int = 240):
    """``k`` Gaussian clusters in 6 dimensions, their centres far apart: (features, true clusters)."""
    x, y = make_blobs(n_samples=n_samples, centers=k, n_features=6, cluster_std=0.6, center_box=(-15, 15),
                      random_state=k)
    return x.astype(np.float32), y


def test_a_graph_of_k_separate_pieces_has_k_zero_eigenvalues_and_k_is_chosen():
    # Known answer: each connected piece of the graph contributes one eigenvalue 0 (repeated ones
    # included, which a one-vector Lanczos can miss), and the next one is well above 0.
    for k in (3, 5, 8):
        x, _ = separated(k)
        spectrum = laplacian_spectrum(neighbour_graph(x, neighbors_for(len(x), 10)), 12, seed=0)
        np.testing.assert_allclose(spectrum[:k], 0.0, atol=1e-6)
        assert spectrum[k] > 0.05
        count = count_clusters(x, 2, 10, seed=0)
        assert count.chosen == count.pieces == k and list(count.scores) == list(range(2, 11))
        assert count.scores[k] == pytest.approx(spectrum[k], abs=1e-6)
    # A function of the data and the seed: the same on every call.
    assert count_clusters(x, 2, 10, seed=0) == count


def test_one_connected_graph_takes_the_k_of_the_largest_eigengap():
    # Three groups joined by a few points between them: one piece, three eigenvalues near 0.
    x, _ = separated(3)
    centres = [x[_ == c].mean(axis=0) for c in range(3)]
    bridges = np.concatenate([np.linspace(centres[a], centres[b], 40) for a, b in ((0, 1), (1, 2))])
    count = count_clusters(np.concatenate([x, bridges]).astype(np.float32), 2, 10, seed=0)
    assert count.pieces == 1 and count.chosen == max(count.scores, key=count.scores.get)


@pytest.mark.parametrize("k", [3, 5, 8])
def test_auto_finds_the_number_of_well_separated_clusters_and_clusters_them(k):
    x, y = separated(k)
    estimator = VaDEClustering(**AUTO_ESTIMATOR).fit(x)
    assert estimator.n_clusters_ == k and estimator.metrics_["n_clusters_chosen"] == k
    assert estimator.weights_.shape == (k,) and estimator.predict_proba(x).shape == (len(x), k)
    assert adjusted_rand_score(y, estimator.labels_) > 0.95
    assert estimator.get_params()["n_clusters"] == "auto"  # the parameter stays as given
    assert estimator.config_.model.n_clusters == k          # the run's config holds the K chosen


def test_auto_trains_exactly_what_a_fixed_k_of_the_k_chosen_trains():
    # One pretraining serves every K: once K is chosen, the run is the fixed-K run of that K (the same
    # autoencoder, partition and steps), so "auto" costs the choice and nothing in accuracy.
    x, _ = separated(3)
    chosen = VaDEClustering(**AUTO_ESTIMATOR).fit(x)
    fixed = VaDEClustering(**{**AUTO_ESTIMATOR, "n_clusters": 3}).fit(x)
    np.testing.assert_array_equal(chosen.labels_, fixed.labels_)
    np.testing.assert_array_equal(chosen.means_, fixed.means_)
    assert chosen.metrics_["elbo"] == fixed.metrics_["elbo"]


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    """vade-train with --set model.n_clusters=auto on five separated clusters, exported: (run dir, x)."""
    from vade_tf.commands import train

    folder = tmp_path_factory.mktemp("auto")
    x, y = separated(5)
    np.savez(folder / "blobs.npz", X=x, y=y)
    settings = {**FAST, "data.name": "custom", "data.options.path": str(folder / "blobs.npz"),
                "model.n_clusters": "auto", "model.max_clusters": 12, "train.epochs": 2,
                "train.elbo_draws": 500}
    result = run_main(train.main, "--run-dir", folder / "run", *set_args(settings))
    assert result.returncode == 0, result.stderr[-3000:]
    exporting.export(folder / "run", folder / "models")
    return folder / "run", x, result.stdout


def test_the_choice_and_every_ks_score_are_printed_recorded_and_summarised(auto_run):
    run_dir, _, printed = auto_run
    metrics = json.loads((run_dir / rundir.METRICS_FILE).read_text())
    scores = {int(k): v for k, v in metrics["n_clusters_scores"].items()}
    assert metrics["n_clusters_chosen"] == 5 == metrics["n_clusters_graph_pieces"]
    assert sorted(scores) == list(range(2, 13)) and metrics["n_clusters_criterion"] == "eigengap"
    assert "number of clusters: 5" in printed
    assert json.loads((run_dir / rundir.CONFIG_FILE).read_text())["model"]["n_clusters"] == 5
    # TensorBoard: the criterion as a scalar over K (the step), and the K chosen.
    summarised = {}
    for events in (run_dir / "logs" / "n_clusters").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                summarised.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    assert sorted(summarised["n_clusters/eigengap"]) == sorted(scores)
    for k, score in scores.items():
        assert summarised["n_clusters/eigengap"][k] == pytest.approx(score, rel=1e-6)
    assert summarised["n_clusters/chosen"][0] == 5 == summarised["n_clusters/graph_pieces"][0]


def test_an_auto_run_loads_exports_and_resumes_as_a_model_of_the_k_chosen(auto_run):
    from vade_tf.commands import train

    run_dir, x, _ = auto_run
    loaded = VaDEClustering.load(run_dir)
    assert loaded.n_clusters_ == 5 and loaded.predict_proba(x).shape == (len(x), 5)
    serving = tf.saved_model.load(str(run_dir.parent / "models" / "1")).signatures["serving_default"]
    np.testing.assert_allclose(serving(x=tf.constant(x))["cluster_probs"].numpy(), loaded.predict_proba(x),
                               atol=1e-5)
    # Run again on the finished run directory: the same K is chosen from the cached pretraining, and the
    # run's checkpoints are its own (a different K would refuse them).
    config = json.loads((run_dir / rundir.CONFIG_FILE).read_text())
    again = run_main(train.main, "--run-dir", run_dir, *set_args({
        "data.name": "custom", "data.options.path": config["data"]["options"]["path"], **FAST,
        "model.n_clusters": "auto", "model.max_clusters": 12, "train.epochs": 2, "train.elbo_draws": 500}))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "number of clusters: 5" in again.stdout and "pretraining reused" in again.stdout


def test_the_auto_keys_are_validated_in_one_line():
    assert config_from_dict({"model": {"n_clusters": "auto"}}).model.n_clusters == "auto"
    for raw, fragment in [({"model": {"n_clusters": "many"}}, "model.n_clusters: expected an integer"),
                          ({"model": {"n_clusters": "auto", "min_clusters": 9, "max_clusters": 4}},
                           "model.min_clusters=9 is above model.max_clusters=4"),
                          ({"model": {"max_clusters": 1}}, "model.max_clusters: got 1, must be >= 2"),
                          ({"method": "gmm", "model": {"n_clusters": "auto"}},
                           "set a number for method=gmm")]:
        with pytest.raises(ConfigError, match=fragment):
            config_from_dict(raw)
    x, _ = separated(3, n_samples=20)

    def checked(features, **model):
        data = Dataset(features, None, "X")
        check_data(resolve_auto(config_from_dict({"model": {"n_clusters": "auto", **model}}), data), data)

    with pytest.raises(ConfigError, match="model.max_clusters: got 30, but X has 20 samples"):
        checked(x)
    with pytest.raises(DataError, match="fewer than model.max_clusters=12"):
        checked(x[:1].repeat(20, axis=0), max_clusters=12)
    with pytest.raises(ValueError, match="max_clusters"):
        VaDEClustering(n_clusters="auto").fit(x)


def test_the_choice_keys_leave_a_fixed_k_runs_caches_and_checkpoints_as_they_were():
    # min_clusters and max_clusters say how "auto" chose K; a run hangs on the K itself, so every
    # fingerprint of a fixed-K run is what it was before the keys existed.
    default, moved = Config(), config_from_dict({"model": {"min_clusters": 3, "max_clusters": 7}})
    assert pretrain_fingerprint(default, 64, 0) == pretrain_fingerprint(moved, 64, 0)
    assert "max_clusters" not in json.dumps(pretrain_fingerprint(default, 64, 0))
    assert rundir.training_digest(default) == rundir.training_digest(moved)


def test_an_auto_run_saved_from_python_loads_with_its_k_and_its_parameter(tmp_path):
    x, _ = separated(3)
    fitted = VaDEClustering(**AUTO_ESTIMATOR).fit(x)
    fitted.save(tmp_path / "saved")
    loaded = VaDEClustering.load(tmp_path / "saved")
    assert loaded.n_clusters_ == 3 and loaded.get_params()["n_clusters"] == "auto"
    np.testing.assert_allclose(loaded.predict_proba(x), fitted.predict_proba(x), rtol=1e-6, atol=1e-7)


def test_the_experiment_runner_reads_a_finished_auto_run_back_whatever_k_it_chose(tmp_path):
    import dataclasses

    from vade_tf import files
    from vade_tf.experiments import finished_metrics

    x, _ = separated(5)
    data = Dataset(x, None, "X")
    wanted = resolve_auto(config_from_dict({"model": {"n_clusters": "auto"}}), data)
    chosen = dataclasses.replace(wanted, model=dataclasses.replace(wanted.model, n_clusters=5))
    ran = resolve_auto(chosen, data)  # what the run's config.json holds
    files.write_json(tmp_path / rundir.CONFIG_FILE, ran.to_dict())
    files.write_json(tmp_path / rundir.METRICS_FILE, {"elbo": -1.0, "n_clusters_chosen": 5})
    assert finished_metrics(tmp_path, wanted)["n_clusters_chosen"] == 5
    other = dataclasses.replace(wanted, train=dataclasses.replace(wanted.train, learning_rate=0.01))
    with pytest.raises(ConfigError, match="train.learning_rate"):
        finished_metrics(tmp_path, other)
