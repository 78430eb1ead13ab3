"""The generality benchmark (``benchmarks.bench_datasets``) on one bundled dataset with a tiny
VaDE: what it records per dataset and seed, that a finished record is read back instead of trained
again, and the summary's verdicts."""
import json

import numpy as np
from conftest import FAST

from benchmarks import bench_datasets
from vade_tf.metrics import clustering_scores

TINY = {**FAST, "model.networks.hidden_dims": [16], "model.latent_dim": 2, "pretrain.epochs": 3,
        "train.epochs": 2,
        "pretrain.gmm_n_init": 1}


def _args(tmp_path) -> list[str]:
    sets = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    return ["--datasets", "iris", "--seeds", "0", "1", "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "bench.json"), *sets]


def test_the_benchmark_records_baselines_start_and_final_and_reads_finished_runs_back(tmp_path, monkeypatch):
    assert bench_datasets.main(_args(tmp_path)) == 0
    record = json.loads((tmp_path / "bench.json").read_text())
    assert [(r["dataset"], r["seed"]) for r in record["runs"]] == [("iris", 0), ("iris", 1)]
    run = record["runs"][0]
    assert (run["n_samples"], run["n_features"], run["n_clusters"]) == (150, 4, 3)
    assert 0.5 < run["kmeans"]["acc"] <= 1 and 0.5 < run["gmm_full"]["acc"] <= 1
    assert run["settings"] == TINY and run["versions"]["tensorflow"]
    vade = run["vade"]
    assert [e["epoch"] for e in vade["epochs"]] == [1, 2] and vade["seconds"] > 0
    assert vade["config"]["model"]["networks"]["hidden_dims"] == [16]
    assert vade["config"]["train"]["epochs"] == 2
    # The start is the partition the kept VaDE trained from (of its starts, the best final ELBO's),
    # scored against the labels.
    assert vade["start_method"] in ("spectral", "kmeans")
    partition = np.load(tmp_path / "runs" / "iris" / "seed-0" / "vade" / vade["start_directory"] / "pretrain"
                        / "partition.npy")
    from sklearn.datasets import load_iris
    assert vade["start"] == clustering_scores(load_iris().target, partition)
    row = record["summary"]["iris"]
    assert row["seeds"] == [0, 1] and row["vade_acc"] == float(np.median([r["vade"]["final"]["acc"]
                                                                           for r in record["runs"]]))
    assert row["holds_kmeans"] == (row["vade_acc"] >= row["kmeans_acc"])
    assert "| iris | 150 x 4, 3 |" in (tmp_path / "bench.md").read_text()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished record is read back, not trained again")

    monkeypatch.setattr(bench_datasets, "vade", no_training)
    assert bench_datasets.main(_args(tmp_path)) == 0
    assert json.loads((tmp_path / "bench.json").read_text())["runs"] == record["runs"]


def test_fetched_sets_reads_a_uci_table_from_a_snapshots_head(tmp_path, capsys):
    """The converter on a real git repository laid out as a fetched snapshot (OWNER+NAME/repo): the
    committed file is read from HEAD, the Id column dropped, classes numbered in sorted order."""
    import subprocess

    from benchmarks import fetched_sets

    source = fetched_sets.SOURCES["glass"]
    repo = tmp_path / "mirror" / source.repo.replace("/", "+") / "repo"
    table = tmp_path / "glass.data"
    table.write_text("1,1.52,13.6,7\n2,1.51,12.9,1\n3,1.53,14.1,10\n")
    (repo / source.paths[0]).parent.mkdir(parents=True)
    table.replace(repo / source.paths[0])
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "glass"]):
        subprocess.run(git + command, check=True)
    (repo / source.paths[0]).write_text("not what HEAD holds\n")  # HEAD is read, not the work tree
    snapshot = fetched_sets.find_snapshot(tmp_path / "mirror", source.repo)
    x, y = fetched_sets.convert("glass", snapshot)
    np.testing.assert_allclose(x, [[1.52, 13.6], [1.51, 12.9], [1.53, 14.1]], rtol=1e-6)
    assert x.dtype == np.float32 and y.tolist() == [1, 0, 2]  # 1 < 7 < 10 as numbers, not as text
    assert fetched_sets.find_snapshot(tmp_path / "mirror", "someone/else") is None


def test_the_number_of_clusters_benchmark_records_every_rule_on_the_same_latent(tmp_path, monkeypatch):
    from benchmarks import bench_n_clusters

    sets = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    args = ["--datasets", "iris", "--seeds", "0", "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "k.json"), *sets]
    assert bench_n_clusters.main(args) == 0
    record = json.loads((tmp_path / "k.json").read_text())
    run = record["runs"][0]
    assert (run["k_star"], run["max_clusters"]) == (3, 30) and run["settings"] == TINY
    assert sorted(map(int, run["vade"]["scores"])) == list(range(2, 31))
    assert 2 <= run["vade"]["chosen"] <= 30 and 2 <= run["dirichlet"]["chosen"] <= 30
    bic = {int(k): v for k, v in run["bic"]["scores"].items()}
    assert sorted(bic) == list(range(2, 31)) and run["bic"]["chosen"] == min(bic, key=bic.get)
    # The mixtures see the pretrained latent: the cached autoencoder's means, not the trained model's.
    latent = bench_n_clusters.pretrained_latent(tmp_path / "runs" / "iris" / "seed-0" / "vade",
                                                bench_n_clusters.SUITE["iris"](None)[0])
    assert latent.shape == (150, 2)
    totals = record["summary"]["totals"]["vade"]
    assert totals["datasets"] == 1 and totals["exact"] == (run["vade"]["chosen"] == 3)
    assert "| iris | 150, 3 |" in (tmp_path / "k.md").read_text()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished record is read back, not trained again")

    monkeypatch.setattr(bench_n_clusters, "mixture_choices", no_training)
    assert bench_n_clusters.main(args) == 0
    assert json.loads((tmp_path / "k.json").read_text())["runs"] == record["runs"]
