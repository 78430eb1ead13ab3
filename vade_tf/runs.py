"""A run top to bottom: check the config against the data, train the method it names (VaDE, with its
restarts, or a Table 2 baseline), and write every artefact into the run directory.

    config -> data -> model (initialise) -> the epoch loop (fit) -> run directory -> export
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import NamedTuple, Optional

import keras
import tensorflow as tf

from vade_tf import files, rundir
from vade_tf.cluster_count import choose_n_clusters
from vade_tf.config import Config
from vade_tf.data import Dataset
from vade_tf.distribute import broadcast_from_chief, check_strategy, make_strategy
from vade_tf.dotted import flat
from vade_tf.evaluation import EpochScores, evaluate, evaluation_scores, load_evaluation_data
from vade_tf.fit import fit_vade
from vade_tf.inference import cluster_assigner
from vade_tf.initialise import build_model, initialise
from vade_tf.metrics import clustering_scores
from vade_tf.recipe import prepare
from vade_tf.registry import METHODS, resolve
from vade_tf.resume import check_resumable, checkpoint_identity
from vade_tf.summaries import RunSummaries
from vade_tf.timing import Stopwatch, duration
from vade_tf.validation import AUTO


def train_and_evaluate(config: Config, run_dir: str | Path, verbose: int = 1,
                       command: Optional[str] = None, data: Optional[Dataset] = None) -> dict:
    """Train ``config.method`` as ``config`` says and write every artefact into ``run_dir``:
    ``recipe.prepare``, then ``train_checked``. The run directory is locked while this runs;
    re-running on it resumes from its checkpoints.

    Parameters
    ----------
    config : Config
        The run's config (``load_config``); its "auto" values are resolved for the data.
    run_dir : str or Path
        Where the run's checkpoints, logs, pictures, model and metrics go.
    verbose : int
        Print each phase and epoch.
    command : str, optional
        How the run was started, for ``metrics.json``.
    data : Dataset, optional
        The dataset, when the caller already holds it; else ``config.data`` is loaded.

    Returns
    -------
    dict
        The final metrics, as ``metrics.json`` holds them.

    Raises
    ------
    ConfigError
        The config does not fit the data, or the run directory holds another config's checkpoints.
    TrainingStopped
        A signal or a non-finite loss stopped training; the last checkpoint is kept.
    """
    return train_checked(*prepare(config, data), run_dir, verbose, command)


def train_checked(config: Config, data: Dataset, run_dir: str | Path, verbose: int = 1,
                  command: Optional[str] = None) -> dict:
    """``train_and_evaluate`` for a config and data that ``recipe.prepare`` returned: the commands
    prepare them before TensorFlow loads, so input errors come back fast and clean."""
    evaluation_data = load_evaluation_data(config)
    with rundir.RunLock(run_dir):  # one training process per run directory
        if METHODS[config.method].fit is not None:
            return train_baseline(config, Path(run_dir), verbose, command, data, evaluation_data)
        return train_vade(config, Path(run_dir), verbose, command, data, evaluation_data)


def _restart_dir(run_dir: Path, restart: int, config: Config) -> Path:
    return run_dir / (f"restart_{restart}" if config.train.restarts > 1 else ".")


class Start(NamedTuple):
    """One VaDE trained in a run: a restart (its seed and autoencoder) and a starting partition."""
    restart: int
    config: Config      # the run's, with this start's pretrain.mixture_init
    directory: Path     # its pretraining cache, checkpoints and pictures
    name: str           # its TensorBoard run, under logs/


def starts(config: Config, run_dir: Path) -> list[Start]:
    """Every VaDE a run trains: for each restart, the start ``pretrain.mixture_init`` makes, then each
    of ``pretrain.other_starts``, which partitions that restart's autoencoder anew (read through
    ``pretrain.from_dir``) in a folder of its own."""
    trained = []
    for r in range(config.train.restarts):
        restart_dir = _restart_dir(run_dir, r, config)
        trained.append(Start(r, config, restart_dir, f"restart_{r}"))
        for method in config.pretrain.other_starts:
            if method == config.pretrain.mixture_init:
                continue
            pretrain = dataclasses.replace(config.pretrain, mixture_init=method, other_starts=(),
                                           from_dir=config.pretrain.from_dir or str(restart_dir))
            trained.append(Start(r, dataclasses.replace(config, pretrain=pretrain),
                                 restart_dir / f"start_{method}", f"restart_{r}_start_{method}"))
    return trained


def _run_restart(start: Start, data: Dataset, run_dir: Path, epochs: int, verbose: int,
                 strategy: tf.distribute.Strategy, stopwatch: Stopwatch,
                 evaluation_data: Optional[Dataset] = None, several: bool = False) -> dict:
    """Pretrain (or reuse the cache), then train ``start`` up to ``epochs`` (resuming from its
    checkpoints), evaluate; returns its record with the trained ``model``. With ``evaluation_data``
    the record's ``init`` also scores the starting model (the prior made from the partition) on that
    split: the held-out protocol's start, which training must not fall below. ``several``: one of a
    run's several starts, whose ELBO is printed."""
    config, r, restart_dir = start.config, start.restart, start.directory
    seed = config.seed + r
    log_dir = run_dir / "logs" / start.name
    # Under a distribution strategy every variable is created on each device (initial values from
    # the chief); pretraining trains all replicas as one, and the mixture fitted on its latent is
    # the chief's everywhere.
    with strategy.scope():
        model = build_model(config, data.input_dim, seed)
        init, partition = initialise(model, data, config, seed, restart_dir / rundir.PRETRAIN_DIR, verbose,
                                     log_dir / "pretrain", stopwatch)
        init = {k: v for k, v in init.items() if k not in ("fingerprint", "losses")}
        if evaluation_data is not None:
            with stopwatch.phase("evaluation"):
                assign = cluster_assigner(model, config.train.jit_compile)
                init["evaluation"] = evaluation_scores(assign, evaluation_data, config.data.evaluate_split)
        if strategy.num_replicas_in_sync > 1:
            broadcast_from_chief(strategy, model.prior.mixture_variables)
        hparams = flat(config.to_dict())
        summaries = RunSummaries(model, data, config.logging, log_dir, restart_dir, seed, hparams, verbose,
                                 config.train.epochs, config.train.jit_compile)
        phase = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
        start = time.perf_counter()
        history = fit_vade(model, data, phase, seed, log_dir, restart_dir / rundir.CHECKPOINT_DIR, verbose,
                           partition=partition, stopwatch=stopwatch, evaluation=evaluation_data,
                           callbacks=[summaries])
        if verbose:
            print(f"VaDE training, {epochs} epochs ... {duration(time.perf_counter() - start)}", flush=True)
        with stopwatch.phase("final_evaluation", say="final evaluation" if verbose else None):
            final = evaluate(model, data, config.train.elbo_draws, config.train.jit_compile)
    if epochs == config.train.epochs:
        summaries.write_hparams(final)
    if verbose and several:
        print(f"restart {r}, {config.pretrain.mixture_init} start: elbo {final['elbo']:.3f} after {epochs} "
              "epochs")
    return {"restart": r, "start": config.pretrain.mixture_init, "seed": seed,
            "directory": str(restart_dir.relative_to(run_dir)), "final": final, "epochs": history,
            "model": model, "init": init, "collapse": first_collapse(history, model.n_clusters)}


