"""train_and_evaluate(config, run_dir): data -> pretraining -> VaDE training -> metrics, in one call."""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from vade_tf import rundir
from vade_tf.callbacks import RunSummaries, flat_hparams
from vade_tf.config import Config, ConfigError
from vade_tf.data import Dataset, check_dataset, load_dataset
from vade_tf.data.pipeline import epoch_batches, epoch_steps, execution_steps, inference_dataset
from vade_tf.metrics import cluster_accuracy, cluster_to_label, clustering_scores
from vade_tf.model import StaircaseDecay, VaDE
from vade_tf.pretrain import initialise_mixture, pretrain_autoencoder
from vade_tf.resume import Checkpointer, TrainingState, check_resumable, checkpoint_identity
from vade_tf.timing import Stopwatch, TimedCallback

PREDICT_BATCH = 2048
# pretrain.mixture_init -> what partitions the pretrained latent, for the console.
PARTITION_NAMES = {"spectral": "spectral clustering", "gmm": "GMM", "umap": "UMAP + GMM"}


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy ``train.strategy`` names: "mirrored" spans every local GPU (one
    replica on a CPU-only machine); "multi_worker" every worker that ``TF_CONFIG`` lists (made once
    per process, before other TensorFlow work); "default" is the ambient one-device strategy."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """How many worker processes ``strategy`` spans (1 unless multi-worker)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    return strategy.extended._num_workers  # noqa: SLF001 (no public accessor in TF 2.21)


def broadcast_from_chief(strategy: tf.distribute.Strategy, variables) -> None:
    """Give every replica of every worker the values that global replica 0 (the chief) holds.

    The mixture is fitted in each worker's own process (scikit-learn); this makes the chief's fit the
    one all workers train from, even if their fits differed in the last bit.
    """
    def chief_values():
        context = tf.distribute.get_replica_context()
        is_chief = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float32)
        return [context.all_reduce("sum", tf.convert_to_tensor(v) * is_chief) for v in variables]

    for variable, value in zip(variables, strategy.run(chief_values)):
        variable.assign(strategy.experimental_local_results(value)[0])


def image_shape_for(config: Config, data_image_shape: Optional[tuple[int, int]]) -> Optional[list[int]]:
    """(height, width, channels) of each row for a conv model: model.image_shape, else the dataset's
    grey images; None for an MLP."""
    if config.model.architecture != "conv":
        return None
    if config.model.image_shape:
        return list(config.model.image_shape)
    if data_image_shape is None:
        raise ConfigError("model.architecture=conv: this dataset's rows are not images; set "
                          "model.image_shape=[height, width, channels] or use architecture mlp")
    return [*data_image_shape, 1]


def build_model(config: Config, input_dim: int, seed: int,
                data_image_shape: Optional[tuple[int, int]] = None) -> VaDE:
    m, precision = config.model, config.train.mixed_precision
    image_shape = image_shape_for(config, data_image_shape)
    if image_shape is not None and int(np.prod(image_shape)) != input_dim:
        raise ConfigError(f"model.image_shape: {image_shape} holds {int(np.prod(image_shape))} values but "
                          f"the data has {input_dim} features per row; fix the shape")
    model = VaDE(input_dim=input_dim, n_clusters=m.n_clusters, latent_dim=m.latent_dim,
                 hidden_dims=m.hidden_dims, likelihood=m.likelihood, mc_samples=m.mc_samples, seed=seed,
                 architecture=m.architecture, conv_filters=m.conv_filters, conv_dense=m.conv_dense,
                 image_shape=image_shape, covariance=m.covariance,
                 hidden_dtype=None if precision == "none" else precision)
    model.build((None, input_dim))
    return model


def cluster_assigner(model: VaDE):
    """x -> argmax_c p(c | z = E[z|x]) [N], deterministic, for an array or streamed features.

    Batch by batch in this process, keeping only the [N] integers (not Keras's predict, which holds
    [N, K] probabilities and, across workers, gathers rows out of their order). Compiled once.
    """
    assign = tf.function(lambda batch: tf.argmax(model(batch), axis=1), jit_compile=True)
    return lambda x: np.concatenate([assign(batch).numpy() for batch in inference_dataset(x, PREDICT_BATCH)])


