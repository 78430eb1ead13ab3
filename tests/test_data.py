import gzip
import struct

import numpy as np
import pytest

from vade_tf.config import DataConfig, load_config
from vade_tf.data import Dataset, load_dataset
from vade_tf.data.idx import MNIST_FILES, read_idx
from vade_tf.data.pipeline import training_dataset
from vade_tf.errors import DataError
from vade_tf.validation import check_data


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path):
    """Six train and four test 'images' of 3x2 pixels in the exact IDX gzip format."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("test", 4)):
        images, labels = rng.integers(0, 256, size=(n, 3, 2)), rng.integers(0, 10, size=n)
        image_file, label_file = MNIST_FILES[split]
        _write_idx(tmp_path / image_file, images)
        _write_idx(tmp_path / label_file, labels)
        arrays[split] = (images, labels)
    return tmp_path, arrays


def test_idx_round_trip(tiny_mnist):
    directory, arrays = tiny_mnist
    np.testing.assert_array_equal(read_idx(directory / MNIST_FILES["train"][0]), arrays["train"][0])


def test_mnist_all_joins_train_then_test_scaled_to_unit_interval(tiny_mnist):
    directory, arrays = tiny_mnist
    data = load_dataset(DataConfig(name="mnist", dir=str(directory), download=False))
    assert data.x.shape == (10, 6) and data.x.dtype == np.float32
    expected = np.concatenate([arrays["train"][0], arrays["test"][0]]).reshape(10, 6) / 255.0
    np.testing.assert_allclose(data.x, expected, rtol=1e-6)
    np.testing.assert_array_equal(data.y, np.concatenate([arrays["train"][1], arrays["test"][1]]))
    test_only = load_dataset(DataConfig(name="mnist", dir=str(directory), split="test", download=False))
    assert test_only.x.shape == (4, 6)


def test_fashion_mnist_reads_the_same_idx_files_from_dir_or_the_debian_package(tiny_mnist, monkeypatch):
    from vade_tf.data import idx

    directory, arrays = tiny_mnist
    data = load_dataset(DataConfig(name="fashion_mnist", dir=str(directory), download=False))
    assert data.name == "fashion_mnist" and data.image_shape == (28, 28) and data.x.shape == (10, 6)
    np.testing.assert_array_equal(data.y, np.concatenate([arrays["train"][1], arrays["test"][1]]))
    # Without data.dir: the directory Debian's dataset-fashion-mnist installs into.
    monkeypatch.setattr(idx, "FASHION_MNIST_SYSTEM_DIR", directory)
    system = load_dataset(DataConfig(name="fashion_mnist", split="train", download=False))
    np.testing.assert_array_equal(system.x, data.x[:6])


def test_fashion_mnist_without_files_says_where_to_get_them(tmp_path, monkeypatch):
    from vade_tf.data import idx

    monkeypatch.setattr(idx, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset(DataConfig(name="fashion_mnist", download=False))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz not found"):
        load_dataset(DataConfig(name="fashion_mnist", dir=str(tmp_path), split="test", download=False))


def test_missing_file_names_it(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz not found"):
        load_dataset(DataConfig(name="mnist", dir=str(tmp_path), download=False))


def test_truncated_and_corrupt_files_are_detected(tiny_mnist):
    directory, _ = tiny_mnist
    path = directory / MNIST_FILES["train"][0]
    raw = gzip.decompress(path.read_bytes())
    with gzip.open(path, "wb") as f:
        f.write(raw[:-3])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="corrupt"):
        read_idx(path)


def test_wrong_magic_is_detected(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 1) + b"\0\0\0\0")
    with pytest.raises(DataError, match="magic"):
        read_idx(path)


def test_label_count_mismatch(tiny_mnist):
    directory, _ = tiny_mnist
    _write_idx(directory / MNIST_FILES["train"][1], np.zeros(5))
    with pytest.raises(DataError, match="6 images but 5 labels"):
        load_dataset(DataConfig(name="mnist", dir=str(directory), download=False))


def test_digits_is_embedded_and_in_unit_interval():
    data = load_dataset(DataConfig())
    assert data.x.shape == (1797, 64) and set(np.unique(data.y)) == set(range(10))
    assert 0.0 <= data.x.min() and data.x.max() == 1.0
    assert load_dataset(DataConfig(split="train")).x.shape == (1500, 64)


def test_likelihood_checks():
    data = Dataset(x=np.array([[0.0, 2.0]], np.float32), y=None, name="t")
    bernoulli, gaussian = (load_config(overrides={"model.likelihood": name, "train.batch_size": 1,
                                                  "model.n_clusters": 1})
                           for name in ("bernoulli", "gaussian"))
    with pytest.raises(DataError, match="bernoulli likelihood needs"):
        check_data(bernoulli, data)
    check_data(gaussian, data)
    with pytest.raises(DataError, match="NaN"):
        check_data(gaussian, Dataset(x=np.array([[np.nan]], np.float32), y=None, name="t"))


def test_pipeline_shuffles_reproducibly_and_covers_every_sample():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    first = np.stack([b.numpy() for b in training_dataset(x, 5, seed=3, epochs=2)])
    again = np.stack([b.numpy() for b in training_dataset(x, 5, seed=3, epochs=2)])
    np.testing.assert_array_equal(first, again)
    assert first.shape == (8, 5, 2)                                  # two epochs of four batches
    for epoch in (first[:4], first[4:]):                             # each epoch: every sample once
        np.testing.assert_array_equal(np.sort(epoch.reshape(-1, 2)[:, 0]), x[:, 0])
    assert not np.array_equal(first[:4], first[4:])                  # a new order each epoch


def test_masking_noise_rate_and_targets():
    x = np.ones((400, 50), np.float32)
    pairs = list(training_dataset(x, 100, seed=0, epochs=1, targets=True, noise_rate=0.25))
    noisy = np.concatenate([a.numpy() for a, _ in pairs])
    clean = np.concatenate([b.numpy() for _, b in pairs])
    np.testing.assert_array_equal(clean, 1.0)
    assert abs(np.mean(noisy == 0) - 0.25) < 0.02
    np.testing.assert_allclose(noisy[noisy != 0], 1 / 0.75, rtol=1e-6)  # rescaled like dropout


def test_workers_split_each_global_batch_of_a_single_device():
    from vade_tf.data.pipeline import epoch_batches

    x = np.arange(50, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    single = [b.numpy() for b in epoch_batches(x, 8, seed=5, first_epoch=0, last_epoch=2)]
    halves = [[b.numpy() for b in epoch_batches(x, 8, 5, 0, 2, shard=(i, 2))] for i in range(2)]
    assert len(single) == len(halves[0]) == len(halves[1]) == 2 * 6
    for whole, first, second in zip(single, *halves):
        assert first.shape == second.shape == (4, 3)
        np.testing.assert_array_equal(np.concatenate([first, second]), whole)
    resumed = [b.numpy() for b in epoch_batches(x, 8, 5, 0, 2, skip=3, shard=(1, 2))]
    np.testing.assert_array_equal(np.stack(resumed), np.stack(halves[1][3:]))


def test_sparse_features_give_the_dense_arrays_batches_and_checks():
    """A CSR matrix is densified one batch at a time, yet every batch (in order, shuffled by epoch,
    with partition log-gammas) equals the dense array's, and the value checks see its NaN."""
    import scipy.sparse

    from vade_tf.data.pipeline import batches, epoch_batches
    from vade_tf.data.sparse import SparseRows
    from vade_tf.validation import check_values

    rng = np.random.default_rng(0)
    dense = (rng.random((37, 11)) < 0.3) * rng.random((37, 11)).astype(np.float32)
    sparse = SparseRows(scipy.sparse.csr_matrix(dense))
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in batches(sparse, 8)]), dense)
    gammas = rng.random((37, 3)).astype(np.float32)
    for (x_dense, g_dense), (x_sparse, g_sparse) in zip(epoch_batches(dense, 8, 3, 0, 2, log_gamma=gammas),
                                                        epoch_batches(sparse, 8, 3, 0, 2, log_gamma=gammas)):
        np.testing.assert_array_equal(x_dense.numpy(), x_sparse.numpy())
        np.testing.assert_array_equal(g_dense.numpy(), g_sparse.numpy())
    assert (sparse.min(), sparse.max()) == (dense.min(), dense.max())
    np.testing.assert_array_equal(sparse[dense[:, 0] > 0].toarray(), dense[dense[:, 0] > 0])
    check_values(sparse, "counts", "bernoulli")
    broken = scipy.sparse.csr_matrix(dense)
    broken.data[0] = np.nan
    with pytest.raises(DataError, match="counts: features contain NaN or Inf"):
        check_values(SparseRows(broken), "counts", "bernoulli")
