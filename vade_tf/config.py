"""Typed, validated configuration: JSON with the sections ``data``, ``model``, ``pretrain``, ``train``,
``logging`` and top-level keys. Every key has a default here, its allowed values (``setting``) and a
comment above it (the documentation's configuration reference is written from them), so a config file
only states what differs. Loading rejects unknown keys (with a suggestion), wrong types and
out-of-range values with a one-line :class:`ConfigError` (``validation``), before any work is done."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from vade_tf import registry, validation
from vade_tf.dotted import apply_overrides
from vade_tf.errors import ConfigError
from vade_tf.validation import AUTO, fill_sections, section, setting

# How a Gaussian model scales its features (model.standardize).
SCALINGS = ("features", "global", "none")


@dataclass(frozen=True)
class DataConfig:
    # Which loader reads the data: "digits" (embedded in scikit-learn, no download), "mnist",
    # "fashion_mnist" (data.dir, else Debian's dataset-fashion-mnist package, else a download), "hhar",
    # "reuters10k", "reuters" (full RCV1, streamed from disk), "stl10", or "custom" (your own
    # .npy / .npz / .csv file at data.options.path).
    name: str = setting("digits", choices=registry.DATASETS)
    # The dataset's own settings, validated by its entry's Options (registry.DATASETS): custom's path
    # and label_column (vade_tf/data/custom.py), stl10's feature_weights (vade_tf/data/stl10.py).
    options: Any = section(lambda data: registry.options_schema(registry.DATASETS, data["name"]))
    # Directory holding the dataset's native files (MNIST: the four IDX .gz files or mnist.npz).
    dir: Optional[str] = None
    # Where stl10's extracted features and reuters's prepared shards are written (default: next to
    # the data).
    cache_dir: Optional[str] = None
    # "all" trains and evaluates on every sample (the authors' protocol); "train" / "test" pick a split.
    split: str = setting("all", choices=("all", "train", "test"))
    # Another split to score the trained model on as well (metrics.json's "evaluation"): "test" with
    # split "train" is the held-out protocol. None: only the samples it trained on.
    evaluate_split: Optional[str] = setting(None, choices=(None, "all", "train", "test"))
    # Download missing files when the dataset has a public origin (MNIST) and the network allows it.
    download: bool = True

    def __post_init__(self):
        fill_sections(self)


@dataclass(frozen=True)
class ModelConfig:
    # K, the number of mixture components (the paper uses the number of classes). "auto": chosen
    # without labels, from min_clusters to max_clusters, by the eigengap of the pretrained latent's
    # neighbour graph (vade_tf/cluster_count.py); the run's config.json holds the K chosen.
    n_clusters: int = setting(10, minimum=1, auto=True)
    # The smallest and the largest K that "auto" considers (unused for a number).
    min_clusters: int = setting(2, minimum=2)
    max_clusters: int = setting(30, minimum=2)
    # J, the latent dimension (10 in the paper); "auto": 10, or D for D < 10 features (a latent wider
    # than the data holds the samples on a flat sheet, where full covariances are singular).
    latent_dim: int = setting(AUTO, minimum=1, auto=True)
    # p(x|z): "bernoulli" for data in [0, 1] (MNIST), "gaussian" for real-valued features; "auto":
    # bernoulli for intensities in [0, 1] with many values at 0 or 1 (recipe.likelihood_for), else gaussian.
    likelihood: str = setting(AUTO, choices=registry.LIKELIHOODS, auto=True)
    # Gaussian likelihood: how the model scales the features before the networks see them, with the
    # training data's moments kept in the weights (and the SavedModel), so raw rows of any scale go in
    # and the ELBO stays the raw rows' density. "features": each feature (x - mean) / its deviation;
    # "global": each feature centred, all divided by one pooled deviation, so the features keep their
    # relative spreads as k-means sees them; "none": the features as given. "auto": "features" when
    # the features' deviations differ by over scaling.UNIT_SPREAD (different units: the widest would
    # be all a raw-scale model sees), else "global"; "none" for features streamed from disk.
    standardize: str = setting(AUTO, choices=SCALINGS, auto=True)
    # Each component's covariance: "diag" (the paper's diag sigma_c^2) or "full" (the default: L_c L_c^T,
    # a Cholesky factor per cluster): pretrained latent clusters are elongated and tilted, which a diagonal
    # Gaussian cannot follow, so its posterior disagrees with the partition it was made from.
    covariance: str = setting("full", choices=("diag", "full"))
    # L, Monte-Carlo samples of z per data point in the ELBO (1 in the paper).
    mc_samples: int = setting(1, minimum=1)
    # "mlp": fully connected networks (the paper's); "conv": stride-2 convolutions down and stride-2
    # transposed convolutions up (the student reproduction's variant), for data whose rows are images
    # (MNIST, digits, or a custom dataset given model.networks.image_shape). One module each in
    # vade_tf/architectures, named in registry.ARCHITECTURES.
    architecture: str = setting("mlp", choices=registry.ARCHITECTURES)
    # The architecture's own settings, validated by its Options (vade_tf/architectures/<name>.py):
    # mlp's hidden_dims; conv's filters, dense and image_shape. Unstated keys take its defaults.
    networks: Any = section(lambda model: registry.options_schema(registry.ARCHITECTURES,
                                                                  model["architecture"]))

    def __post_init__(self):
        fill_sections(self)


@dataclass(frozen=True)
class PretrainConfig:
    # "stacked_denoising" (DEC: greedy layer-wise denoising AEs, then end-to-end fine-tuning),
    # "denoising" (end-to-end with masking noise), "plain" (end-to-end, no noise) or "none".
    method: str = setting("plain", choices=registry.PRETRAININGS)
    # Epochs of end-to-end autoencoder training (the fine-tuning stage for "stacked_denoising");
    # "auto": about 1,000 steps, within [20, 300] epochs.
    epochs: int = setting(AUTO, minimum=0, auto=True)
    # Epochs per greedy layer for "stacked_denoising".
    layer_epochs: int = setting(20, minimum=0)
    # "auto": N / 8 within [32, 256]: a small dataset still gets several steps an epoch.
    batch_size: int = setting(AUTO, minimum=1, auto=True)
    learning_rate: float = setting(1e-3, above=0)
    # Masking-noise rate on each layer's input during denoising pretraining (DEC uses 0.2).
    noise_rate: float = setting(0.2, minimum=0, below=1)
    # Restarts of the clustering on the latent (GaussianMixture, or k-means for "spectral"); best wins.
    gmm_n_init: int = setting(10, minimum=1)
    # Covariance of that GaussianMixture. "full" follows pretrained latent clusters, which are not
    # axis-aligned; a diagonal prior then keeps their diagonals. "auto": the prior's own
    # (model.covariance), so a GMM start is a mixture the prior can hold.
    gmm_covariance: str = setting(AUTO, choices=("diag", "full"), auto=True)
    # How the starting partition is made before the prior is set: "gmm" (the paper: a GaussianMixture
    # of the latent means), "spectral": spectral clustering on the k-nearest-neighbour graph of the
    # latent means, "umap" (UMAP + GMM, see umap_neighbors), or "kmeans" (k-means of the features as
    # given); for all but "gmm" the prior takes each cluster's weight, mean and covariance in the
    # latent. The latent clusters of compressed data (images, text) are curved; the graph follows them
    # where a Gaussian cannot, so the partition no longer hangs on the seeds. "auto": "spectral",
    # but "gmm" where the latent is as wide as the data (D <= model.latent_dim: a table of a few
    # measurements, which the autoencoder does not compress, so its clusters keep the shapes a
    # mixture fits; ecoli, yeast) and for streamed features (the graph would hold every sample).
    mixture_init: str = setting(AUTO, choices=registry.STARTS, auto=True)
    # Further starts, each a partition of the same autoencoder trained as mixture_init's is; the run
    # keeps the one whose final ELBO is highest (never the labels). ["kmeans"] adds k-means of the
    # features as given; offered, not the default (docs/guide/recipe.md, step 11). Needs in-memory features.
    other_starts: tuple[str, ...] = setting((), choices=registry.STARTS)
    # Neighbours per point in that graph (each shipped config states the number it was measured
    # with). "auto": the mean cluster size N / K within [5, 40] (40 was chosen on the digits by the
    # final ELBO, docs/guide/recipe.md): a graph with more neighbours than a cluster has samples ties each
    # sample to other clusters (ORL's faces, 10 per person).
    spectral_neighbors: int = setting(AUTO, minimum=2, auto=True)
    # "umap" (N2D): UMAP of the latent means (this many neighbours) into K dimensions, then a GMM.
    umap_neighbors: int = setting(20, minimum=2)
    # The prior made from a partition (spectral, UMAP) takes each cluster's covariance shrunk toward
    # the clusters' pooled covariance, as if this many samples of the pooled one were added to each
    # cluster (an inverse-Wishart prior's pseudo-count); 0: each cluster's own. A cluster of a few
    # samples in J dimensions is far thinner along some axis than its posterior spread, and its first
    # KL terms run to thousands of nats, which tear the pretrained latent apart.
    prior_shrinkage: float = setting(10.0, minimum=0)
    # Reuse the pretraining of another run directory (its fingerprint must match this config).
    from_dir: Optional[str] = None


@dataclass(frozen=True)
class TrainConfig:
    # "auto": about 1,000 steps, within [10, 50] epochs (each epoch is scored and summarised).
    epochs: int = setting(AUTO, minimum=0, auto=True)
    # "auto": N / 10 within [16, 100].
    batch_size: int = setting(AUTO, minimum=1, auto=True)
    # A tenth of the paper's 0.002 (as configs/mnist.json, measured there): at 0.002 the first steps
    # shake the pretrained latent, and on small data VaDE ends far below its start (COIL-20: 0.71 ->
    # 0.28, iris collapsed into one cluster; results/bench-datasets-recipes.json).
    learning_rate: float = setting(0.0002, above=0)
    # Staircase decay: lr * lr_decay ** (epoch // lr_decay_epochs), never below lr_floor.
    lr_decay: float = setting(0.9, above=0, at_most=1)
    lr_decay_epochs: int = setting(10, minimum=1)
    lr_floor: float = setting(0.0, minimum=0)
    # The authors' Adam epsilon; the Keras default of 1e-7 makes early VaDE steps jumpy.
    adam_epsilon: float = setting(1e-4, above=0)
    # A separate Adam for pi, mu_c and Sigma_c (the authors' code), at a tenth of the network's rate;
    # None shares the network's (the paper). Its schedule is the network's scaled by
    # mixture_learning_rate / learning_rate (floor included). A slower mixture lets the encoder fit
    # the latent to the initial clusters instead of the clusters drifting.
    mixture_learning_rate: Optional[float] = setting(0.00002, above=0)
    # The paper's protocol: this many independent initialisations, keep the best final ELBO.
    restarts: int = setting(1, minimum=1)
    # When > 0 (and restarts > 1): train every restart this many epochs, then only the one with the
    # best ELBO on to train.epochs: restarts for a fraction of their cost.
    restart_selection_epochs: int = setting(0, minimum=0)
    # z draws behind the final ELBO (metrics.json, restart selection), spread evenly over the samples,
    # at least one each: its Monte-Carlo error shrinks with their total, not with the dataset's size.
    elbo_draws: int = setting(100_000, minimum=1)
    # XLA-compile the training steps (pretraining's and VaDE's) and the inference passes (encoder
    # means, cluster assignments); several steps per host call keep Python out of the loop.
    # "auto": on from XLA_MIN_SAMPLES (recipe.py) samples up, where its faster steps repay the
    # seconds each compile costs; a small run's steps are dominated by those compiles.
    jit_compile: bool = setting(AUTO, auto=True)
    steps_per_execution: int = setting(50, minimum=1)
    # Compute ACC/NMI/ARI after every epoch when labels exist (one encoder pass per epoch).
    eval_every_epoch: bool = True
    # A seeded fraction of the samples held out of training, for validation ELBO curves. The
    # paper's protocol trains and evaluates on all samples: 0 (clustering metrics always use all).
    validation_fraction: float = setting(0.0, minimum=0, below=1)
    # A checkpoint is saved when this many minutes have passed since the last one (checked after each
    # execution of steps_per_execution steps, mid-epoch included), at the end of training and on
    # SIGTERM/SIGINT; 0: at every epoch's end. Resume works from any of them.
    checkpoint_every_minutes: float = setting(5.0, minimum=0)
    # When > 0, also every this many optimizer steps.
    checkpoint_every_steps: int = setting(0, minimum=0)
    # TensorFlow op determinism: the same seed gives identical results on CPU (a little slower).
    deterministic: bool = False
    # "mixed_float16" / "mixed_bfloat16": the hidden layers compute in half precision (GPU tensor
    # cores); weights, the distribution heads, the mixture and the ELBO stay float32. float16 gets
    # dynamic loss scaling. Also applies to pretraining.
    mixed_precision: str = setting("none", choices=("none", "mixed_float16", "mixed_bfloat16"))
    # Epochs at the start of VaDE training whose gamma is the starting partition (pretrain's GMM or
    # spectral clusters) instead of the model's posterior, so the encoder first shapes the latent to
    # that partition; 0: the paper's training throughout. Needs in-memory data and one worker
    # (set 0 for streamed Reuters and multi_worker). Each shipped config's number was chosen by the
    # final ELBO (docs/guide/recipe.md); "auto": a fifth of train.epochs, 0 where it cannot run
    # (streamed features, several workers).
    partition_warmup_epochs: int = setting(AUTO, minimum=0, auto=True)
    # The weight of the KL terms in the loss during that warm-up (1: the ELBO itself). Above 1 the
    # encoder pulls each sample into its partition cluster's Gaussian faster than reconstruction
    # resists, so the model's own assignment agrees with the partition when the warm-up ends.
    warmup_kl_weight: float = setting(5.0, above=0)
    # Epochs after the warm-up over which that weight returns to 1, linearly by step; 0: at once.
    warmup_release_epochs: int = setting(0, minimum=0)
    # Hold pi, mu_c, sigma_c still during the warm-up: the encoder moves to the mixture, not the
    # mixture to the encoder.
    warmup_freezes_mixture: bool = True
    # q(z|x)'s variance when VaDE training starts, as a fraction of the mixture's mean component
    # variance; null: the log-variance head's own start (variance 1, whatever the latent's scale).
    initial_posterior_variance: Optional[float] = setting(0.1, above=0)
    # tf.distribute: "default" (one device), "mirrored" (every local GPU, data-parallel, the
    # replicas' gradients summed into the global batch's mean) or "multi_worker" (the same across the
    # machines TF_CONFIG lists; each worker runs train.py with its own --run-dir). Distributed, XLA
    # is off and one step runs per execution: with Keras 3.15 both fail on mirrored variables.
    strategy: str = setting("default", choices=("default", "mirrored", "multi_worker"))


@dataclass(frozen=True)
class LoggingConfig:
    # Epochs between images (samples per cluster, reconstructions, confusion); 0: only at the end.
    image_every: int = setting(10, minimum=0)
    # Epochs between Embedding Projector snapshots of the latent means; 0: only at the end.
    embedding_every: int = setting(50, minimum=0)
    # Samples shown in the projector, and in the t-SNE figure (t-SNE costs O(n log n) seconds).
    embedding_samples: int = setting(2000, minimum=1)
    tsne_samples: int = setting(2000, minimum=0)
    # Generated images per cluster in the samples grid (one row per cluster, the paper's Fig. 4).
    samples_per_cluster: int = setting(10, minimum=1)
    # At the end of the run: the pictures, the projector snapshot and the t-SNE figure, as PNGs in the
    # run directory and in TensorBoard (a fit from Python draws them only when asked).
    final_pictures: bool = True
    # Warn when a mixture weight pi_c falls below this: the start of the classic VaDE collapse.
    min_cluster_weight: float = setting(0.01, minimum=0)


@dataclass(frozen=True)
class Config:
    # The run's one seed: the initial weights, TensorFlow's ops, NumPy, the batches' order and the
    # partition's restarts; restart r uses seed + r.
    seed: int = setting(0, minimum=0)
    # What is trained (the rows of the paper's Table 2): "vade"; or a baseline that ends in a
    # GaussianMixture (pretrain.gmm_n_init restarts, pretrain.gmm_covariance): "gmm" on the inputs,
    # "ae_gmm" on the pretrained autoencoder's latent means, "vae_gmm" on the latent means of a VAE
    # (the same networks and pretraining, a single N(0, I) prior, train.* settings).
    method: str = setting("vade", choices=registry.METHODS)
    # Free text for people: where the settings come from, where the authors' code differs.
    notes: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def config_from_dict(raw: dict) -> Config:
    """A validated Config from a config's JSON dict (``validation``: every key known, typed, allowed)."""
    config = validation.build(Config, raw, "")
    validation.check_config(config)
    return config


def load_config(path: Optional[str | Path] = None, overrides: Optional[dict[str, Any]] = None) -> Config:
    """Read a JSON config, apply overrides, validate.

    Parameters
    ----------
    path : str or Path, optional
        A JSON config; the defaults when None.
    overrides : dict, optional
        Dotted keys and their values (``{"train.epochs": 5}``), applied over the file.

    Returns
    -------
    Config
        The validated config.

    Raises
    ------
    ConfigError
        A missing or malformed file, an unknown key, a wrong type or a value out of range.
    """
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