def assign_clusters(model: VaDE, x) -> np.ndarray:
    """argmax_c p(c | z = E[z|x]) for every sample (see ``cluster_assigner``)."""
    return cluster_assigner(model)(x)


class ClusteringMetrics(keras.callbacks.Callback):
    """Adds per-epoch scores of the model's assignment of all samples (one encoder pass) to the logs:
    ``largest_cluster``, the share of samples in the biggest cluster, which warns of a collapse the
    moment it happens; ``partition_agreement`` when the starting partition is known, the ACC of the
    assignment against it, an unsupervised measure of how far training moved from its start;
    ACC/NMI/ARI/V-measure when labels exist; and with ``evaluation`` (the held-out protocol's other
    split), that split's scores as ``evaluation_acc`` and so on, so its curve is on record too."""

    COLLAPSED = 0.9  # a largest_cluster share at which (nearly) every sample sits in one cluster

    def __init__(self, x: np.ndarray, y: Optional[np.ndarray], verbose: int = 1,
                 partition: Optional[np.ndarray] = None, evaluation: Optional[Dataset] = None):
        super().__init__()
        self.x, self.y, self.verbose, self.partition = x, y, verbose, partition
        self.evaluation = evaluation
        self.assign = None

    def on_epoch_end(self, epoch, logs=None):
        if self.assign is None:  # compiled once, not again for each fit of a run (warm-up, resume)
            self.assign = cluster_assigner(self.model)
        assignments = self.assign(self.x)
        scores = {"largest_cluster": float(np.bincount(assignments).max() / len(assignments))}
        if self.partition is not None:
            scores["partition_agreement"] = cluster_accuracy(self.partition, assignments)
        if self.y is not None:
            scores.update(clustering_scores(self.y, assignments))
        if self.evaluation is not None:
            held_out = clustering_scores(self.evaluation.y, self.assign(self.evaluation.x))
            scores.update({f"evaluation_{name}": value for name, value in held_out.items()})
        if logs is not None:
            logs.update(scores)
        if self.verbose:
            shown = " ".join(f"{name} {scores[name]:.4f}" for name in
                             ("acc", "nmi", "ari", "partition_agreement", "evaluation_acc",
                              "evaluation_nmi") if name in scores)
            print(f"epoch {epoch + 1}: elbo {logs.get('elbo', float('nan')):.3f} {shown}", flush=True)
            if scores["largest_cluster"] >= self.COLLAPSED and self.model.n_clusters > 1:
                print(f"warning: epoch {epoch + 1}: {scores['largest_cluster']:.0%} of the samples sit in "
                      "one cluster: the clustering has collapsed; try train.partition_warmup_epochs, a "
                      "smaller train.mixture_learning_rate or another seed", flush=True)


class EpochHistory(keras.callbacks.Callback):
    """Keeps every epoch's logs (losses and metrics) as plain floats for metrics.json."""

    def __init__(self):
        super().__init__()
        self.epochs: list[dict] = []
        self.learning_rate = float("nan")

    def on_epoch_begin(self, epoch, logs=None):
        self.learning_rate = float(np.asarray(self.model.optimizer.learning_rate))  # this epoch's

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({"epoch": epoch + 1, "learning_rate": self.learning_rate,
                            **{k: float(v) for k, v in (logs or {}).items()}})


def _cached_info(cache: Path) -> Optional[dict]:
    """The cache's init.json, or None while it has none (never pretrained, or interrupted)."""
    info_path = cache / rundir.PRETRAIN_INFO
    return json.loads(info_path.read_text()) if info_path.exists() else None


