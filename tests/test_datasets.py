"""The paper's datasets and the custom loader, each read from tiny files in its native format."""
import json
import tracemalloc

import numpy as np
import pytest
import scipy.sparse
from conftest import FAST, ROOT, run_main, set_args
from native_files import write_har_mat, write_rcv1, write_reuters10k, write_stl10, write_uci_har
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

from vade_tf.commands import train
from vade_tf.config import DataConfig
from vade_tf.data import custom, load_dataset, rcv1, shards, stl10
from vade_tf.data.pipeline import batches, epoch_batches
from vade_tf.errors import DataError

STL10_RANDOM = stl10.Options(feature_weights=None)  # random ResNet-50 weights: no download


# ----------------------------------------------------------------------------- HHAR
def test_hhar_reads_the_uci_layout_train_then_test_with_zero_based_labels(tmp_path):
    x, y = write_uci_har(tmp_path)
    data = load_dataset(DataConfig(name="hhar", dir=str(tmp_path)))
    np.testing.assert_allclose(data.x, x, rtol=1e-6)
    np.testing.assert_array_equal(data.y, y - 1)
    assert data.x.dtype == np.float32 and data.y.min() == 0 and data.y.max() == 5
    test = load_dataset(DataConfig(name="hhar", dir=str(tmp_path / "UCI HAR Dataset"), split="test"))
    assert test.x.shape == (12, 561)


def test_hhar_reads_the_authors_mat_file(tmp_path):
    x, y = write_har_mat(tmp_path)
    data = load_dataset(DataConfig(name="hhar", dir=str(tmp_path)))
    np.testing.assert_allclose(data.x, x, rtol=1e-6)
    np.testing.assert_array_equal(data.y, y - 1)


def test_hhar_rejects_wrong_labels_and_width_and_names_missing_files(tmp_path):
    write_uci_har(tmp_path)
    np.savetxt(tmp_path / "UCI HAR Dataset" / "test" / "y_test.txt", np.full(12, 7), fmt="%d")
    with pytest.raises(DataError, match=r"y_test.txt: labels span 7..7, expected 1..6"):
        load_dataset(DataConfig(name="hhar", dir=str(tmp_path)))
    np.savetxt(tmp_path / "UCI HAR Dataset" / "test" / "X_test.txt", np.ones((12, 560)))
    with pytest.raises(DataError, match="expected 561 features per sample, got 560"):
        load_dataset(DataConfig(name="hhar", dir=str(tmp_path)))
    with pytest.raises(DataError, match="X_train.txt not found; expected HAR.mat, or the extracted UCI zip"):
        load_dataset(DataConfig(name="hhar", dir=str(tmp_path / "UCI HAR Dataset" / "test")))


# ----------------------------------------------------------------------------- Reuters-10K
@pytest.mark.parametrize("kind", ["mat", "npy"])
def test_reuters10k_reads_both_native_files(tmp_path, kind):
    x, y = write_reuters10k(tmp_path, kind)
    data = load_dataset(DataConfig(name="reuters10k", dir=str(tmp_path)))
    np.testing.assert_allclose(data.x, x, rtol=1e-6)
    np.testing.assert_array_equal(data.y, y)


def test_reuters10k_says_which_files_it_expects(tmp_path):
    with pytest.raises(DataError, match="neither .*reuters10k.mat nor .*reutersidf10k.npy found"):
        load_dataset(DataConfig(name="reuters10k", dir=str(tmp_path)))
    with pytest.raises(DataError, match="no train/test split"):
        load_dataset(DataConfig(name="reuters10k", dir=str(tmp_path), split="test"))


# ----------------------------------------------------------------------------- full Reuters
@pytest.fixture
def rcv1_files(tmp_path):
    return tmp_path / "rcv1", write_rcv1(tmp_path / "rcv1")


def test_rcv1_keeps_single_root_topic_documents_in_file_order(rcv1_files, tmp_path):
    source, kept = rcv1_files
    data = load_dataset(DataConfig(name="reuters", dir=str(source)))
    assert len(data.x) == len(kept) == 7 and data.x.shape[1] == 17  # every word of the kept documents
    np.testing.assert_array_equal(data.y, [label for label, _ in kept.values()])


