"""What every test module shares: the command-line entry points called in-process, a tiny run of
train.py (in this process or its own), and a clean slate of TensorFlow's process-wide switches."""
import contextlib
import fcntl
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # the test workers share a GPU where there is one

ROOT = Path(__file__).parent.parent
# Tiny runs compile without XLA, take the final ELBO from fewer draws and draw no pictures (a test
# that looks at pictures asks for them): seconds each, not tens.
FAST = {"train.jit_compile": False, "train.elbo_draws": 2000, "logging.tsne_samples": 0,
        "logging.image_every": 0, "logging.embedding_every": 0}

# What metrics.json reports of the final model: equal, to the last bit, for runs that must agree.
FINAL_KEYS = ("acc", "nmi", "ari", "elbo", "reconstruction", "kl_z", "kl_c")


# What a hand-made test model is, unless a test says otherwise (VaDE.get_config's keys).
MODEL_SPEC = {"latent_dim": 2, "covariance": "diag", "likelihood": "bernoulli", "standardize": False,
              "mc_samples": 1, "seed": 0, "architecture": "mlp"}


def make_vade(input_dim: int, n_clusters: int, hidden_dtype=None, **given):
    """A built VaDE from ``VaDE.from_config``: ``given`` holds its spec's keys (MODEL_SPEC's
    defaults) and its architecture's options (hidden_dims=[8] for the default MLP)."""
    from vade_tf.model import VaDE

    spec = {**MODEL_SPEC, "input_dim": input_dim, "n_clusters": n_clusters,
            **{key: value for key, value in given.items() if key in MODEL_SPEC}}
    spec["networks"] = {"hidden_dims": [8]} if spec["architecture"] == "mlp" else {}
    spec["networks"].update({key: value for key, value in given.items() if key not in MODEL_SPEC})
    model = VaDE.from_config(spec, hidden_dtype=hidden_dtype)
    model.build((None, input_dim))
    return model


def set_args(settings: dict) -> list[str]:
    """``--set KEY=VALUE`` arguments for a CLI, each value as JSON."""
    return [arg for key, value in settings.items() for arg in ("--set", f"{key}={json.dumps(value)}")]


def run_main(main, *argv) -> subprocess.CompletedProcess:
    """A CLI's ``main(argv)`` in this process, its exit code and output as a finished subprocess's:
    the same checks as a real process, without a fresh interpreter importing TensorFlow each time."""
    argv = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _script(script: str, argv) -> dict:
    return {"args": [sys.executable, str(ROOT / script), *map(str, argv)], "text": True,
            "env": {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}}


def run_script(script: str, *argv, **kwargs) -> subprocess.CompletedProcess:
    """``python <script> argv`` in a fresh interpreter: for exit codes, signals and process isolation."""
    return subprocess.run(**_script(script, argv), capture_output=True, **kwargs)


def start_script(script: str, *argv) -> subprocess.Popen:
    """``python <script> argv`` started in a fresh interpreter, its output piped: to signal it."""
    return subprocess.Popen(**_script(script, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# train.py's arguments for a tiny run on the embedded digits (the run's length is the test's).
TINY_TRAIN = ["--pretrain-epochs", "2", *set_args({
    **FAST, "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3, "pretrain.method": "plain",
    "pretrain.gmm_n_init": 1, "train.steps_per_execution": 4})]


def train_tiny(run_dir, *args) -> subprocess.CompletedProcess:
    """train.py's main in this process, tiny."""
    from vade_tf.commands import train

    return run_main(train.main, "--run-dir", run_dir, *TINY_TRAIN, *args)


# VaDEClustering's parameters for a tiny fit (seconds): a small network, a few epochs, FAST's settings.
TINY_ESTIMATOR = {"n_clusters": 3, "latent_dim": 2, "hidden_dims": (16,), "pretrain": "plain",
                  "pretrain_epochs": 3, "epochs": 3, "batch_size": 20, "random_state": 0,
                  "settings": {**FAST, "train.elbo_draws": 500, "pretrain.gmm_n_init": 1,
                               "train.steps_per_execution": 1}}


def blobs(n_samples=60, n_features=4, seed=0):
    """Three well-separated Gaussian clusters: (features float32, true clusters)."""
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples, n_features=n_features, centers=3, random_state=seed)
    return x.astype(np.float32), y


# Small pictures of every kind: one of each an epoch, embeddings every second epoch.
PICTURES = {"logging.image_every": 1, "logging.embedding_every": 2, "logging.embedding_samples": 150,
            "logging.tsne_samples": 60, "logging.samples_per_cluster": 4}
# The shared digits run's length and pictures.
DIGITS_EPOCHS = 3
DIGITS_RUN = ["--epochs", str(DIGITS_EPOCHS), *set_args(PICTURES)]


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """``train_tiny(DIGITS_RUN)`` made once per test session for every test worker: the first worker
    to ask trains it under a lock, the others wait and read it. -> (run directory, what it printed).
    Tests read it or borrow its pretraining (``pretrain.from_dir``); one that changes it copies it."""
    base = tmp_path_factory.getbasetemp()  # under pytest-xdist: each worker's own, in the session's folder
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    run_dir, printed = shared / "digits-run", shared / "digits-run.stdout"
    with open(shared / "digits-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not printed.exists():
            result = train_tiny(run_dir, *DIGITS_RUN)
            assert result.returncode == 0, result.stderr[-3000:]
            printed.write_text(result.stdout)
    return run_dir, printed.read_text()


def train_tiny_process(run_dir, *args, wait=True):
    """train.py, tiny, in a process of its own: for what only a process shows (exit status, signals)."""
    return (run_script if wait else start_script)("train.py", "--run-dir", run_dir, *TINY_TRAIN, *args)


@pytest.fixture(autouse=True)
def _op_determinism_off_after_each_test():
    """train.deterministic switches TensorFlow's op determinism on for the whole process; a test that
    asks for it must not hand it to the next."""
    yield
    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config as tf_config  # the switch has no public "off"

        tf_config.disable_op_determinism()