def initialise(model: VaDE, data: Dataset, config: Config, seed: int, cache: Path, verbose: int,
               log_dir: Optional[Path] = None, stopwatch: Optional[Stopwatch] = None) -> dict:
    """Pretrain ``model`` and set its prior from a partition of the latent, or reuse ``cache`` (or
    pretrain.from_dir) when it matches; ``stopwatch`` gets the seconds of both phases.

    The cache holds the weights, the starting partition (``partition.npy``) and ``init.json`` with
    the fingerprint of everything that produced them (data, model, pretrain config, seed). When only
    the partition's keys or the mixture's shape differ (``rundir.PARTITION_KEYS``,
    ``rundir.MIXTURE_KEYS``: another K on the same autoencoder), the autoencoder is kept and only the
    partition is made anew, into ``cache`` (never into from_dir); any other difference means
    pretraining anew (or, with from_dir, an error).
    """
    fingerprint = rundir.pretrain_fingerprint(config, data.input_dim, seed)
    digest = rundir.fingerprint_digest(fingerprint)
    borrowed = config.pretrain.from_dir is not None
    source = Path(config.pretrain.from_dir) / rundir.PRETRAIN_DIR if borrowed else cache
    cached = _cached_info(source)
    if cached is not None and cached.get("digest") == digest:
        model.load_weights(source / rundir.PRETRAIN_WEIGHTS)
        if verbose:
            print(f"pretraining reused from {source}")
        return cached
    stopwatch = stopwatch or Stopwatch()
    start = time.perf_counter()
    if cached is not None and rundir.same_autoencoder(cached["fingerprint"], fingerprint):
        load_autoencoder(model, source / rundir.PRETRAIN_WEIGHTS, cached["fingerprint"]["model"])
        history = cached["losses"]
        if verbose:
            print(f"autoencoder reused from {source}; its latent is partitioned anew")
    elif borrowed:
        raise ConfigError(f"pretrain.from_dir: {source} holds no pretraining made with this config "
                          "(data, model, the autoencoder's pretrain keys and seed must match); remove the "
                          "key to pretrain anew")
    else:
        with stopwatch.phase("pretraining"):
            history = pretrain_autoencoder(model, data.x, config.pretrain, seed, verbose, log_dir,
                                           config.train.jit_compile)
    with stopwatch.phase("partition"):
        assignments = initialise_mixture(model, data.x, config.pretrain, seed)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / rundir.PRETRAIN_INFO).unlink(missing_ok=True)  # the cache is incomplete until it is rewritten
    np.save(cache / rundir.PRETRAIN_PARTITION, assignments.astype(np.int32))
    info = {"digest": digest, "fingerprint": fingerprint, "losses": history,
            "wall_time_s": time.perf_counter() - start}
    if data.y is not None:
        # The starting partition, named for what made it: spectral clustering or a GMM on the latent.
        info["partition"] = clustering_scores(data.y, assignments)
        info["vade_init"] = clustering_scores(data.y, assign_clusters(model, data.x))
        if verbose:
            print(f"starting partition (autoencoder + {PARTITION_NAMES[config.pretrain.mixture_init]}): "
                  f"acc {info['partition']['acc']:.4f} nmi {info['partition']['nmi']:.4f}; the prior made "
                  f"from it: acc {info['vade_init']['acc']:.4f}")
        if log_dir is not None:
            with tf.summary.create_file_writer(str(log_dir)).as_default():
                for name, value in info["partition"].items():
                    tf.summary.scalar(f"partition/{name}", value, step=0)
    model.save_weights(cache / rundir.PRETRAIN_WEIGHTS)
    rundir.write_json(cache / rundir.PRETRAIN_INFO, info)  # written last: marks the cache complete
    return info


def load_autoencoder(model: VaDE, weights: Path, saved_model: dict) -> None:
    """The networks of a pretraining saved with a mixture of another shape (``saved_model``: its
    fingerprint's model keys), read through a model of that shape; the mixture is left as it is."""
    saved_mixture = {"n_clusters": saved_model["n_clusters"],
                     "covariance": saved_model.get("covariance", "diag")}  # fingerprints omit diag
    if all(getattr(model, key) == value for key, value in saved_mixture.items()):
        model.load_weights(weights)
        return
    saved = VaDE(**{**model.get_config(), **saved_mixture})
    saved.build((None, model.input_dim))
    saved.load_weights(weights)
    for target, source in zip(model.network_variables, saved.network_variables, strict=True):
        target.assign(source)