def test_rcv1_features_follow_the_tfidf_chain_computed_by_scikit_learn(rcv1_files, tmp_path):
    source, kept = rcv1_files
    meta = rcv1.prepare(source, tmp_path / "prepared", shard_size=3, verbose=False)
    assert [s["n"] for s in meta["shards"]] == [3, 3, 1]
    streamed = np.concatenate(list(shards.ShardedFeatures(tmp_path / "prepared")._rows(4, None, 0, False)))
    texts = [text for _, text in kept.values()]
    counts = CountVectorizer(max_features=2000, token_pattern=r"\S+").fit_transform(texts)
    tfidf = TfidfTransformer(norm="l2", sublinear_tf=True).fit_transform(counts)
    reference = normalize(tfidf.toarray() * np.sqrt(counts.shape[1])) * 200
    np.testing.assert_allclose(streamed, reference, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(streamed, axis=1), 200, rtol=1e-5)
    # By hand, doc 2289 "inflation rate economy growth rate": tf(rate) = 1 + ln 2, and rate, economy,
    # growth, inflation occur in no other kept document, so all four share idf ln(8/2) + 1.
    row = streamed[3]
    nonzero = row[row > 0]
    assert len(nonzero) == 4
    np.testing.assert_allclose(nonzero.max() / nonzero.min(), 1 + np.log(2), rtol=1e-5)


def test_vocabulary_keeps_the_most_frequent_words():
    docs = [(1, "a a a b b c".split()), (2, "a b d".split())]
    vocabulary, idf, n = rcv1.vocabulary_and_idf(docs, n_features=2)
    assert vocabulary == ["a", "b"] and n == 2
    np.testing.assert_allclose(idf, np.log(3 / 3) + 1)


def test_rcv1_preparation_resumes_without_redoing_or_corrupting_shards(rcv1_files, tmp_path):
    source, _ = rcv1_files
    out = tmp_path / "prepared"
    rcv1.prepare(source, out, shard_size=3, verbose=False)
    first = (out / "shard-00000.npz").read_bytes()
    kept_mtime = (out / "shard-00000.npz").stat().st_mtime_ns
    # An interruption: meta.json never written, the last shard lost, a half-written file left behind.
    (out / shards.META_FILE).unlink()
    (out / "shard-00002.npz").unlink()
    (out / "shard-00002.npz.partial").write_bytes(b"half a shard")
    with pytest.raises(DataError, match="no prepared Reuters features"):
        shards.ShardedFeatures(out)
    meta = rcv1.prepare(source, out, shard_size=3, verbose=False)
    assert meta["n_samples"] == 7 and (out / "shard-00002.npz").exists()
    assert (out / "shard-00000.npz").stat().st_mtime_ns == kept_mtime
    assert (out / "shard-00000.npz").read_bytes() == first


def test_rcv1_rejects_a_file_that_is_not_in_token_format(tmp_path):
    write_rcv1(tmp_path)
    (tmp_path / rcv1.TOKEN_FILES[0]).write_text("just some text\n")
    with pytest.raises(DataError, match="text before the first '.I' record"):
        load_dataset(DataConfig(name="reuters", dir=str(tmp_path)))


def _synthetic_prepared(directory, n, shard_size, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir()
    written = []
    for i, start in enumerate(range(0, n, shard_size)):
        rows = min(shard_size, n - start)
        x = scipy.sparse.random(rows, 2000, density=0.04, format="csr", dtype=np.float32, random_state=rng)
        shards.write_shard(directory / shards.shard_name(i), x, rng.integers(0, 4, rows))
        written.append({"file": shards.shard_name(i), "n": rows})
    meta = {"n_samples": n, "n_features": 2000, "shards": written, "min": 0.0, "max": 1.0}
    (directory / shards.META_FILE).write_text(json.dumps(meta))
    return shards.ShardedFeatures(directory)


def test_streamed_epochs_visit_every_row_once_in_a_new_order(tmp_path):
    features = _synthetic_prepared(tmp_path / "p", n=250, shard_size=60)
    ordered = np.concatenate(list(features._rows(32, None, 0, False)))
    ds = epoch_batches(features, 32, seed=3, first_epoch=0, last_epoch=2)
    assert ds.cardinality().numpy() == 2 * 7
    rows = np.concatenate([b.numpy() for b in ds])
    one, two = rows[:224], rows[224:]
    assert one.shape == two.shape == (224, 2000)
    assert not np.array_equal(one, two)                       # reshuffled every epoch
    again = np.concatenate([b.numpy() for b in epoch_batches(features, 32, 3, 0, 2)])
    np.testing.assert_array_equal(again, rows)                # the same seed, the same epochs
    assert len({bytes(row) for row in one}) == 224 and {bytes(row) for row in one} <= set(map(bytes, ordered))
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in batches(features, 50)]), ordered)


