"""TensorBoard output of a tiny run, read back with TensorBoard's own event reader and served by a
real TensorBoard server."""
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from conftest import DIGITS_EPOCHS, FAST, PICTURES
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vade_tf import figures
from vade_tf.config import load_config
from vade_tf.data import Dataset
from vade_tf.runs import train_and_evaluate
from vade_tf.summaries import EMBEDDING_TENSOR, PNG_FILES

TINY = {**FAST, "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3, "pretrain.method": "plain",
        "pretrain.epochs": 2, "pretrain.gmm_n_init": 1, "train.epochs": 2,
        "train.steps_per_execution": 4, **PICTURES}


def _events(directory):
    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module")
def run_dir(digits_run):
    """The shared digits run (conftest): pictures every epoch, embeddings every second."""
    return digits_run[0]


def test_epoch_scalars_have_one_value_per_epoch(run_dir):
    keras_events = _events(run_dir / "logs" / "restart_0" / "train")
    for term in ("elbo", "reconstruction", "kl_z", "kl_c", "acc", "nmi", "ari", "learning_rate"):
        assert len(keras_events.Tensors(f"epoch_{term}")) == DIGITS_EPOCHS, term
    ours = _events(run_dir / "logs" / "restart_0")
    for tag in ("steps_per_second", "learning_rate/network", "mixture/min_pi", "mixture/pi", "mixture/means",
                "mixture/variances"):
        assert [e.step for e in ours.Tensors(tag)] == list(range(1, DIGITS_EPOCHS + 1)), tag


def test_pretraining_logs_its_loss_and_the_gmm_baseline(run_dir):
    pretrain = run_dir / "logs" / "restart_0" / "pretrain"
    assert len(_events(pretrain / "end-to-end" / "train").Tensors("epoch_loss")) == 2
    partition = _events(pretrain).Tensors("partition/acc")
    assert len(partition) == 1 and 0 < tf.make_ndarray(partition[0].tensor_proto) <= 1


def _decoded_images(events, tag):
    """Each logged image of ``tag`` as a decoded array (a TF2 image summary is [width, height, png])."""
    return [tf.io.decode_png(tf.make_ndarray(e.tensor_proto)[2]).numpy() for e in events.Tensors(tag)]


def test_images_decode_to_one_row_per_cluster(run_dir):
    events = _events(run_dir / "logs" / "restart_0")
    samples = _decoded_images(events, "samples")
    # One picture an epoch, the last epoch's drawn once, by the end of the run.
    assert [e.step for e in events.Tensors("samples")] == list(range(1, DIGITS_EPOCHS + 1))
    # Sized by what they hold (figures.CELL inches an image or a cell, at figures.DPI): K = 10 rows
    # of 4 samples, 2 rows of 4 reconstructions, 10 x 10 confusion cells, two t-SNE panels.
    assert samples[-1].shape == (500, 360, 3)
    assert _decoded_images(events, "reconstructions")[-1].shape == (140, 360, 3)
    assert _decoded_images(events, "confusion")[-1].shape == (630, 870, 3)
    (tsne,) = _decoded_images(events, "tsne")
    assert tsne.shape == (500, 1200, 3)


def test_the_confusion_counts_are_the_contingency_table_in_matched_order():
    """Rows are clusters in the order of the Hungarian match, so the diagonal is what ACC counts;
    every count is the contingency table's."""
    from vade_tf.metrics import cluster_accuracy, contingency

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    clusters = np.where(rng.random(300) < 0.8, (y + 1) % 4, rng.integers(0, 4, 300))  # shifted by one
    table, order, mapping = figures.confusion_counts(y, clusters)
    np.testing.assert_array_equal(table, contingency(y, clusters)[order])
    assert order == [1, 2, 3, 0] and mapping == {1: 0, 2: 1, 3: 2, 0: 3}  # class j sits in cluster j + 1
    assert np.trace(table) == round(cluster_accuracy(y, clusters) * 300)


def test_a_grid_reads_flat_rows_as_row_major_images_grey_or_colour():
    rng = np.random.default_rng(0)
    colour = rng.uniform(size=(2, 3, 4, 5, 3))                      # [rows, cols, H, W, RGB]
    grid = figures.image_grid(colour.reshape(2, 3, -1), (4, 5, 3), pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 6 + 1, 3)
    top, left = 1 + 1 * 5, 1 + 2 * 6                                # the image at row 1, column 2
    np.testing.assert_array_equal(grid[top:top + 4, left:left + 5], (colour[1, 2] * 255).round())
    assert np.all(grid[0] == 255)                                   # white padding
    grey = rng.uniform(size=(1, 2, 4 * 5))
    for shape in ((4, 5), (4, 5, 1)):
        picture = figures.image_grid(grey[:, :, :], shape)
        np.testing.assert_array_equal(picture[1:5, 1:6, 1], (grey[0, 0].reshape(4, 5) * 255).round())
        assert np.all(picture[..., 0] == picture[..., 2])


