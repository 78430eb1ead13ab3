"""The run directory: its layout, the files of a finished run, the lock that keeps one process in it,
and the digests that say when a checkpoint (``training_digest``) or a cached pretraining
(``pretraining_cache``) may be reused."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
from pathlib import Path

from vade_tf import files
from vade_tf.errors import RunDirBusy

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
MODEL_WEIGHTS = "model.weights.h5"
MODEL_SPEC = "model.json"           # VaDE.get_config(), so other tools rebuild the model alone
# The keys of MODEL_SPEC; a test pins them, so tools can check a run without TensorFlow.
MODEL_SPEC_KEYS = frozenset({"input_dim", "n_clusters", "latent_dim", "covariance", "likelihood",
                             "standardize",
                             "mc_samples", "seed", "architecture", "networks"})
PRETRAIN_DIR = "pretrain"
PRETRAIN_WEIGHTS = "init.weights.h5"
PRETRAIN_INFO = "init.json"
PRETRAIN_PARTITION = "partition.npy"  # the starting partition's cluster of every sample
CHECKPOINT_DIR = "checkpoints"
LOCK_FILE = ".lock"


def write_run(run_dir: Path, model, config: dict, metrics: dict) -> None:
    """A finished run's files: the trained model's weights and the constructor arguments that rebuild
    it (``MODEL_SPEC``), the config it trained with, and its metrics, written last: they mark the run
    finished (what vade-export, vade-predict and ``VaDEClustering.load`` read)."""
    model.save_weights(Path(run_dir) / MODEL_WEIGHTS)
    files.write_json(Path(run_dir) / MODEL_SPEC, model.get_config())
    files.write_json(Path(run_dir) / CONFIG_FILE, config)
    files.write_json(Path(run_dir) / METRICS_FILE, metrics)


def library_versions() -> dict:
    import keras
    import numpy
    import scipy
    import sklearn
    import tensorflow as tf
    import tensorflow_probability as tfp

    import vade_tf

    return {"python": platform.python_version(), "vade_tf": vade_tf.__version__,
            "tensorflow": tf.__version__, "tensorflow_probability": tfp.__version__,
            "keras": keras.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
            "scikit_learn": sklearn.__version__}


# Keys that say where things are, not what is computed: moving the data, its caches or a borrowed
# pretraining leaves a run's results, its pretraining cache and its checkpoints valid.
LOCATION_KEYS = ("data.dir", "data.cache_dir", "data.download", "pretrain.from_dir")
# Keys that say when a run saves, not what it computes: changing them keeps its checkpoints
# resumable and its finished results valid.
SCHEDULE_KEYS = ("train.checkpoint_every_minutes",)
# Keys that say how "auto" chose the number of clusters: the run computes with the K chosen
# (model.n_clusters), so a run, its caches and its checkpoints hang on that K, not on these.
CHOICE_KEYS = ("model.min_clusters", "model.max_clusters")


def computed_fields(config) -> dict:
    """The config's sections without ``LOCATION_KEYS``, ``SCHEDULE_KEYS`` and ``CHOICE_KEYS``: what is
    computed, not where things are, when the run saves or how its number of clusters was chosen."""
    fields = config.to_dict()
    for key in LOCATION_KEYS + SCHEDULE_KEYS + CHOICE_KEYS:
        section, name = key.split(".")
        fields[section] = {k: v for k, v in fields[section].items() if k != name}
    return fields


def fingerprint_digest(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]


def training_digest(config) -> str:
    """What a checkpoint must share with the config that resumes it: everything that shapes the
    trajectory (data, model, pretraining, training and seed), except how many epochs to run."""
    fields = computed_fields(config)
    train = {k: v for k, v in fields["train"].items() if k != "epochs"}
    data = {k: v for k, v in fields["data"].items() if k != "evaluate_split"}
    return fingerprint_digest({"data": data, "model": fields["model"],
                               "pretrain": fields["pretrain"], "train": train, "seed": fields["seed"]})


class RunLock:
    """An exclusive ``flock`` on the run directory for as long as training runs (released on exit,
    even on SIGKILL, by the kernel)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.handle = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            owner = self.handle.read().strip() or "another process"
            self.handle.close()
            raise RunDirBusy(f"run directory {self.path.parent} is in use by {owner}; wait for it to finish "
                             "or pass another --run-dir") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()}")
        self.handle.flush()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def check_unlocked(run_dir: Path) -> None:
    """Fail fast, before any work, when another process trains in ``run_dir``."""
    if (Path(run_dir) / LOCK_FILE).exists():
        with RunLock(run_dir):
            pass
