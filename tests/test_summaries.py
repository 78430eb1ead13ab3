"""TensorBoard output of a tiny run, read back with TensorBoard's own event reader."""
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vade_tf.callbacks import PNG_FILES, PROJECTOR_DIR
from vade_tf.config import load_config
from vade_tf.data import Dataset
from vade_tf.training import train_and_evaluate

EPOCHS = 3
TINY = {"model.hidden_dims": [32, 16], "model.latent_dim": 3, "pretrain.method": "plain",
        "pretrain.epochs": 2, "pretrain.gmm_n_init": 1, "train.epochs": EPOCHS,
        "train.steps_per_execution": 4,
        "logging.image_every": 1, "logging.embedding_every": 2, "logging.embedding_samples": 150,
        "logging.tsne_samples": 60, "logging.samples_per_cluster": 4}


def _events(directory):
    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    train_and_evaluate(load_config(overrides=TINY), run_dir, verbose=0)
    return run_dir


def test_epoch_scalars_have_one_value_per_epoch(digits_run):
    keras_events = _events(digits_run / "logs" / "restart_0" / "train")
    for term in ("elbo", "reconstruction", "kl_z", "kl_c", "acc", "nmi", "ari", "learning_rate"):
        assert len(keras_events.Tensors(f"epoch_{term}")) == EPOCHS, term
    ours = _events(digits_run / "logs" / "restart_0")
    for tag in ("steps_per_second", "learning_rate/network", "mixture/min_pi", "mixture/pi", "mixture/means",
                "mixture/variances"):
        assert [e.step for e in ours.Tensors(tag)] == list(range(1, EPOCHS + 1)), tag


def test_pretraining_logs_its_loss_and_the_gmm_baseline(digits_run):
    pretrain = digits_run / "logs" / "restart_0" / "pretrain"
    assert len(_events(pretrain / "end-to-end" / "train").Tensors("epoch_loss")) == 2
    partition = _events(pretrain).Tensors("partition/acc")
    assert len(partition) == 1 and 0 < tf.make_ndarray(partition[0].tensor_proto) <= 1


def _decoded_images(events, tag):
    """Each logged image of ``tag`` as a decoded array (a TF2 image summary is [width, height, png])."""
    return [tf.io.decode_png(tf.make_ndarray(e.tensor_proto)[2]).numpy() for e in events.Tensors(tag)]


def test_images_decode_to_one_row_per_cluster(digits_run):
    events = _events(digits_run / "logs" / "restart_0")
    samples = _decoded_images(events, "samples")
    # One picture an epoch, the last epoch's drawn once, by the end of the run.
    assert [e.step for e in events.Tensors("samples")] == list(range(1, EPOCHS + 1))
    k, per_cluster, side = 10, 4, 8
    assert samples[-1].shape == (k * (side + 1) + 1, per_cluster * (side + 1) + 1, 3)
    assert _decoded_images(events, "reconstructions")[-1].shape == (2 * (side + 1) + 1, 4 * (side + 1) + 1, 3)
    confusion = _decoded_images(events, "confusion")[-1]
    assert confusion.shape[0] == confusion.shape[1] == 10 * 24           # K clusters x 10 labels
    assert len(_decoded_images(events, "tsne")) == 1


def test_projector_has_metadata_for_every_embedding(digits_run):
    folder = digits_run / "logs" / "restart_0" / PROJECTOR_DIR
    config = (folder / "projector_config.pbtxt").read_text()
    assert "embedding/.ATTRIBUTES/VARIABLE_VALUE" in config and "metadata.tsv" in config
    rows = (folder / "metadata.tsv").read_text().splitlines()
    checkpoint = tf.train.latest_checkpoint(str(folder))
    embedding = tf.train.load_variable(checkpoint, "embedding/.ATTRIBUTES/VARIABLE_VALUE")
    assert rows[0] == "class\tcluster" and len(rows) - 1 == len(embedding) == 150


def test_hparams_record_the_config_and_final_metrics(digits_run):
    events = _events(digits_run / "logs" / "restart_0")
    assert "_hparams_/session_start_info" in events.Tags()["tensors"]
    assert len(events.Tensors("final/acc")) == 1


def test_pictures_are_also_png_files(digits_run):
    for name in PNG_FILES.values():
        picture = tf.io.decode_png(tf.io.read_file(str(digits_run / name))).numpy()
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