def load_partition(config: Config, restart_dir: Path) -> Optional[np.ndarray]:
    """The starting partition saved with the pretraining this restart uses: its own (also when it
    partitioned a borrowed autoencoder anew), else from_dir's; None for a pretraining cached before
    partitions were saved, unless the warm-up needs it."""
    own = restart_dir / rundir.PRETRAIN_DIR
    borrowed = config.pretrain.from_dir is not None and not (own / rundir.PRETRAIN_INFO).exists()
    source = Path(config.pretrain.from_dir) / rundir.PRETRAIN_DIR if borrowed else own
    path = source / rundir.PRETRAIN_PARTITION
    if path.exists():
        return np.load(path)
    if config.train.partition_warmup_epochs:
        raise ConfigError(f"train.partition_warmup_epochs: {path} is missing (a pretraining cached before "
                          "partitions were saved); delete that pretrain folder to pretrain anew")
    return None


def learning_rate_schedules(t, steps_per_epoch: int) -> tuple[StaircaseDecay, Optional[StaircaseDecay]]:
    """The network's staircase schedule and, with ``mixture_learning_rate``, the mixture's: the same
    staircase scaled by mixture_learning_rate / learning_rate, so the floor never lifts it above its start."""
    network = StaircaseDecay(t.learning_rate, t.lr_decay, t.lr_decay_epochs, steps_per_epoch, t.lr_floor)
    if t.mixture_learning_rate is None:
        return network, None
    scale = t.mixture_learning_rate / t.learning_rate
    return network, StaircaseDecay(t.mixture_learning_rate, t.lr_decay, t.lr_decay_epochs, steps_per_epoch,
                                   t.lr_floor * scale)


def held_out_rows(data: Dataset, fraction: float, seed: int) -> Optional[np.ndarray]:
    """A seeded mask of the samples held out of training for validation curves, or None for none."""
    if fraction == 0.0:
        return None
    if not data.in_memory:
        raise ConfigError("train.validation_fraction: streamed features cannot be split in memory; "
                          "set it to 0")
    held_out = np.random.default_rng(seed).permutation(len(data.x))[:max(1, round(fraction * len(data.x)))]
    mask = np.zeros(len(data.x), bool)
    mask[held_out] = True
    return mask


def compile_for_training(model: VaDE, config: Config, steps_per_epoch: int, warmup: bool = True) -> None:
    """Adam on the paper's schedule (and the mixture's own, when configured), optimizer variables built,
    so a checkpoint can be restored into them before the first step. ``warmup``: whether the partition
    warm-up's steps (KL weight, frozen mixture) apply; not without a partition to warm up to."""
    t = config.train
    schedule, mixture_schedule = learning_rate_schedules(t, steps_per_epoch)
    mixture_optimizer = None
    if mixture_schedule is not None:
        mixture_optimizer = keras.optimizers.Adam(mixture_schedule, epsilon=t.adam_epsilon)
    # Under tf.distribute, one step per execution and no XLA: both fail on mirrored replicas (Keras 3.15).
    distributed = tf.distribute.has_strategy()
    execution = execution_steps(steps_per_epoch, 1 if distributed else t.steps_per_execution)
    model.compile(optimizer=model.network_optimizer(keras.optimizers.Adam(schedule, epsilon=t.adam_epsilon)),
                  mixture_optimizer=mixture_optimizer,
                  warmup_steps=t.partition_warmup_epochs * steps_per_epoch if warmup else 0,
                  warmup_kl_weight=t.warmup_kl_weight, warmup_freezes_mixture=t.warmup_freezes_mixture,
                  jit_compile=t.jit_compile and not distributed,
                  steps_per_execution=execution)
    model.optimizer.build(model.network_variables if mixture_optimizer else model.trainable_variables)


