"""Bad input gets one line and exit 2; a killed or stopped run resumes; a NaN keeps the last good state."""
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, ROOT, run_main, run_script, set_args

import train
from vade_tf import rundir

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
TINY = ["--set", "model.hidden_dims=[32,16]", "--set", "model.latent_dim=3", "--set", "pretrain.method=plain",
        "--set", "pretrain.gmm_n_init=1", "--set", "train.steps_per_execution=4", "--set",
        "logging.tsne_samples=0", "--set", "logging.image_every=0", "--set", "logging.embedding_every=0",
        "--pretrain-epochs", "2", *set_args(FAST)]


def _train(run_dir, *args):
    """train.py's main in this process."""
    return run_main(train.main, "--run-dir", run_dir, *TINY, *args)


def _train_process(run_dir, *args, wait=True):
    """train.py in a process of its own: for what only a process shows (exit status, signals)."""
    if wait:
        return run_script("train.py", "--run-dir", run_dir, *TINY, *args)
    command = [sys.executable, str(ROOT / "train.py"), "--run-dir", str(run_dir), *TINY, *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


# ----------------------------------------------------------------------------- bad input, one line each
def _write(path, text):
    path.write_text(text)
    return str(path)


def _idx(path, magic, body=b""):
    with gzip.open(path, "wb") as f:
        f.write(bytes(magic) + body)


def _mnist_dir(tmp_path, problem):
    """A directory of tiny MNIST files with one ``problem``."""
    d = tmp_path / "mnist"
    d.mkdir()
    images = bytes([0, 0, 8, 3]) + (4).to_bytes(4, "big") + (2).to_bytes(4, "big") * 2 + bytes(16)
    labels = bytes([0, 0, 8, 1]) + (4).to_bytes(4, "big") + bytes(4)
    files = {"train-images-idx3-ubyte.gz": images, "train-labels-idx1-ubyte.gz": labels,
             "t10k-images-idx3-ubyte.gz": images, "t10k-labels-idx1-ubyte.gz": labels}
    if problem == "truncated":
        files["train-images-idx3-ubyte.gz"] = images[:-3]
    if problem == "magic":
        files["train-labels-idx1-ubyte.gz"] = bytes([1, 2, 3, 4]) + labels[4:]
    if problem == "counts":
        files["t10k-labels-idx1-ubyte.gz"] = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes(3)
    for name, body in files.items():
        with gzip.open(d / name, "wb") as f:
            f.write(body)
    if problem == "corrupt":
        (d / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    if problem == "missing":
        (d / "t10k-images-idx3-ubyte.gz").unlink()
    return str(d)


def _custom(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    return ["--set", "data.name=custom", "--set", f"data.path={json.dumps(str(path))}"]


BAD = {  # name: (arguments built from tmp_path, what the one line must say)
    "unknown key": (lambda t: ["--set", "train.epohcs=3"], "did you mean 'epochs'"),
    "unknown section": (lambda t: ["--set", "trian.epochs=3"], "unknown config key 'trian'"),
    "unknown nested key": (lambda t: ["--set", "model.latent_dims=3"], "did you mean 'latent_dim'"),
    "K < 1": (lambda t: ["--set", "model.n_clusters=0"], "model.n_clusters: got 0, must be >= 1"),
    "latent_dim < 1": (lambda t: ["--set", "model.latent_dim=0"], "model.latent_dim: got 0"),
    "lr <= 0": (lambda t: ["--set", "train.learning_rate=0"], "train.learning_rate: got 0.0, must be > 0"),
    "batch size < 1": (lambda t: ["--set", "train.batch_size=0"], "train.batch_size: got 0"),
    "batch larger than data": (lambda t: ["--set", "train.batch_size=5000"], "larger than the 1797 samples"),
    "negative epochs": (lambda t: ["--epochs", "-1"], "train.epochs: got -1"),
    "unknown dataset": (lambda t: ["--set", "data.name=cifar"], "data.name: unknown value 'cifar'"),
    "unknown likelihood": (lambda t: ["--set", "model.likelihood=poisson"],
                           "model.likelihood: unknown value"),
    "wrong type": (lambda t: ["--set", "train.epochs=\"ten\""], "train.epochs: expected an integer"),
    "wrong bool": (lambda t: ["--set", "train.jit_compile=1"], "expected true or false"),
    "bad --set": (lambda t: ["--set", "train.epochs"], "expected section.key=value"),
    "set into a value": (lambda t: ["--set", "seed.x=1"], "seed: expected an integer"),
    "missing config": (lambda t: ["--config", str(t / "none.json")], "not found"),
    "malformed JSON": (lambda t: ["--config", _write(t / "c.json", '{"train": {"epochs": 3,}}')],
                       "not valid JSON: Expecting property name enclosed in double quotes at line 1 "
                       "column 24"),
    "noise rate": (lambda t: ["--set", "pretrain.noise_rate=1.5"], "pretrain.noise_rate: got 1.5"),
    "mnist without dir": (lambda t: ["--set", "data.name=mnist", "--set", "data.download=false"],
                          "data.dir is not set for mnist"),
    "missing data file": (lambda t: ["--set", "data.name=mnist", "--set", "data.download=false",
                                     "--data-dir", _mnist_dir(t, "missing")],
                          "t10k-images-idx3-ubyte.gz not found"),
    "truncated gzip": (lambda t: ["--set", "data.name=mnist", "--data-dir", _mnist_dir(t, "truncated")],
                       "truncated"),
    "corrupt gzip": (lambda t: ["--set", "data.name=mnist", "--data-dir", _mnist_dir(t, "corrupt")],
                     "corrupt"),
    "wrong IDX magic": (lambda t: ["--set", "data.name=mnist", "--data-dir", _mnist_dir(t, "magic")],
                        "bad magic number"),
    "mismatched counts": (lambda t: ["--set", "data.name=mnist", "--data-dir", _mnist_dir(t, "counts")],
                          "4 images but 3 labels"),
    "NaN features": (lambda t: _custom(t, "nan.npy", np.array([[0.5, np.nan]] * 8)), "NaN or Inf"),
    "Inf features": (lambda t: _custom(t, "inf.csv", "a,b\n1,inf\n2,3\n"), "NaN or Inf"),
    "outside [0, 1] for bernoulli": (lambda t: _custom(t, "big.npy", np.full((8, 2), 3.0)),
                                     "bernoulli likelihood needs [0, 1]"),
    "unreadable csv": (lambda t: _custom(t, "text.csv", "a,b\nx,y\n"), "non-numeric or missing value"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_one_line_and_exit_code_2(tmp_path, case):
    arguments, fragment = BAD[case]
    result = _train(tmp_path / "run", *arguments(tmp_path))
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: ") and fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_process_given_bad_input_exits_2_with_one_line_on_stderr(tmp_path):
    """The same contract seen from outside: the exit status and stderr of a real process."""
    arguments, fragment = BAD["unknown key"]
    result = _train_process(tmp_path / "run", *arguments(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- crashes and stops
# Two warm-up epochs: the kills below land in one (step 12) and after it (step 60), both resumed.
RESUMABLE = ["--epochs", "6", "--set", "train.deterministic=true", "--set", "train.checkpoint_every_steps=4",
             "--set", "train.partition_warmup_epochs=2"]
FINAL_KEYS = ("acc", "nmi", "ari", "elbo", "reconstruction", "kl_z", "kl_c")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    result = _train(run_dir, *RESUMABLE)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((run_dir / rundir.METRICS_FILE).read_text())


def _newest_step(run_dir: Path) -> int:
    steps = [int(p.stem.split("-")[1]) for p in (run_dir / rundir.CHECKPOINT_DIR).glob("ckpt-*.json")]
    return max(steps, default=-1)


def _run_until(run_dir, step, send):
    """Start a run, and once a checkpoint at ``step`` or later exists, send it ``send``."""
    process = _train_process(run_dir, *RESUMABLE, wait=False)
    deadline = time.time() + 300
    while _newest_step(run_dir) < step and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(send)
    out, err = process.communicate(timeout=300)
    return process.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_step", [12, 60])  # in the first epoch (17 steps), and in the fourth
def test_a_sigkilled_run_resumes_to_the_same_result(tmp_path, uninterrupted, kill_after_step):
    code, _ = _run_until(tmp_path, kill_after_step, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not (tmp_path / rundir.METRICS_FILE).exists()
    resumed = _train(tmp_path, *RESUMABLE)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout
    metrics = json.loads((tmp_path / rundir.METRICS_FILE).read_text())
    assert [e["epoch"] for e in metrics["restarts"][0]["epochs"]] == list(range(1, 7))
    for key in FINAL_KEYS:
        assert metrics[key] == uninterrupted[key], key


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    code, err = _run_until(tmp_path, 20, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1].startswith("stopped: stopped by SIGTERM")
    record = json.loads(max((tmp_path / rundir.CHECKPOINT_DIR).glob("ckpt-*.json"),
                            key=lambda p: int(p.stem.split("-")[1])).read_text())
    assert record["step"] >= 20 and record["batches_done"] > 0
    assert (tmp_path / rundir.CHECKPOINT_DIR / f"ckpt-{record['step']}.index").exists()


def test_a_same_seed_rerun_gives_identical_metrics(tmp_path, uninterrupted):
    again = _train(tmp_path, *RESUMABLE)
    assert again.returncode == 0, again.stderr[-3000:]
    metrics = json.loads((tmp_path / rundir.METRICS_FILE).read_text())
    assert [metrics[k] for k in FINAL_KEYS] == [uninterrupted[k] for k in FINAL_KEYS]
    assert metrics["restarts"][0]["epochs"] == uninterrupted["restarts"][0]["epochs"]


def test_a_truncated_checkpoint_is_reported_and_the_previous_one_used(tmp_path, uninterrupted):
    from vade_tf.config import load_config
    from vade_tf.fit import compile_for_training
    from vade_tf.initialise import build_model
    from vade_tf.resume import TrainingState, checkpoint_identity

    result = _train(tmp_path, "--epochs", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    directory = tmp_path / rundir.CHECKPOINT_DIR
    newest = max(directory.glob("ckpt-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    data_file = next(directory.glob(f"{newest.stem}.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])
    config = load_config(tmp_path / rundir.CONFIG_FILE)
    model = build_model(config, 64, seed=0)
    compile_for_training(model, config, steps_per_epoch=1797 // config.train.batch_size)
    warnings = []
    record = TrainingState(model, directory, checkpoint_identity(config, 64)).restore_latest(warnings.append)
    assert len(warnings) == 1 and "corrupt or partial" in warnings[0] and newest.stem in warnings[0]
    assert record is not None and record["step"] < int(newest.stem.split("-")[1])


def test_a_non_finite_loss_stops_with_one_line_and_exit_code_3(tmp_path):
    result = _train(tmp_path, "--epochs", "3", "--set", "train.learning_rate=1e30")
    assert result.returncode == 3, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: non-finite loss") and "lower train.learning_rate" in last
    assert not (tmp_path / rundir.METRICS_FILE).exists()


def test_a_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path):
    """Weights poisoned as epoch 2 starts: training stops, and the epoch-1 checkpoint stays the newest."""
    import keras
    import tensorflow as tf

    from vade_tf.config import load_config
    from vade_tf.data import load_dataset
    from vade_tf.errors import TrainingStopped
    from vade_tf.fit import compile_for_training, fit_vade
    from vade_tf.initialise import build_model
    from vade_tf.resume import TrainingState, checkpoint_identity

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                kernel = self.model.decoder.out.kernel
                kernel.assign(tf.fill(kernel.shape, float("nan")))

    config = load_config(overrides={"model.hidden_dims": [32, 16], "model.latent_dim": 3, "train.epochs": 3,
                                    "train.steps_per_execution": 4})
    data = load_dataset(config.data)
    model = build_model(config, data.input_dim, seed=0)
    with pytest.raises(TrainingStopped, match="non-finite loss") as stopped:
        fit_vade(model, data, config, 0, tmp_path / "logs", tmp_path / "ckpt", verbose=0,
                 callbacks=[Poison()])
    assert stopped.value.exit_code == 3
    fresh = build_model(config, data.input_dim, seed=1)
    compile_for_training(fresh, config, steps_per_epoch=len(data.x) // config.train.batch_size)
    state = TrainingState(fresh, tmp_path / "ckpt", checkpoint_identity(config, data.input_dim))
    record = state.restore_latest()
    assert record["epoch"] == 1 and record["batches_done"] == 0
    assert all(np.all(np.isfinite(v.numpy())) for v in fresh.weights)


def test_a_locked_run_directory_is_refused(tmp_path):
    from vade_tf.rundir import RunLock

    with RunLock(tmp_path):
        result = _train(tmp_path, "--epochs", "1")
    assert result.returncode == 2 and "is in use by pid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_default_run_repeats_itself_without_op_determinism(tmp_path):
    """A run is a function of its seed: with the defaults (train.deterministic off) two processes
    give the same epochs and the same final metrics, to the last bit."""
    runs = []
    for name in ("first", "second"):
        result = _train(tmp_path / name, "--epochs", "3")
        assert result.returncode == 0, result.stderr[-3000:]
        runs.append(json.loads((tmp_path / name / rundir.METRICS_FILE).read_text()))
    assert [runs[0][k] for k in FINAL_KEYS] == [runs[1][k] for k in FINAL_KEYS]
    assert runs[0]["restarts"][0]["epochs"] == runs[1]["restarts"][0]["epochs"]