def test_streaming_memory_stays_flat_as_n_grows(tmp_path):
    peaks = []
    for n in (2_000, 20_000):
        features = _synthetic_prepared(tmp_path / f"n{n}", n=n, shard_size=1_000)
        tracemalloc.start()
        for _ in features._rows(100, seed=0, epoch=0, drop_remainder=True):
            pass
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0], peaks


# ----------------------------------------------------------------------------- STL-10
def test_stl10_images_are_read_in_height_width_channel_order(tmp_path):
    images, _ = write_stl10(tmp_path)
    np.testing.assert_array_equal(stl10.read_images(tmp_path / "stl10_binary" / "train_X.bin"), images[:3])


def test_stl10_features_are_extracted_once_then_read_from_the_cache(tmp_path, monkeypatch):
    _, y = write_stl10(tmp_path)
    config = DataConfig(name="stl10", dir=str(tmp_path), options=STL10_RANDOM, cache_dir=str(tmp_path / "c"))
    data = load_dataset(config)
    assert data.x.shape == (5, 2048) and data.x.dtype == np.float32
    np.testing.assert_array_equal(data.y, y.astype(np.int64) - 1)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "test_X.resnet50-random.npy", "train_X.resnet50-random.npy"]

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were extracted again")
    monkeypatch.setattr(stl10, "extract_features", no_extraction)
    np.testing.assert_array_equal(load_dataset(config).x, data.x)


def test_stl10_rejects_truncated_images(tmp_path):
    write_stl10(tmp_path)
    path = tmp_path / "stl10_binary" / "train_X.bin"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match="not a whole number of 96x96x3 images"):
        load_dataset(DataConfig(name="stl10", dir=str(tmp_path), options=STL10_RANDOM))


# ----------------------------------------------------------------------------- MNIST npz and custom data
def test_mnist_reads_keras_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"x_{split}": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
              for split, n in (("train", 5), ("test", 3))}
    arrays.update(y_train=np.arange(5) % 10, y_test=np.arange(3) % 10)
    np.savez(tmp_path / "mnist.npz", **arrays)
    data = load_dataset(DataConfig(name="mnist", dir=str(tmp_path), download=False))
    assert data.x.shape == (8, 784) and data.x.max() <= 1.0
    np.testing.assert_array_equal(data.y, [0, 1, 2, 3, 4, 0, 1, 2])


def test_custom_reads_npy_npz_and_csv(tmp_path):
    x = np.random.default_rng(0).uniform(size=(6, 3))
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", X=x, y=np.arange(6) % 2)
    (tmp_path / "c.csv").write_text("f1,label,f2,f3\n" + "".join(
        f"{r[0]},{i % 3},{r[1]},{r[2]}\n" for i, r in enumerate(x)))
    unlabelled = load_dataset(DataConfig(name="custom", options=custom.Options(str(tmp_path / "a.npy"))))
    assert unlabelled.y is None and unlabelled.x.shape == (6, 3)
    labelled = load_dataset(DataConfig(name="custom", options=custom.Options(str(tmp_path / "b.npz"))))
    np.testing.assert_array_equal(labelled.y,
                                  np.arange(6) % 2)
    csv = load_dataset(DataConfig(name="custom", options=custom.Options(str(tmp_path / "c.csv"), "label")))
    np.testing.assert_allclose(csv.x, x, rtol=1e-6)
    np.testing.assert_array_equal(csv.y, np.arange(6) % 3)