def first_collapse(history: list[dict], n_clusters: int) -> Optional[dict]:
    """The first epoch whose assignment put ``EpochScores.COLLAPSED`` or more of the samples in
    one cluster, with that share, or None when none did (or the epochs were not scored)."""
    for epoch in history:
        if n_clusters > 1 and epoch.get("largest_cluster", 0.0) >= EpochScores.COLLAPSED:
            return {"epoch": epoch["epoch"], "largest_cluster": epoch["largest_cluster"]}
    return None


def train_vade(config: Config, run_dir: Path, verbose: int, command: Optional[str], data: Dataset,
               evaluation_data: Optional[Dataset]) -> dict:
    """VaDE with ``train.restarts`` initialisations (seeds seed..seed+N-1), each pretrained and
    trained from each of its starts (``starts``); the one with the best final ELBO is kept: the
    paper's protocol, never by accuracy. With ``model.n_clusters = "auto"`` the first restart's
    autoencoder is pretrained first and K chosen from its latent (``choose_n_clusters``); every
    restart then trains that K."""
    start, t = time.perf_counter(), config.train
    strategy = make_strategy(t.strategy)  # first: MultiWorkerMirroredStrategy requires it
    check_strategy(config, strategy)
    stopwatch = Stopwatch()
    choice = {}
    if config.model.n_clusters == AUTO:
        with strategy.scope():
            cache = _restart_dir(run_dir, 0, config) / rundir.PRETRAIN_DIR
            config, choice = choose_n_clusters(config, data, config.seed, cache, verbose,
                                               run_dir / "logs" / "n_clusters", stopwatch)
    trained = starts(config, run_dir)
    for each in trained:  # before anything is written
        check_resumable(each.directory / rundir.CHECKPOINT_DIR,
                        checkpoint_identity(each.config, data.input_dim))
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    files.write_json(run_dir / rundir.CONFIG_FILE, config.to_dict())

    # With restart_selection_epochs, every start trains that many epochs and only the one with the
    # best ELBO then runs to the end (it resumes from its checkpoint); otherwise all run to the end.
    several = len(trained) > 1
    selecting = several and 0 < t.restart_selection_epochs < t.epochs
    first_phase = t.restart_selection_epochs if selecting else t.epochs
    restarts = [_run_restart(each, data, run_dir, first_phase, verbose, strategy, stopwatch, evaluation_data,
                             several) for each in trained]
    best_index = best_restart(restarts)
    best = restarts[best_index]
    if selecting:
        if verbose:
            print(f"restart {best['restart']}, {best['start']} start, has the best ELBO after {first_phase} "
                  "epochs; training it on")
        best["selection"] = best["final"]
        best.update(_run_restart(trained[best_index], data, run_dir, t.epochs, verbose, strategy, stopwatch,
                                 evaluation_data, several))
    model = best.pop("model")
    for record in restarts:
        record.pop("model", None)
    metrics = {"method": "vade", **best["final"], "best_restart": best_index, "seed": config.seed,
               "command": command, "n_samples": int(len(data.x)), "collapse": best["collapse"],
               **choice, "restarts": restarts}
    if evaluation_data is not None:
        assign = cluster_assigner(model, config.train.jit_compile)
        metrics["evaluation"] = evaluation_scores(assign, evaluation_data, config.data.evaluate_split)
    # seconds: where wall_time_s went (pretraining, partition, training steps, per-epoch evaluation,
    # checkpoints, summaries and pictures, final evaluation), summed over restarts.
    metrics.update(wall_time_s=time.perf_counter() - start, seconds=stopwatch.seconds,
                   versions=rundir.library_versions())
    rundir.write_run(run_dir, model, config.to_dict(), metrics)
    return metrics


