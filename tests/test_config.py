import json
from pathlib import Path

import pytest

from vade_tf.config import Config, config_from_dict, load_config
from vade_tf.dotted import parse_override
from vade_tf.errors import ConfigError

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.json"))


def test_defaults_are_valid_and_round_trip_through_json():
    config = load_config()
    assert config == Config()
    assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config


# The paper's setting per dataset: K, p(x|z), and Adam's initial rate and decay (Section 4.1); MNIST's
# rate is a tenth of the paper's, the measured departure its notes give.
PAPER = {"digits": (10, "bernoulli", 0.002, 0.9), "mnist": (10, "bernoulli", 0.0002, 0.9),
         "hhar": (6, "gaussian", 0.002, 0.9), "reuters10k": (4, "gaussian", 0.002, 0.9),
         "reuters": (4, "gaussian", 0.0005, 0.5), "stl10": (10, "gaussian", 0.002, 0.9)}


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name != "custom.json"], ids=lambda p: p.name)
def test_shipped_configs_load_with_the_papers_settings(path):
    config = load_config(path)
    assert config.train.batch_size == 100 and config.model.latent_dim == 10
    if config.model.architecture == "mlp":
        assert config.model.networks.hidden_dims == (500, 500, 2000)
    if path.stem in PAPER:
        assert config.data.name == path.stem
        k, likelihood, learning_rate, decay = PAPER[path.stem]
        assert (config.model.n_clusters, config.model.likelihood) == (k, likelihood)
        assert (config.train.learning_rate, config.train.lr_decay) == (learning_rate, decay)


def test_the_custom_template_is_the_default_recipe_that_train_py_and_the_estimator_use():
    import dataclasses

    from vade_tf.parameters import DEFAULTS

    custom = load_config(Path(__file__).parent.parent / "configs" / "custom.json")
    assert dataclasses.replace(custom, data=Config().data, notes="") == Config() == DEFAULTS


def test_mnist_config_carries_the_papers_hyperparameters():
    config = load_config(Path(__file__).parent.parent / "configs" / "mnist.json")
    assert (config.data.name, config.model.n_clusters, config.model.latent_dim) == ("mnist", 10, 10)
    assert config.model.networks.hidden_dims == (500, 500, 2000)
    assert (config.train.lr_decay, config.train.lr_decay_epochs) == (0.9, 10)


def test_the_conv_mnist_config_is_the_mnist_recipe_with_conv_networks():
    """configs/mnist_conv.json changes the networks and nothing else, so its figures compare with
    configs/mnist.json's."""
    root = Path(__file__).parent.parent / "configs"
    conv, mlp = (load_config(root / name).to_dict() for name in ("mnist_conv.json", "mnist.json"))
    assert conv["model"]["architecture"] == "conv" and conv["model"]["networks"]["dense"] == [256]

    def recipe(fields):
        return {**fields, "notes": None, "model": {k: v for k, v in fields["model"].items()
                                                   if k not in ("architecture", "networks")}}
    assert recipe(conv) == recipe(mlp)


@pytest.mark.parametrize("raw,fragment", [
    ({"trian": {}}, "did you mean 'train'"),
    ({"train": {"epoch": 3}}, "did you mean 'epochs'"),
    ({"train": {"epochs": "ten"}}, "train.epochs: expected an integer"),
    ({"train": {"validation_fraction": 1.0}}, "train.validation_fraction: got 1.0, must be in [0, 1)"),
    ({"logging": {"image_every": -1}}, "logging.image_every: got -1, must be >= 0"),
    ({"data": {"name": "cifar"}}, "data.name: unknown value 'cifar'"),
    ({"train": {"epochs": 2.5}}, "train.epochs: expected an integer"),
    ({"train": {"jit_compile": 1}}, "expected true or false"),
    ({"model": {"n_clusters": 0}}, "model.n_clusters: got 0, must be >= 1"),
    ({"train": {"learning_rate": 0}}, "train.learning_rate: got 0.0, must be > 0"),
    ({"model": {"likelihood": "poisson"}}, "allowed: bernoulli, gaussian"),
    ({"pretrain": {"mixture_init": "agglomerative"}}, "allowed: gmm, spectral, umap, kmeans"),
    ({"pretrain": {"other_starts": ["kmeans", "dbscan"]}}, "pretrain.other_starts: unknown value 'dbscan'"),
    ({"train": {"mixed_precision": "float16"}}, "allowed: none, mixed_float16, mixed_bfloat16"),
    ({"pretrain": {"spectral_neighbors": 1}}, "pretrain.spectral_neighbors: got 1, must be >= 2"),
    ({"model": {"networks": {"hidden_dims": [500, 0]}}}, "model.networks.hidden_dims"),
    ({"model": {"networks": {"hidden_dims": 500}}}, "expected a list"),
    ({"model": {"networks": {"filters": [8]}}}, "unknown config key 'model.networks.filters'"),
    ({"model": {"architecture": "conv", "networks": {"hidden_dims": [8]}}},
     "unknown config key 'model.networks.hidden_dims'; allowed keys: filters, dense, image_shape"),
    ({"model": {"architecture": "resnet"}}, "model.architecture: unknown value 'resnet'"),
    ({"model": {"hidden_dims": [500]}}, "unknown config key 'model.hidden_dims'"),
    ({"pretrain": {"noise_rate": 1.0}}, "pretrain.noise_rate"),
    ({"data": []}, "data: expected a JSON object"),
])
def test_bad_values_name_the_key(raw, fragment):
    with pytest.raises(ConfigError, match=None) as error:
        config_from_dict(raw)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_malformed_json_reports_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "seed": 1,\n  "train": {"epochs": }\n}')
    with pytest.raises(ConfigError, match="line 3 column"):
        load_config(path)


def test_overrides_apply_and_are_validated():
    config = load_config(overrides=dict([parse_override("train.epochs=7"),
                                         parse_override("model.networks.hidden_dims=[8,4]")]))
    assert config.train.epochs == 7 and config.model.networks.hidden_dims == (8, 4)
    with pytest.raises(ConfigError, match="did you mean"):
        load_config(overrides=dict([parse_override("train.epohcs=7")]))
    with pytest.raises(ConfigError, match="expected section.key=value"):
        parse_override("train.epochs")
