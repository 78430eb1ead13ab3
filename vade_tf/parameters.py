"""The estimator's constructor parameters as config keys, and a config as parameters: what
``VaDEClustering.fit`` trains, and what ``VaDEClustering.load`` reads back from a run directory."""
from __future__ import annotations

from vade_tf.config import Config, config_from_dict
from vade_tf.dotted import apply_overrides, flat

DEFAULTS = Config()
# Each constructor parameter and the config key it sets; ``settings`` reaches every other key.
PARAMETER_KEYS = {
    "n_clusters": "model.n_clusters", "latent_dim": "model.latent_dim",
    "hidden_dims": "model.networks.hidden_dims",
    "likelihood": "model.likelihood", "covariance": "model.covariance", "pretrain": "pretrain.method",
    "pretrain_epochs": "pretrain.epochs", "epochs": "train.epochs", "batch_size": "train.batch_size",
    "learning_rate": "train.learning_rate",
}
# The parameter behind each of those keys, and behind the seed.
PARAMETER_OF = {**{key: name for name, key in PARAMETER_KEYS.items()}, "seed": "random_state"}


def config_of(params: dict, seed: int, n_samples: int) -> Config:
    """The run's config for an estimator's ``params`` (``get_params()``), its ``seed`` and X of
    ``n_samples`` rows: the defaults, ``settings``, then the parameters."""
    settings = dict(params["settings"] or {})
    for key in settings:
        if key in PARAMETER_OF:
            raise ValueError(f"settings[{key!r}]: set it with the {PARAMETER_OF[key]} parameter instead")
    overrides = {**settings, "data.name": "custom", "seed": seed}
    mlp = settings.get("model.architecture", DEFAULTS.model.architecture) == "mlp"
    for name, key in PARAMETER_KEYS.items():
        if name != "hidden_dims" or mlp:  # another architecture's networks take settings of their own
            overrides[key] = params[name]
    if isinstance(params["batch_size"], int) and params["batch_size"] > n_samples:
        overrides["train.batch_size"] = n_samples  # a small X is one batch
    if not params["pictures"]:  # the pictures and their t-SNE serve a person looking at a run
        for key, value in {"logging.image_every": 0, "logging.embedding_every": 0,
                           "logging.final_pictures": False}.items():
            overrides.setdefault(key, value)
    return config_from_dict(apply_overrides({}, overrides))


def params_of(config: Config) -> dict:
    """The parameters that give ``config``: its parameter keys, its seed, and every other key that
    differs from the defaults (``settings``), the data's own keys aside."""
    values, defaults = flat(config.to_dict()), flat(DEFAULTS.to_dict())
    params = {name: values[key] for name, key in PARAMETER_KEYS.items() if key in values}
    if "hidden_dims" in params:  # an MLP's
        params["hidden_dims"] = tuple(params["hidden_dims"])
    settings = {key: value for key, value in values.items()
                if (key not in defaults or value != defaults[key])
                and key not in PARAMETER_OF and not key.startswith("data.")}
    return {**params, "random_state": config.seed, "settings": settings or None}