def best_restart(records: list[dict]) -> int:
    """The index of the record whose final ELBO is highest: the paper's criterion, never the accuracy."""
    return max(range(len(records)), key=lambda i: records[i]["final"]["elbo"])


def train_baseline(config: Config, run_dir: Path, verbose: int, command: Optional[str], data: Dataset,
                   evaluation_data: Optional[Dataset]) -> dict:
    """Fit ``config.method``'s baseline (``registry.METHODS``) and write config.json and metrics.json
    like a VaDE run."""
    start = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    files.write_json(run_dir / rundir.CONFIG_FILE, config.to_dict())
    assign, info = resolve(METHODS[config.method].fit)(config, data, run_dir, verbose)
    metrics = {"method": config.method, "seed": config.seed, "command": command,
               "n_samples": int(len(data.x)), "baseline": info}
    if data.y is not None:
        metrics.update(clustering_scores(data.y, assign(data.x)))
    if evaluation_data is not None:
        metrics["evaluation"] = evaluation_scores(assign, evaluation_data, config.data.evaluate_split)
    metrics.update(wall_time_s=time.perf_counter() - start, versions=rundir.library_versions())
    files.write_json(run_dir / rundir.METRICS_FILE, metrics)
    if verbose and "acc" in metrics:
        print(f"{config.method}: acc {metrics['acc']:.4f} nmi {metrics['nmi']:.4f} ari {metrics['ari']:.4f}")
    return metrics
