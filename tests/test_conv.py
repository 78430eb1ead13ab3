"""The convolutional VaDE: geometry, the flat layout shared with the MLP, training, config errors."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import FAST, make_vade

from vade_tf.architectures.conv import halved_sizes
from vade_tf.config import load_config
from vade_tf.data import Dataset, load_dataset
from vade_tf.errors import ConfigError
from vade_tf.evaluation import evaluate
from vade_tf.fit import fit_vade
from vade_tf.initialise import build_model, initialise
from vade_tf.recipe import resolve_auto
from vade_tf.validation import check_data


def test_each_layer_halves_the_image_rounding_up():
    assert halved_sizes(28, 28, 3) == [(28, 28), (14, 14), (7, 7), (4, 4)]
    assert halved_sizes(96, 5, 2) == [(96, 5), (48, 3), (24, 2)]


@pytest.mark.parametrize("dense", [[], [6, 5]])
@pytest.mark.parametrize("likelihood, per_pixel", [("bernoulli", 1), ("gaussian", 2)])
def test_odd_images_round_trip_to_flat_rows_of_the_right_width(likelihood, per_pixel, dense):
    shape = [7, 5, 3]  # odd, non-square, three channels: the decoder must crop after each upsampling
    width = 7 * 5 * 3
    model = make_vade(width, 3, latent_dim=4, architecture="conv", filters=[4, 8], image_shape=shape,
                      likelihood=likelihood, dense=dense)
    dense_layers = {part: [layer for layer in network.layers if isinstance(layer, keras.layers.Dense)]
                    for part, network in (("encoder", model.encoder.features), ("decoder",
                                                                                model.decoder.body))}
    assert [layer.units for layer in dense_layers["encoder"]] == dense
    assert [layer.units for layer in dense_layers["decoder"][:-1]] == dense[::-1]  # then the feature map's
    x = tf.constant(np.random.default_rng(0).uniform(size=(6, width)), tf.float32)
    assert model(x).shape == (6, 3)
    assert model.decoder(tf.zeros((2, 6, 4))).shape == (2, 6, width * per_pixel)  # [L, B, J] samples
    assert model.reconstruct(x).shape == (6, width)
    if likelihood == "gaussian":  # the first half of each row is the mean, as for the MLP decoder
        means = model.decoder(model.encoder(x)[0])[:, :width]
        np.testing.assert_allclose(model.reconstruct(x), means, rtol=1e-6)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(model.elbo_terms(x)["elbo"])
    gradients = tape.gradient(loss, model.network_variables)  # every layer, the dense ones included
    layers = 2 * 2 + 2 * len(dense) + 2 + 1  # convs and transposed convs, dense, heads, the feature map's
    assert len(gradients) == 2 * layers  # a kernel and a bias each
    assert all(g is not None and np.all(np.isfinite(g)) and np.any(g != 0) for g in gradients)


def test_the_encoder_reads_rows_as_row_major_images():
    """A pixel's neighbours in the image, not in the flat row, share a 4x4 window: moving one bright
    pixel by one image row changes only the windows around it, exactly as on the image itself."""
    model = make_vade(64, 2, architecture="conv", filters=[3], image_shape=[8, 8, 1])
    image = np.zeros((1, 8, 8, 1), np.float32)
    image[0, 3, 4, 0] = 1.0
    conv = next(layer for layer in model.encoder.features.layers if isinstance(layer, keras.layers.Conv2D))
    from_rows = model.encoder.features(tf.constant(image.reshape(1, 64)))
    from_image = tf.reshape(conv(tf.constant(image)), (1, -1))
    np.testing.assert_allclose(from_rows, from_image, rtol=1e-6)


def test_a_conv_vade_trains_on_the_digits_images(tmp_path):
    config = load_config(overrides={
        "model.architecture": "conv", "model.networks.filters": [8, 16], "model.latent_dim": 5,
        "pretrain.method": "plain", "pretrain.epochs": 20, "pretrain.batch_size": 32,
        "pretrain.gmm_n_init": 2, "train.epochs": 2, "train.steps_per_execution": 4, **FAST})
    data = load_dataset(config.data)
    config = resolve_auto(config, data)
    model = build_model(config, data.input_dim, 0)
    assert model.network_options["image_shape"] == (8, 8, 1)  # the digits' own, filled in
    init, _ = initialise(model, data, config, 0, tmp_path / "pretrain", verbose=0)
    history = fit_vade(model, data, config, 0, tmp_path / "logs", tmp_path / "checkpoints", verbose=0)
    final = evaluate(model, data, config.train.elbo_draws, config.train.jit_compile)
    assert np.isfinite(final["elbo"]) and history[-1]["elbo"] > history[0]["elbo"]
    assert init["partition"]["acc"] > 0.5 and final["acc"] > 0.5  # ten digit classes, chance is about 0.1


def test_conv_settings_that_cannot_work_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="stacked_denoising"):
        load_config(overrides={"model.architecture": "conv", "pretrain.method": "stacked_denoising"})
    with pytest.raises(ConfigError, match="model.networks.image_shape"):
        load_config(overrides={"model.architecture": "conv", "pretrain.method": "plain",
                               "model.networks.image_shape": [8, 8]})
    with pytest.raises(ConfigError, match="model.networks.dense"):
        load_config(overrides={"model.architecture": "conv", "pretrain.method": "plain",
                               "model.networks.dense": [16, 0]})
    conv = {"model.architecture": "conv", "pretrain.method": "plain", "train.batch_size": 2}
    features = Dataset(x=np.zeros((4, 10), np.float32), y=None, name="features")
    with pytest.raises(ConfigError, match="not images"):
        check_data(resolve_auto(load_config(overrides=conv), features), features)
    with pytest.raises(ConfigError, match="holds 12 values"):
        check_data(resolve_auto(load_config(overrides={**conv, "model.networks.image_shape": [2, 2,
                                                                                              3]}), features),
                   features)


def test_a_conv_vade_separates_synthetic_image_clusters(tmp_path):
    """Four kinds of 10x9 image, each a bright patch in its own corner under noise: a conv VaDE with
    dense layers finds them (chance is 0.25)."""
    from vade_tf.runs import train_and_evaluate

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 60)
    images = rng.uniform(0.0, 0.2, size=(240, 10, 9))
    for kind, (top, left) in enumerate([(0, 0), (0, 5), (6, 0), (6, 5)]):
        images[y == kind, top:top + 4, left:left + 4] += 0.7
    data = Dataset(x=images.reshape(240, -1).astype(np.float32), y=y, name="patches",
                   image_shape=(10, 9))
    config = load_config(overrides={
        "model.architecture": "conv", "model.networks.filters": [8, 16], "model.networks.dense": [16],
        "model.latent_dim": 3, "model.n_clusters": 4, "pretrain.method": "plain", "pretrain.epochs": 20,
        "pretrain.batch_size": 32, "pretrain.gmm_n_init": 2, "train.epochs": 5,
        "train.steps_per_execution": 4, **FAST})
    metrics = train_and_evaluate(config, tmp_path, verbose=0, data=data)
    start = metrics["restarts"][0]["init"]["partition"]["acc"]
    assert metrics["acc"] > 0.9 and metrics["acc"] >= start, (start, metrics["acc"])
