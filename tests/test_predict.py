"""vade-predict: clusters for new rows from a run directory or an export, as the estimator gives them,
whatever the input format and batch size, with the cluster's label for a labelled run."""
import csv

import numpy as np
import pytest
from conftest import TINY_ESTIMATOR, blobs, run_main

from vade_tf import VaDEClustering, exporting
from vade_tf.commands import predict


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny estimator fitted on blobs, saved as a run directory and exported: (estimator, rows, folder)."""
    folder = tmp_path_factory.mktemp("predict")
    x, _ = blobs(n_samples=45)
    estimator = VaDEClustering(**TINY_ESTIMATOR).fit(x)
    estimator.save(folder / "run")
    exporting.export(folder / "run", folder / "models")
    np.save(folder / "x.npy", x)
    np.savez(folder / "x.npz", X=x)
    with open(folder / "x.csv", "w", newline="") as f:
        csv.writer(f).writerows([["a", "b", "c", "d"], *x.tolist()])
    return estimator, x, folder


def _read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=float)


@pytest.mark.parametrize("model, source", [("--run-dir=run", "x.npy"), ("--export-dir=models/1", "x.csv"),
                                           ("--run-dir=run", "x.npz")])
def test_predict_agrees_with_the_estimator_from_a_run_and_an_export(saved, model, source):
    estimator, x, folder = saved
    flag, where = model.split("=")
    outputs = []
    for batch_size in (7, 4096):
        output = folder / f"{where.replace('/', '_')}-{source}-{batch_size}.csv"
        result = run_main(predict.main, flag, folder / where, "--input", folder / source, "--output", output,
                          "--batch-size", batch_size)
        assert result.returncode == 0 and result.stdout.strip() == f"wrote 45 rows to {output}", result.stderr
        outputs.append(_read(output))
    # Streamed in batches or in one: the same rows in the same order, to float32 rounding (a matrix
    # product may round a row by its position in the batch).
    (header, table), (header_whole, table_whole) = outputs
    assert header == header_whole
    np.testing.assert_array_equal(table[:, 0], table_whole[:, 0])
    np.testing.assert_allclose(table[:, 1:], table_whole[:, 1:], rtol=1e-5, atol=1e-6)
    assert header == ["cluster", "elbo", "p0", "p1", "p2"]  # no labels: the estimator was fitted without them
    np.testing.assert_array_equal(table[:, 0], estimator.predict(x))
    np.testing.assert_allclose(table[:, 2:], estimator.predict_proba(x), atol=1e-5)
    # Each row's ELBO: score_samples' number for that row, the same draws in another batching.
    assert np.all(np.isfinite(table[:, 1]))
    np.testing.assert_allclose(table[:, 1], estimator.score_samples(x), rtol=1e-5)


def test_the_elbo_column_is_the_same_from_the_run_and_the_export(saved):
    _, x, folder = saved
    columns = []
    for flag, where in (("--run-dir", "run"), ("--export-dir", "models/1")):
        output = folder / f"elbo-{where.replace('/', '_')}.csv"
        assert run_main(predict.main, flag, folder / where, "--input", folder / "x.npy",
                        "--output", output).returncode == 0
        columns.append(_read(output)[1][:, 1])
    np.testing.assert_allclose(columns[0], columns[1], rtol=1e-5)


def test_rows_outside_a_bernoulli_models_support_get_clusters_and_no_elbo(digits_run, tmp_path):
    from vade_tf.config import DataConfig
    from vade_tf.data import load_dataset

    rows = load_dataset(DataConfig()).x[:6].copy()
    rows[:3] *= 16  # the digits' raw 0-16 values: outside [0, 1]
    np.save(tmp_path / "rows.npy", rows)
    result = run_main(predict.main, "--run-dir", digits_run[0], "--input", tmp_path / "rows.npy",
                      "--output", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "out.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [row["elbo"] for row in table[:3]] == ["", "", ""]
    assert all(np.isfinite(float(row["elbo"])) for row in table[3:])
    assert all(row["cluster"] != "" for row in table)


def test_a_labelled_run_names_each_clusters_label(digits_run, tmp_path):
    import json

    from vade_tf.config import DataConfig
    from vade_tf.data import load_dataset

    run_dir, _ = digits_run
    np.save(tmp_path / "digits.npy", load_dataset(DataConfig()).x[:50])
    result = run_main(predict.main, "--run-dir", run_dir, "--input", tmp_path / "digits.npy",
                      "--output", tmp_path / "clusters.csv")
    assert result.returncode == 0, result.stderr
    header, table = _read(tmp_path / "clusters.csv")
    assert header[:3] == ["cluster", "label", "elbo"] and len(header) == 3 + 10 and len(table) == 50
    mapping = json.loads((run_dir / "metrics.json").read_text())["cluster_to_label"]
    assert [mapping[str(int(c))] for c in table[:, 0]] == [int(label) for label in table[:, 1]]
    np.testing.assert_array_equal(table[:, 0], table[:, 3:].argmax(axis=1))


def test_an_export_without_the_score_signature_is_refused_in_one_line(saved, tmp_path):
    """An export from before the score signature existed is refused with what to do, not served
    without its elbo column."""
    import shutil

    import tensorflow as tf

    _, _, folder = saved
    old = tmp_path / "models" / "1"
    shutil.copytree(folder / "models" / "1" / "assets", old / "assets")
    module = tf.Module()
    module.served = tf.saved_model.load(str(folder / "models" / "1"))  # tracked: its variables are saved
    module.serve = module.served.signatures["serving_default"]
    tf.saved_model.save(module, str(old), signatures={"serving_default": module.serve})
    result = run_main(predict.main, "--export-dir", old, "--input", folder / "x.npy",
                      "--output", tmp_path / "out.csv")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "without the score signature; export the run again" in result.stderr
    assert not (tmp_path / "out.csv").exists()