def fit_vade(model: VaDE, data: Dataset, config: Config, seed: int, log_dir: Path,
             checkpoint_dir: Path, verbose: int,
             callbacks: Sequence[keras.callbacks.Callback] = (),
             partition: Optional[np.ndarray] = None, stopwatch: Optional[Stopwatch] = None,
             evaluation: Optional[Dataset] = None) -> list[dict]:
    """Maximise the ELBO with the paper's Adam and step schedule; returns the per-epoch history.

    Resumes from the newest usable checkpoint in ``checkpoint_dir`` (weights, optimizer moments,
    RNG, the position inside an epoch), so re-running after a crash continues the same trajectory.
    ``partition`` (the starting cluster of each sample) feeds ``train.partition_warmup_epochs`` and
    each epoch's ``partition_agreement``; ``evaluation`` (another split, with labels) is scored each
    epoch beside the trained-on samples.
    Raises ``TrainingStopped`` after a SIGTERM/SIGINT (a checkpoint was saved) or a non-finite loss.
    The console shows Keras's progress bar when it is a terminal (one line an epoch otherwise), then
    one summary line with ACC when labels exist.
    """
    t = config.train
    held_out = held_out_rows(data, t.validation_fraction, seed)
    train_x, validation_x = (data.x, None) if held_out is None else (data.x[~held_out], data.x[held_out])
    warmup_gamma = None
    if t.partition_warmup_epochs and partition is not None:
        warmup_gamma = partition_log_gamma(partition if held_out is None else partition[~held_out],
                                           model.n_clusters)
    batch_size = min(t.batch_size, len(train_x))
    strategy = tf.distribute.get_strategy()
    workers = worker_count(strategy)
    steps_per_epoch = epoch_steps(train_x, batch_size, workers)
    compile_for_training(model, config, steps_per_epoch, warmup=warmup_gamma is not None)
    if t.initial_posterior_variance is not None:  # before a checkpoint, if any, is restored over it
        model.start_posterior_width(t.initial_posterior_variance)

    state = TrainingState(model, checkpoint_dir, checkpoint_identity(config, data.input_dim))
    record = state.restore_latest()
    first_epoch, batches_done, history = 0, 0, EpochHistory()
    if record is not None:
        first_epoch, batches_done = record["epoch"], record["batches_done"]
        history.epochs = record["history"]
        if verbose:
            print(f"resuming from {checkpoint_dir}: epoch {first_epoch + 1}, batch {batches_done}")
    checkpointer = Checkpointer(state, history.epochs, t.checkpoint_every_steps, steps_per_epoch,
                                batches_done)
    stopwatch = stopwatch or Stopwatch()

    def timed(callback: keras.callbacks.Callback, phase: str) -> TimedCallback:
        return TimedCallback(callback, stopwatch, phase)

    all_callbacks = []
    if t.eval_every_epoch:
        all_callbacks.append(timed(ClusteringMetrics(data.x, data.y, verbose, partition, evaluation),
                                   "evaluation"))
    all_callbacks += [history, timed(checkpointer, "checkpoints"),
                      timed(keras.callbacks.TensorBoard(log_dir=str(log_dir)), "summaries"),
                      *(timed(callback, "summaries") for callback in callbacks)]
    progress = (1 if sys.stdout.isatty() else 2) if verbose else 0
    validation = None if validation_x is None else inference_dataset(validation_x, PREDICT_BATCH)

    def batches(first: int, last: int, skip: int, log_gamma: Optional[np.ndarray]):
        if workers == 1:
            return epoch_batches(train_x, batch_size, seed, first, last, skip, log_gamma=log_gamma)
        if log_gamma is not None:
            raise ConfigError("train.partition_warmup_epochs needs one worker; set it to 0 for this run")
        return strategy.distribute_datasets_from_function(lambda context: epoch_batches(
            train_x, batch_size, seed, first, last, skip, (context.input_pipeline_id, workers)))

    def callback_seconds() -> float:
        return sum(stopwatch.seconds.get(phase, 0.0) for phase in ("evaluation", "checkpoints", "summaries"))

    def fit(first: int, last: int, skip: int, log_gamma: Optional[np.ndarray]) -> None:
        start, before = time.perf_counter(), callback_seconds()
        model.fit(batches(first, last, skip, log_gamma), validation_data=validation,
                  initial_epoch=first, epochs=last, steps_per_epoch=steps_per_epoch - skip,
                  callbacks=all_callbacks, shuffle=False, verbose=progress)
        # The steps themselves (and Keras's loop): what fit took, less what the callbacks took.
        stopwatch.add("training", time.perf_counter() - start - (callback_seconds() - before))

    # The warm-up's epochs read (x, the partition's q(c|x)) in one fit, the rest x alone (Eq. 16's
    # gamma in the step); a resumed run first finishes the epoch its checkpoint was taken in.
    epoch, skip = first_epoch, batches_done
    while checkpointer.stopped is None and epoch < t.epochs:
        warming_up = warmup_gamma is not None and epoch < t.partition_warmup_epochs
        last = epoch + 1 if skip else (min(t.partition_warmup_epochs, t.epochs) if warming_up else t.epochs)
        fit(epoch, last, skip, warmup_gamma if warming_up else None)
        epoch, skip = last, 0
    if checkpointer.stopped is not None:
        raise checkpointer.stopped
    return history.epochs