def test_a_conv_run_on_colour_images_draws_colour_pictures(tmp_path):
    """Rows that are 6x5 RGB images (a custom dataset with model.networks.image_shape): the sample and
    reconstruction grids are drawn in colour (the inputs' row shows their colours)."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    images = np.full((120, 6, 5, 3), 0.1)
    images[np.arange(120), :, :, y] = 0.9                            # class c: bright in channel c
    images = np.clip(images + rng.normal(scale=0.05, size=images.shape), 0, 1).astype(np.float32)
    data = Dataset(x=images.reshape(120, -1), y=y, name="colour")
    tiny = {k: v for k, v in TINY.items() if k != "model.networks.hidden_dims"}  # an MLP's
    config = load_config(overrides={**tiny, "model.architecture": "conv", "model.networks.filters": [4],
                                    "model.networks.image_shape": [6, 5, 3], "model.n_clusters": 3,
                                    "train.epochs": 1, "logging.embedding_every": 0})
    train_and_evaluate(config, tmp_path, verbose=0, data=data)
    events = _events(tmp_path / "logs" / "restart_0")
    assert _decoded_images(events, "samples")[-1].shape == (185, 360, 3)   # 3 clusters' rows
    inputs_and_rebuilt = _decoded_images(events, "reconstructions")[-1].astype(int)
    assert np.ptp(inputs_and_rebuilt, axis=-1).max() > 150       # the inputs drawn in colour, not grey


@pytest.fixture(scope="module")
def tensorboard(run_dir):
    """A real TensorBoard server on a free local port, on the run's ``logs/`` as README tells users to
    open it: ``get(path)`` -> the decoded answer of its HTTP API. Stopped after the module."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(run_dir / "logs"),
                               "--host", "127.0.0.1", "--port", str(port), "--load_fast", "false"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def get(path: str, parse=json.loads):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
            return parse(answer.read())
    try:
        deadline = time.monotonic() + 120
        while True:  # until it serves and has read the runs (and their projector configs)
            try:
                if get("/data/plugin/projector/runs"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "TensorBoard did not come up"
            time.sleep(1)
        yield get
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_tensorboard_shows_the_projector_with_metadata_and_sprite(tensorboard):
    assert tensorboard("/data/plugin/projector/runs") == ["restart_0/projector"]
    info = tensorboard("/data/plugin/projector/info?run=restart_0%2Fprojector")
    (embedding,) = info["embeddings"]
    assert embedding["tensorName"] == EMBEDDING_TENSOR and embedding["tensorShape"] == [150, 3]
    query = f"run=restart_0%2Fprojector&name={urllib.parse.quote(EMBEDDING_TENSOR)}"
    rows = tensorboard(f"/data/plugin/projector/metadata?{query}", parse=bytes.decode).splitlines()
    assert rows[0] == "class\tcluster" and len(rows) == 1 + 150
    assert {int(row.split("\t")[1]) for row in rows[1:]} <= set(range(10))
    sprite = tf.io.decode_png(tensorboard(f"/data/plugin/projector/sprite_image?{query}", bytes)).numpy()
    assert sprite.shape == (13 * 8, 13 * 8, 3)  # 150 digits of 8x8 pixels, 13 a side
    assert embedding["sprite"]["singleImageDim"] == [8, 8]


def test_tensorboard_lists_the_figures_and_one_scalar_per_epoch(tensorboard):
    tags = tensorboard("/data/plugin/images/tags")["restart_0"]
    assert {"samples", "reconstructions", "confusion", "tsne"} <= set(tags)
    elbo = tensorboard("/data/plugin/scalars/scalars?run=restart_0%2Ftrain&tag=epoch_elbo")
    assert [step for _, step, _ in elbo] == list(range(DIGITS_EPOCHS))
    assert all(np.isfinite(value) for _, _, value in elbo)


def test_hparams_record_the_config_and_final_metrics(run_dir):
    events = _events(run_dir / "logs" / "restart_0")
    assert "_hparams_/session_start_info" in events.Tags()["tensors"]
    assert len(events.Tensors("final/acc")) == 1


def test_pictures_are_also_png_files(run_dir):
    for name in PNG_FILES.values():
        picture = tf.io.decode_png(tf.io.read_file(str(run_dir / name))).numpy()
        assert picture.ndim == 3 and picture.shape[2] == 3 and picture.size > 0, name


def test_a_run_without_labels_or_images_skips_those_summaries(tmp_path):
    rng = np.random.default_rng(0)
    data = Dataset(x=rng.normal(size=(120, 6)).astype(np.float32), y=None, name="unlabelled")
    config = load_config(overrides={**TINY, "model.likelihood": "gaussian", "model.n_clusters": 3})
    train_and_evaluate(config, tmp_path, verbose=0, data=data)
    tags = _events(tmp_path / "logs" / "restart_0").Tags()["tensors"]
    assert "steps_per_second" in tags and "tsne" in tags
    assert not {"samples", "reconstructions", "confusion", "final/acc"} & set(tags)
    assert (tmp_path / PNG_FILES["tsne"]).exists() and not (tmp_path / PNG_FILES["confusion"]).exists()


def test_a_validation_fraction_adds_validation_curves(tmp_path):
    config = load_config(overrides={**TINY, "train.validation_fraction": 0.2, "train.epochs": 2,
                                    "logging.image_every": 0, "logging.embedding_every": 0})
    train_and_evaluate(config, tmp_path, verbose=0)
    validation = _events(tmp_path / "logs" / "restart_0" / "validation")
    for term in ("elbo", "reconstruction", "kl_z", "kl_c"):
        assert len(validation.Tensors(f"epoch_{term}")) == 2, term
