"""Typed, validated configuration.

A config is data: JSON with the sections ``data``, ``model``, ``pretrain``, ``train``, ``logging`` and
a top-level ``seed``. Every key has a default here, so a config file only states what differs. Loading rejects
unknown keys (with a suggestion), wrong types and out-of-range values with a one-line
:class:`ConfigError`, before any work is done.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


class ConfigError(ValueError):
    """A config problem the user can fix; its message is one line naming the key and the fix."""


@dataclass(frozen=True)
class DataConfig:
    # Which loader reads the data: "digits" (embedded in scikit-learn, no download), "mnist",
    # "fashion_mnist" (data.dir, else Debian's dataset-fashion-mnist package, else a download), "hhar",
    # "reuters10k", "reuters" (full RCV1, streamed from disk), "stl10", or "custom" (your own
    # .npy / .npz / .csv file at data.path).
    name: str = "digits"
    # Directory holding the dataset's native files (MNIST: the four IDX .gz files or mnist.npz).
    dir: Optional[str] = None
    # custom: the file to read, and the CSV column holding labels (none: unlabelled).
    path: Optional[str] = None
    label_column: Optional[str] = None
    # stl10: ResNet-50 weights, "imagenet" (Keras downloads them), a local .h5 file, or null (random,
    # for tests only). Where stl10's extracted features and reuters's prepared shards are written
    # (default: next to the data).
    feature_weights: Optional[str] = "imagenet"
    cache_dir: Optional[str] = None
    # "all" trains and evaluates on every sample (the authors' protocol); "train" / "test" pick a split.
    split: str = "all"
    # Another split to score the trained model on as well (metrics.json's "evaluation"): "test" with
    # split "train" is the held-out protocol. None: only the samples it trained on.
    evaluate_split: Optional[str] = None
    # Download missing files when the dataset has a public origin (MNIST) and the network allows it.
    download: bool = True


@dataclass(frozen=True)
class ModelConfig:
    # K, the number of mixture components (the paper uses the number of classes).
    n_clusters: int = 10
    # J, the latent dimension (10 in the paper).
    latent_dim: int = 10
    # Encoder widths D-h1-h2-h3-J; the decoder mirrors them (the paper and DEC use 500-500-2000).
    hidden_dims: tuple[int, ...] = (500, 500, 2000)
    # p(x|z): "bernoulli" for data in [0, 1] (MNIST), "gaussian" for real-valued features.
    likelihood: str = "bernoulli"
    # Each component's covariance: "diag" (the paper's diag sigma_c^2) or "full" (the default: L_c L_c^T,
    # a Cholesky factor per cluster): pretrained latent clusters are elongated and tilted, which a diagonal
    # Gaussian cannot follow, so its posterior disagrees with the partition it was made from.
    covariance: str = "full"
    # L, Monte-Carlo samples of z per data point in the ELBO (1 in the paper).
    mc_samples: int = 1
    # "mlp": fully connected networks of hidden_dims (the paper's); "conv": stride-2 convolutions
    # down and stride-2 transposed convolutions up (the student reproduction's variant), for data
    # whose rows are images (MNIST, digits, or a custom dataset given model.image_shape).
    architecture: str = "mlp"
    # Channels of the conv encoder's layers (each halves height and width); the decoder mirrors them.
    conv_filters: tuple[int, ...] = (32, 64, 128)
    # Widths of ReLU dense layers between the flattened last feature map and the latent (the decoder
    # mirrors them); empty: the feature map feeds the latent heads directly.
    conv_dense: tuple[int, ...] = ()
    # (height, width, channels) of each row for "conv"; empty: the dataset's own image shape.
    image_shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class PretrainConfig:
    # "stacked_denoising" (DEC: greedy layer-wise denoising AEs, then end-to-end fine-tuning),
    # "denoising" (end-to-end with masking noise), "plain" (end-to-end, no noise) or "none".
    method: str = "stacked_denoising"
    # Epochs of end-to-end autoencoder training (the fine-tuning stage for "stacked_denoising").
    epochs: int = 100
    # Epochs per greedy layer for "stacked_denoising".
    layer_epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    # Masking-noise rate on each layer's input during denoising pretraining (DEC uses 0.2).
    noise_rate: float = 0.2
    # Restarts of the clustering on the latent (GaussianMixture, or k-means for "spectral"); best wins.
    gmm_n_init: int = 10
    # Covariance of that GaussianMixture. "full" fits full covariances and initialises the diagonal
    # prior from their diagonals: pretrained latent clusters are not axis-aligned, and on MNIST a
    # diagonal GMM's best likelihood merges 4s and 9s where the full one separates them.
    gmm_covariance: str = "diag"
    # How the latent is partitioned before the prior is set: "gmm" (the paper: a GaussianMixture),
    # "spectral" (the default): spectral clustering on the k-nearest-neighbour graph of the latent
    # means, or "umap" (UMAP + GMM, see umap_neighbors); for the last two the prior takes each
    # cluster's weight, mean and covariance. Pretrained clusters are curved; the graph follows
    # them where a Gaussian cannot, so the partition no longer hangs on the seeds.
    mixture_init: str = "spectral"
    # Neighbours per point in that graph. 40 for the 1,797 digits: over six seeds 40 and 80 gave a
    # higher final ELBO than 10 and 20, and the seeds' final partitions agreed more at 40
    # (README). configs/fashion_mnist.json sets 40 too (by the final ELBO); the other shipped configs
    # keep the 10 they were measured with.
    spectral_neighbors: int = 40
    # "umap" (N2D): UMAP of the latent means (this many neighbours) into K dimensions, then a GMM.
    umap_neighbors: int = 20
    # Reuse the pretraining of another run directory (its fingerprint must match this config).
    from_dir: Optional[str] = None


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 100
    learning_rate: float = 0.002
    # Staircase decay: lr * lr_decay ** (epoch // lr_decay_epochs), never below lr_floor.
    lr_decay: float = 0.9
    lr_decay_epochs: int = 10
    lr_floor: float = 0.0
    # The authors' Adam epsilon; the Keras default of 1e-7 makes early VaDE steps jumpy.
    adam_epsilon: float = 1e-4
    # A separate Adam for pi, mu_c and Sigma_c (the authors' code), at a tenth of the network's rate;
    # None shares the network's (the paper). Its schedule is the network's scaled by
    # mixture_learning_rate / learning_rate (floor included). A slower mixture lets the encoder fit
    # the latent to the initial clusters instead of the clusters drifting (measured on MNIST, README).
    mixture_learning_rate: Optional[float] = 0.0002
    # The paper's protocol: this many independent initialisations, keep the best final ELBO.
    restarts: int = 1
    # When > 0 (and restarts > 1): train every restart this many epochs, then only the one with the
    # best ELBO on to train.epochs. On MNIST the ELBO after 10 epochs ranked three seeds as their
    # final ACC did (results/mnist-fullgmm-seed*.json), at a tenth of the cost of full restarts.
    restart_selection_epochs: int = 0
    # z draws behind the final ELBO (metrics.json, restart selection), spread evenly over the samples,
    # at least one each: its Monte-Carlo error shrinks with their total, not with the dataset's size.
    elbo_draws: int = 100_000
    # XLA-compile the training steps (pretraining's and VaDE's); several steps per host call keep
    # Python out of the loop.
    jit_compile: bool = True
    steps_per_execution: int = 50
    # Compute ACC/NMI/ARI after every epoch when labels exist (one encoder pass per epoch).
    eval_every_epoch: bool = True
    # A seeded fraction of the samples held out of training, for validation ELBO curves. The
    # paper's protocol trains and evaluates on all samples: 0 (clustering metrics always use all).
    validation_fraction: float = 0.0
    # Checkpoints are saved at every epoch's end and, when > 0, every this many steps (resume works
    # from any of them, mid-epoch included).
    checkpoint_every_steps: int = 0
    # TensorFlow op determinism: the same seed gives identical results on CPU (a little slower).
    deterministic: bool = False
    # "mixed_float16" / "mixed_bfloat16": the hidden layers compute in half precision (GPU tensor
    # cores); weights, the distribution heads, the mixture and the ELBO stay float32. float16 gets
    # dynamic loss scaling. Also applies to pretraining.
    mixed_precision: str = "none"
    # Epochs at the start of VaDE training whose gamma is the starting partition (pretrain's GMM or
    # spectral clusters) instead of the model's posterior, so the encoder first shapes the latent to
    # that partition; 0: the paper's training throughout. Needs in-memory data and one worker
    # (set 0 for streamed Reuters and multi_worker). 0 for the digits: from the 40-neighbour start the
    # final ELBO was higher without a warm-up on all six seeds (README); the other shipped configs
    # set the 10 epochs they were measured with.
    partition_warmup_epochs: int = 0
    # The weight of the KL terms in the loss during that warm-up (1: the ELBO itself). Above 1 the
    # encoder pulls each sample into its partition cluster's Gaussian faster than reconstruction
    # resists, so the model's own assignment agrees with the partition when the warm-up ends.
    warmup_kl_weight: float = 5.0
    # Hold pi, mu_c, sigma_c still during the warm-up: the encoder moves to the mixture, not the
    # mixture to the encoder.
    warmup_freezes_mixture: bool = True
    # q(z|x)'s variance when VaDE training starts, as a fraction of the mixture's mean component
    # variance; null: the log-variance head's own start (variance 1, whatever the latent's scale).
    initial_posterior_variance: Optional[float] = 0.1
    # tf.distribute: "default" (one device), "mirrored" (every local GPU, data-parallel, the
    # replicas' gradients summed into the global batch's mean) or "multi_worker" (the same across the
    # machines TF_CONFIG lists; each worker runs train.py with its own --run-dir). Distributed, XLA
    # is off and one step runs per execution: with Keras 3.15 both fail on mirrored variables.
    strategy: str = "default"


@dataclass(frozen=True)
class LoggingConfig:
    # Epochs between images (samples per cluster, reconstructions, confusion); 0: only at the end.
    image_every: int = 10
    # Epochs between Embedding Projector snapshots of the latent means; 0: only at the end.
    embedding_every: int = 50
    # Samples shown in the projector, and in the t-SNE figure (t-SNE costs O(n log n) seconds).
    embedding_samples: int = 2000
    tsne_samples: int = 2000
    # Generated images per cluster in the samples grid (one row per cluster, the paper's Fig. 4).
    samples_per_cluster: int = 10
    # Warn when a mixture weight pi_c falls below this: the start of the classic VaDE collapse.
    min_cluster_weight: float = 0.01


@dataclass(frozen=True)
class Config:
    seed: int = 0
    # What is trained (the rows of the paper's Table 2): "vade"; or a baseline that ends in a
    # GaussianMixture (pretrain.gmm_n_init restarts, pretrain.gmm_covariance): "gmm" on the inputs,
    # "ae_gmm" on the pretrained autoencoder's latent means, "vae_gmm" on the latent means of a VAE
    # (the same networks and pretraining, a single N(0, I) prior, train.* settings).
    method: str = "vade"
    # Free text for people: where the settings come from, where the authors' code differs.
    notes: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys), so equal configs give equal files and fingerprints."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


_CHOICES = {
    "method": ("vade", "gmm", "ae_gmm", "vae_gmm"),
    "model.architecture": ("mlp", "conv"),
    "model.covariance": ("diag", "full"),
    "data.name": ("digits", "mnist", "fashion_mnist", "hhar", "reuters10k", "reuters", "stl10", "custom"),
    "data.split": ("all", "train", "test"),
    "data.evaluate_split": (None, "all", "train", "test"),
    "model.likelihood": ("bernoulli", "gaussian"),
    "pretrain.method": ("stacked_denoising", "denoising", "plain", "none"),
    "pretrain.gmm_covariance": ("diag", "full"),
    "pretrain.mixture_init": ("gmm", "spectral", "umap"),
    "train.mixed_precision": ("none", "mixed_float16", "mixed_bfloat16"),
    "train.strategy": ("default", "mirrored", "multi_worker"),
}
# (minimum, strict): value must be > minimum when strict, else >= minimum.
_RANGES = {
    "seed": (0, False),
    "model.n_clusters": (1, False),
    "model.latent_dim": (1, False),
    "model.mc_samples": (1, False),
    "pretrain.epochs": (0, False),
    "pretrain.layer_epochs": (0, False),
    "pretrain.batch_size": (1, False),
    "pretrain.learning_rate": (0, True),
    "pretrain.gmm_n_init": (1, False),
    "pretrain.spectral_neighbors": (2, False),
    "pretrain.umap_neighbors": (2, False),
    "train.epochs": (0, False),
    "train.batch_size": (1, False),
    "train.learning_rate": (0, True),
    "train.lr_decay": (0, True),
    "train.lr_decay_epochs": (1, False),
    "train.lr_floor": (0, False),
    "train.adam_epsilon": (0, True),
    "train.mixture_learning_rate": (0, True),
    "train.restarts": (1, False),
    "train.steps_per_execution": (1, False),
    "train.checkpoint_every_steps": (0, False),
    "train.restart_selection_epochs": (0, False),
    "train.elbo_draws": (1, False),
    "train.partition_warmup_epochs": (0, False),
    "train.warmup_kl_weight": (0, True),
    "train.initial_posterior_variance": (0, True),
    "logging.image_every": (0, False),
    "logging.embedding_every": (0, False),
    "logging.embedding_samples": (1, False),
    "logging.tsne_samples": (0, False),
    "logging.samples_per_cluster": (1, False),
    "logging.min_cluster_weight": (0, False),
}


def _coerce(path: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a dataclass field type; return it in the field's own type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        return _coerce(path, value, next(a for a in args if a is not type(None)))
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list of integers, got {value!r}")
        return tuple(_coerce(f"{path}[{i}]", v, args[0]) for i, v in enumerate(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config field type {annotation!r} at {path}")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a JSON object, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in raw if k not in names]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; allowed keys: {', '.join(names)}"
        raise ConfigError(f"unknown config key '{prefix}{key}'{hint}")
    values = {}
    for name in names:
        if name not in raw:
            continue
        path = prefix + name
        if dataclasses.is_dataclass(hints[name]):
            values[name] = _build(hints[name], raw[name], path + ".")
        else:
            values[name] = _coerce(path, raw[name], hints[name])
    return cls(**values)


def _check_values(config: Config) -> None:
    flat = {}
    for section in ("data", "model", "pretrain", "train", "logging"):
        for k, v in dataclasses.asdict(getattr(config, section)).items():
            flat[f"{section}.{k}"] = v
    flat["seed"], flat["method"] = config.seed, config.method
    for path, allowed in _CHOICES.items():
        if flat[path] not in allowed:
            names = ", ".join("null" if a is None else a for a in allowed)
            raise ConfigError(f"{path}: unknown value {flat[path]!r}; allowed: {names}")
    for path, (minimum, strict) in _RANGES.items():
        value = flat[path]
        if value is None:
            continue
        if value < minimum or (strict and value == minimum):
            bound = f"> {minimum}" if strict else f">= {minimum}"
            raise ConfigError(f"{path}: got {value!r}, must be {bound}")
    if not config.model.hidden_dims or min(config.model.hidden_dims) < 1:
        raise ConfigError(f"model.hidden_dims: got {list(config.model.hidden_dims)!r}, "
                          "must be a non-empty list of positive widths")
    if config.model.architecture == "conv":
        if not config.model.conv_filters or min(config.model.conv_filters) < 1:
            raise ConfigError(f"model.conv_filters: got {list(config.model.conv_filters)!r}, "
                              "must be a non-empty list of positive channel counts")
        if config.model.conv_dense and min(config.model.conv_dense) < 1:
            raise ConfigError(f"model.conv_dense: got {list(config.model.conv_dense)!r}, "
                              "must be a list of positive widths (empty for none)")
        shape = config.model.image_shape
        if shape and (len(shape) != 3 or min(shape) < 1):
            raise ConfigError(f"model.image_shape: got {list(config.model.image_shape)!r}, "
                              "must be [height, width, channels] or empty (the dataset's own)")
        if config.pretrain.method == "stacked_denoising":
            raise ConfigError("pretrain.method: stacked_denoising trains dense layers one by one, which a "
                              "conv architecture does not have; use plain or denoising")
    if not 0.0 <= config.pretrain.noise_rate < 1.0:
        raise ConfigError(f"pretrain.noise_rate: got {config.pretrain.noise_rate!r}, must be in [0, 1)")
    if not 0.0 <= config.train.validation_fraction < 1.0:
        raise ConfigError(f"train.validation_fraction: got {config.train.validation_fraction!r}, "
                          "must be in [0, 1)")
    if config.train.lr_decay > 1.0:
        raise ConfigError(f"train.lr_decay: got {config.train.lr_decay!r}, must be in (0, 1]")


def config_from_dict(raw: dict) -> Config:
    config = _build(Config, raw, "")
    _check_values(config)
    return config


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``section.key=value``; the value is JSON when it parses as JSON, else a plain string."""
    if "=" not in text or not text.split("=", 1)[0].strip():
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. train.epochs=5")
    key, value = (part.strip() for part in text.split("=", 1))
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def apply_overrides(raw: dict, overrides: dict[str, Any]) -> dict:
    """Return a copy of ``raw`` with dotted keys set; validation happens afterwards, on the whole."""
    raw = json.loads(json.dumps(raw))
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {dotted}: '{part}' is not a section")
            node = child
        node[leaf] = value
    return raw


def load_config(path: Optional[str | Path] = None, overrides: Optional[dict[str, Any]] = None) -> Config:
    """Read a JSON config (or the defaults when ``path`` is None), apply overrides, validate."""
    raw: dict = {}
    if path is not None:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found; pass an existing --config path") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"config file {path} is not valid JSON: {e.msg} "
                              f"at line {e.lineno} column {e.colno}") from None
    return config_from_dict(apply_overrides(raw, overrides or {}))