def partition_log_gamma(partition: np.ndarray, n_clusters: int) -> np.ndarray:
    """log q(c|x) [N, K] of a hard partition, mixed with a 1e-6 share of the uniform so every log is
    finite. The share must be tiny: q(c|x) weighs each cluster's KL(q(z|x) || p(z|c)), and on tight
    data the KL to a far, thin cluster runs to thousands of nats."""
    floor = 1e-6
    return np.log((1 - floor) * np.eye(n_clusters)[partition] + floor / n_clusters).astype(np.float32)


def elbo_estimate(model: VaDE, x, draws: int) -> dict:
    """Mean ELBO terms over the samples of ``x``, from about ``draws`` z draws in all (at least one a
    sample). The ELBO chooses between restarts and recipes, so its Monte-Carlo error must sit below the
    differences it decides: with one draw a sample it is too noisy on a few thousand samples."""
    samples = max(1, -(-draws // len(x)))
    terms_of = tf.function(lambda batch: {name: tf.reduce_sum(value) for name, value
                                          in model.elbo_terms(batch, samples=samples).items()})
    totals: dict = {}
    for batch in inference_dataset(x, max(1, PREDICT_BATCH // samples)):
        for name, value in terms_of(batch).items():
            totals[name] = totals.get(name, 0.0) + float(value)
    return {name: totals[name] / len(x) for name in ("elbo", "reconstruction", "kl_z", "kl_c")}


def evaluate(model: VaDE, data: Dataset, elbo_draws: int) -> dict:
    """Mean ELBO terms over all samples (``elbo_estimate``); with labels, the clustering scores and the
    cluster-to-label map."""
    result = elbo_estimate(model, data.x, elbo_draws)
    if data.y is not None:
        assignments = assign_clusters(model, data.x)
        result.update(clustering_scores(data.y, assignments))
        # The Hungarian map behind ACC, kept so an export can name each cluster's label.
        mapping = cluster_to_label(data.y, assignments)
        result["cluster_to_label"] = {str(cluster): label for cluster, label in mapping.items()}
    return result


def evaluation_scores(assign, evaluation_data: Dataset, split: str) -> dict:
    """Clustering scores of ``assign`` (features -> clusters) on another split: the held-out protocol.
    Its own Hungarian match: the clusters are scored as a partition of those samples."""
    return {"split": split, "n_samples": int(len(evaluation_data.x)),
            **clustering_scores(evaluation_data.y, assign(evaluation_data.x))}


def load_evaluation_data(config: Config) -> Optional[Dataset]:
    """The ``data.evaluate_split`` samples, loaded before training so a missing file fails first."""
    if config.data.evaluate_split is None:
        return None
    data = load_dataset(dataclasses.replace(config.data, split=config.data.evaluate_split))
    if data.y is None:
        raise ConfigError(f"data.evaluate_split: {data.name} has no labels to score clusters against; "
                          "remove the key")
    return data


def train_and_evaluate(config: Config, run_dir: str | Path, verbose: int = 1,
                       command: Optional[str] = None, data: Optional[Dataset] = None) -> dict:
    """Train ``config.method`` (VaDE or a Table 2 baseline, see ``baselines``) as ``config`` says, write
    every artefact into ``run_dir``, return the final metrics.

    ``data`` skips loading when the caller already holds the dataset (the CLI checks it before
    importing TensorFlow, so input errors come back fast and clean).

    With ``train.restarts`` = N, N initialisations (seeds seed..seed+N-1) are each pretrained and
    trained, and the one with the best final ELBO is kept: the paper's protocol, never by accuracy.
    The run directory is locked while this runs; re-running on it resumes from its checkpoints.
    """
    if data is None:
        data = load_dataset(config.data)
    check_dataset(data, config)
    evaluation_data = load_evaluation_data(config)
    with rundir.RunLock(run_dir):  # one training process per run directory
        if config.method != "vade":
            from vade_tf.baselines import train_baseline  # baselines build on this module

            return train_baseline(config, Path(run_dir), verbose, command, data, evaluation_data)
        return _train_and_evaluate(config, Path(run_dir), verbose, command, data, evaluation_data)


def _restart_dir(run_dir: Path, restart: int, config: Config) -> Path:
    return run_dir / (f"restart_{restart}" if config.train.restarts > 1 else ".")


def _run_restart(config: Config, data: Dataset, run_dir: Path, r: int, epochs: int, verbose: int,
                 strategy: tf.distribute.Strategy, stopwatch: Stopwatch,
                 evaluation_data: Optional[Dataset] = None) -> dict:
    """Pretrain (or reuse the cache), then train restart ``r`` up to ``epochs`` (resuming from its
    checkpoints), evaluate; returns its record with the trained ``model``. With ``evaluation_data``
    the record's ``init`` also scores the starting model (the prior made from the partition) on that
    split: the held-out protocol's start, which training must not fall below."""
    seed = config.seed + r
    keras.utils.set_random_seed(seed)
    restart_dir = _restart_dir(run_dir, r, config)
    log_dir = run_dir / "logs" / f"restart_{r}"
    # Under a distribution strategy every variable is created on each device (initial values from
    # the chief); pretraining trains all replicas as one, and the mixture fitted on its latent is
    # the chief's everywhere.
    with strategy.scope():
        model = build_model(config, data.input_dim, seed, data.image_shape)
        init = initialise(model, data, config, seed, restart_dir / rundir.PRETRAIN_DIR, verbose,
                          log_dir / "pretrain", stopwatch)
        init = {k: v for k, v in init.items() if k not in ("fingerprint", "losses")}
        if evaluation_data is not None:
            with stopwatch.phase("evaluation"):
                init["evaluation"] = evaluation_scores(cluster_assigner(model), evaluation_data,
                                                       config.data.evaluate_split)
        if strategy.num_replicas_in_sync > 1:
            broadcast_from_chief(strategy, model.mixture_variables)
        summaries = RunSummaries(data, config.logging, log_dir, restart_dir, seed,
                                 flat_hparams(config.to_dict()), verbose, config.train.epochs)
        phase = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
        partition = load_partition(config, restart_dir)
        history = fit_vade(model, data, phase, seed, log_dir, restart_dir / rundir.CHECKPOINT_DIR, verbose,
                           callbacks=[summaries], partition=partition, stopwatch=stopwatch,
                           evaluation=evaluation_data)
        with stopwatch.phase("final_evaluation"):
            final = evaluate(model, data, config.train.elbo_draws)
    if epochs == config.train.epochs:
        summaries.write_hparams(final)
    if verbose and config.train.restarts > 1:
        print(f"restart {r}: elbo {final['elbo']:.3f} after {epochs} epochs")
    return {"restart": r, "seed": seed, "final": final, "epochs": history, "model": model, "init": init}


def _train_and_evaluate(config: Config, run_dir: Path, verbose: int, command: Optional[str],
                        data: Dataset, evaluation_data: Optional[Dataset]) -> dict:
    start, t = time.perf_counter(), config.train
    if t.strategy == "multi_worker" and config.pretrain.from_dir is None:
        # Keras 3.15 cannot fit the (input, target) pairs of pretraining across workers.
        raise ConfigError("train.strategy=multi_worker needs pretrain.from_dir: pretrain once in one process "
                          "(same config, --epochs 0, default strategy) and point every worker at that run")
    if t.partition_warmup_epochs and (not data.in_memory or t.strategy == "multi_worker"):
        raise ConfigError("train.partition_warmup_epochs needs in-memory features and one worker; set it "
                          "to 0 for this run")
    strategy = make_strategy(t.strategy)  # first: MultiWorkerMirroredStrategy requires it
    workers = worker_count(strategy)
    if strategy.num_replicas_in_sync != workers and t.strategy == "multi_worker":
        raise ConfigError(f"train.strategy=multi_worker: {strategy.num_replicas_in_sync} devices for "
                          f"{workers} workers; one process per device (set CUDA_VISIBLE_DEVICES for each)")
    if t.batch_size % workers:
        raise ConfigError(f"train.batch_size: {t.batch_size} does not split evenly over {workers} "
                          f"workers; use a multiple of {workers}")
    for r in range(t.restarts):  # before anything is written
        check_resumable(_restart_dir(run_dir, r, config) / rundir.CHECKPOINT_DIR,
                        checkpoint_identity(config, data.input_dim))
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    rundir.write_json(run_dir / rundir.CONFIG_FILE, config.to_dict())

    # With restart_selection_epochs, every restart trains that many epochs and only the one with the
    # best ELBO then runs to the end (it resumes from its checkpoint); otherwise all run to the end.
    selecting = t.restarts > 1 and 0 < t.restart_selection_epochs < t.epochs
    first_phase = t.restart_selection_epochs if selecting else t.epochs
    stopwatch = Stopwatch()
    restarts = [_run_restart(config, data, run_dir, r, first_phase, verbose, strategy, stopwatch,
                             evaluation_data) for r in range(t.restarts)]
    best = max(restarts, key=lambda record: record["final"]["elbo"])
    if selecting:
        if verbose:
            print(f"restart {best['restart']} has the best ELBO after {first_phase} epochs; training it on")
        best["selection"] = best["final"]
        best.update(_run_restart(config, data, run_dir, best["restart"], t.epochs, verbose, strategy,
                                 stopwatch, evaluation_data))
    model = best.pop("model")
    for record in restarts:
        record.pop("model", None)
    model.save_weights(run_dir / rundir.MODEL_WEIGHTS)
    rundir.write_json(run_dir / rundir.MODEL_SPEC, model.get_config())

    metrics = {"method": "vade", **best["final"], "best_restart": best["restart"], "seed": config.seed,
               "command": command, "n_samples": int(len(data.x)), "restarts": restarts}
    if evaluation_data is not None:
        metrics["evaluation"] = evaluation_scores(cluster_assigner(model), evaluation_data,
                                                  config.data.evaluate_split)
    # seconds: where wall_time_s went (pretraining, partition, training steps, per-epoch evaluation,
    # checkpoints, summaries and pictures, final evaluation), summed over restarts.
    metrics.update(wall_time_s=time.perf_counter() - start, seconds=stopwatch.seconds,
                   versions=rundir.library_versions())
    rundir.write_json(run_dir / rundir.METRICS_FILE, metrics)
    return metrics