@pytest.mark.parametrize("content,label_column,fragment", [
    ("a,b\n1,2\n3,x\n", None, "near line 3: a non-numeric, missing or extra value"),
    ("a,b\n1,2\n3\n", None, "near line 3: a non-numeric, missing or extra value"),
    ("a,b\n1,2,3\n4,5,6\n", None, "every row needs the header's 2 numbers"),
    ("a,b\n1,2\n3,nan\n", None, "NaN or Inf"),
    ("a,b\n1,2\n", "y", "has no column 'y'"),
    ("", None, "is empty"),
])
def test_custom_csv_problems_get_one_line(tmp_path, content, label_column, fragment):
    (tmp_path / "d.csv").write_text(content)
    with pytest.raises(DataError, match=fragment) as error:
        load_dataset(DataConfig(name="custom", options=custom.Options(str(tmp_path / "d.csv"), label_column)))
    assert "\n" not in str(error.value)


# ----------------------------------------------------------------------------- every config, end to end
def _mnist_npz(directory):
    rng = np.random.default_rng(1)
    directory.mkdir()
    np.savez(directory / "mnist.npz", x_train=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
             y_train=np.arange(30) % 10, x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
             y_test=np.arange(10) % 10)


def _unlabelled_csv(directory):
    directory.mkdir()
    rng = np.random.default_rng(2)
    rows = "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in rng.normal(size=(30, 5)))
    (directory / "mine.csv").write_text("a,b,c,d,e\n" + rows)


FIXTURES = {
    "mnist": (_mnist_npz, []),
    "hhar": (write_uci_har, []),
    "reuters10k": (lambda d: write_reuters10k(d, "npy"), []),
    "reuters": (write_rcv1, []),
    "stl10": (lambda d: write_stl10(d, n_train=8, n_test=6), ["data.options.feature_weights=null"]),
    "custom": (_unlabelled_csv, []),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_each_config_trains_from_native_files(tmp_path, name):
    """configs/NAME.json, shrunk to a tiny network and one epoch, on files in the native format."""
    data_dir = tmp_path / "data"
    if name not in ("mnist", "custom"):
        data_dir.mkdir()
    write, extra = FIXTURES[name]
    write(data_dir)
    if name == "custom":
        extra = [f"data.options.path={data_dir / 'mine.csv'}", "model.n_clusters=3"]
    sets = ["model.networks.hidden_dims=[16,8]", "model.latent_dim=3", "pretrain.batch_size=4",
            "train.batch_size=4",
            "pretrain.layer_epochs=1", "pretrain.gmm_n_init=1", "train.steps_per_execution=2", *extra]
    result = run_main(train.main, "--config", ROOT / "configs" / f"{name}.json", "--data-dir", data_dir,
                      "--run-dir", tmp_path / "run", "--epochs", "1", "--pretrain-epochs", "1", "--quiet",
                      *[a for s in sets for a in ("--set", s)], *set_args(FAST))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert np.isfinite(metrics["elbo"])
    assert ("acc" in metrics) == (name != "custom")
    assert result.stdout.strip().splitlines()[-1].startswith("final:")


def test_workers_stream_disjoint_files_in_equal_steps(tmp_path):
    """Split over 2 workers: each reads only its own shard files, and both fill the same number of
    global steps (the fewest rows decide), at half the batch each."""
    from vade_tf.data.pipeline import epoch_steps

    features = _synthetic_prepared(tmp_path / "p", n=250, shard_size=60)   # shards of 60,60,60,60,10
    assert epoch_steps(features, 32) == 7
    assert epoch_steps(features, 32, workers=2) == 120 // 16           # files 1,3 hold 120 rows
    everything = [bytes(row) for row in np.concatenate(list(features._rows(50, None, 0, False)))]
    seen = []
    for index in range(2):
        own = {bytes(row) for i in features._worker_files((index, 2))
               for row in shards.read_shard(features.paths[i])[0].toarray()}
        batches = [b.numpy() for b in epoch_batches(features, 32, 3, 0, 2, shard=(index, 2))]
        assert len(batches) == 2 * 7 and all(b.shape == (16, 2000) for b in batches)
        rows = [bytes(row) for b in batches[:7] for row in b]
        assert set(rows) <= own and len(set(rows)) == len(rows)
        seen += rows
    assert len(set(seen)) == len(seen) and set(seen) <= set(everything)   # no row on both workers
