"""A killed or stopped run resumes to the same result; a corrupt checkpoint or a NaN keeps the last good
state; a run is a function of its seed."""
import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, FINAL_KEYS, train_tiny, train_tiny_process

from vade_tf import rundir

# Two warm-up epochs, then two whose KL weight returns to 1: the stop and the kill below land in the
# warm-up (after step 4) and in the release (step 60), and the run resumes from both.
RESUMABLE = ["--epochs", "6", "--set", "train.deterministic=true", "--set", "train.checkpoint_every_steps=4",
             "--set", "train.partition_warmup_epochs=2", "--set", "train.warmup_release_epochs=2"]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    result = train_tiny(run_dir, *RESUMABLE)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def uninterrupted(reference_run):
    return json.loads((reference_run / rundir.METRICS_FILE).read_text())


def _newest_step(run_dir: Path) -> int:
    steps = [int(p.stem.split("-")[1]) for p in (run_dir / rundir.CHECKPOINT_DIR).glob("ckpt-*.json")]
    return max(steps, default=-1)


def _run_until(run_dir, step, send):
    """Start a run, and once a checkpoint at ``step`` or later exists, send it ``send``; its exit code
    and what it printed (unbuffered, so a killed process's lines are kept)."""
    process = train_tiny_process(run_dir, *RESUMABLE, wait=False)
    deadline = time.time() + 300
    while _newest_step(run_dir) < step and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(send)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


@pytest.mark.slow
def test_a_stopped_then_killed_run_resumes_to_the_same_result(tmp_path, uninterrupted):
    """SIGTERM in the warm-up's first epoch saves a checkpoint and exits cleanly; a second process
    resumes from it and is SIGKILLed in the release (step 60, the fourth epoch); the run then resumes
    from its newest checkpoint to the uninterrupted run's result, to the last bit."""
    code, _, err = _run_until(tmp_path, 4, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1].startswith("stopped: stopped by SIGTERM")
    record = json.loads(max((tmp_path / rundir.CHECKPOINT_DIR).glob("ckpt-*.json"),
                            key=lambda p: int(p.stem.split("-")[1])).read_text())
    # The signal lands some steps after the checkpoint at step 4, under load as many as a dozen: inside
    # the epoch, or at its last batch, where the checkpoint is that epoch's end with its history.
    assert record["step"] > 4
    assert record["batches_done"] > 0 or (record["epoch"] == 1 and len(record["history"]) == 1)
    assert (tmp_path / rundir.CHECKPOINT_DIR / f"ckpt-{record['step']}.index").exists()

    code, out, _ = _run_until(tmp_path, 60, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert f"resuming from {tmp_path / rundir.CHECKPOINT_DIR}: epoch {record['epoch'] + 1}, " \
           f"batch {record['batches_done']}" in out
    assert not (tmp_path / rundir.METRICS_FILE).exists()

    resumed = train_tiny(tmp_path, *RESUMABLE)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout
    metrics = json.loads((tmp_path / rundir.METRICS_FILE).read_text())
    assert [e["epoch"] for e in metrics["restarts"][0]["epochs"]] == list(range(1, 7))
    for key in FINAL_KEYS:
        assert metrics[key] == uninterrupted[key], key


def test_a_same_seed_rerun_gives_identical_metrics(tmp_path, uninterrupted):
    again = train_tiny(tmp_path, *RESUMABLE)
    assert again.returncode == 0, again.stderr[-3000:]
    metrics = json.loads((tmp_path / rundir.METRICS_FILE).read_text())
    assert [metrics[k] for k in FINAL_KEYS] == [uninterrupted[k] for k in FINAL_KEYS]
    assert metrics["restarts"][0]["epochs"] == uninterrupted["restarts"][0]["epochs"]


def test_a_truncated_checkpoint_is_reported_and_the_previous_one_used(tmp_path, reference_run):
    import shutil

    from vade_tf.config import load_config
    from vade_tf.fit import compile_for_training
    from vade_tf.initialise import build_model
    from vade_tf.resume import TrainingState, checkpoint_identity

    shutil.copy(reference_run / rundir.CONFIG_FILE, tmp_path)  # a copy: other tests read the original
    shutil.copytree(reference_run / rundir.CHECKPOINT_DIR, tmp_path / rundir.CHECKPOINT_DIR)
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
    result = train_tiny(tmp_path, "--epochs", "3", "--set", "train.learning_rate=1e30")
    assert result.returncode == 3, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: non-finite loss") and "lower train.learning_rate" in last
    assert not (tmp_path / rundir.METRICS_FILE).exists()


def test_a_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path):
    """Weights poisoned as epoch 2 starts: training stops, and the epoch-1 checkpoint (one an epoch:
    train.checkpoint_every_minutes 0) stays the newest."""
    import keras
    import tensorflow as tf

    from vade_tf.config import load_config
    from vade_tf.data import load_dataset
    from vade_tf.errors import TrainingStopped
    from vade_tf.fit import compile_for_training, fit_vade
    from vade_tf.initialise import build_model
    from vade_tf.recipe import resolve_auto
    from vade_tf.resume import TrainingState, checkpoint_identity

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                kernel = self.model.decoder.body.layers[-1].kernel
                kernel.assign(tf.fill(kernel.shape, float("nan")))

    config = load_config(overrides={**FAST, "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3,
                                    "train.epochs": 3, "train.steps_per_execution": 4,
                                    "train.checkpoint_every_minutes": 0})
    data = load_dataset(config.data)
    config = resolve_auto(config, data)
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
        result = train_tiny(tmp_path, "--epochs", "1")
    assert result.returncode == 2 and "is in use by pid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_checkpoints_come_by_the_clock_and_at_the_end_not_every_epoch(tmp_path, monkeypatch):
    """A run shorter than train.checkpoint_every_minutes writes one checkpoint, at its end; 0 minutes
    gives one at every epoch's end; a clock that is always due saves inside the epochs too."""
    from vade_tf.resume import TrainingState

    saved = []
    save = TrainingState.save
    monkeypatch.setattr(TrainingState, "save", lambda self, epoch, batches_done, history:
                        saved.append((epoch, batches_done)) or save(self, epoch, batches_done, history))
    for minutes, run in ((5, "clock"), (0, "epochs"), (1e-9, "always")):
        saved.clear()
        result = train_tiny(tmp_path / run, "--epochs", "3",
                            "--set", f"train.checkpoint_every_minutes={minutes}")
        assert result.returncode == 0, result.stderr[-3000:]
        if run == "clock":
            assert saved == [(3, 0)]
        elif run == "epochs":
            assert saved == [(1, 0), (2, 0), (3, 0)]
        else:
            assert (1, 0) in saved and any(batches for _, batches in saved) and saved[-1] == (3, 0)


def test_a_signal_on_an_epochs_last_batch_saves_its_end_and_resumes_exactly(tmp_path):
    """SIGTERM arriving with an epoch's last batch: the checkpoint is that epoch's end, its history
    included (not a position past the last batch), and the resumed run ends where an uninterrupted
    one does, epoch records and all."""
    import os

    import keras

    from vade_tf.config import load_config
    from vade_tf.data import load_dataset
    from vade_tf.errors import TrainingStopped
    from vade_tf.fit import fit_vade
    from vade_tf.initialise import build_model
    from vade_tf.recipe import resolve_auto

    config = load_config(overrides={**FAST, "model.networks.hidden_dims": [32, 16], "model.latent_dim": 3,
                                    "train.epochs": 3, "train.deterministic": True,
                                    "train.steps_per_execution": 1})
    data = load_dataset(config.data)
    config = resolve_auto(config, data)
    steps_per_epoch = len(data.x) // config.train.batch_size

    class TerminateOnTheFirstEpochsLastBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == steps_per_epoch:
                os.kill(os.getpid(), signal.SIGTERM)

    def run(folder, callbacks):
        keras.utils.set_random_seed(0)  # the same initial weights for every run, as train.py seeds them
        model = build_model(config, data.input_dim, seed=0)
        return fit_vade(model, data, config, 0, folder / "logs", folder / "ckpt", verbose=0,
                        callbacks=callbacks)

    whole = run(tmp_path / "whole", [])
    with pytest.raises(TrainingStopped, match="stopped by SIGTERM at the end of epoch 1") as stopped:
        run(tmp_path / "cut", [TerminateOnTheFirstEpochsLastBatch()])
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "cut" / "ckpt").glob("ckpt-*.json")]
    assert (record["epoch"], record["batches_done"], len(record["history"])) == (1, 0, 1)
    assert run(tmp_path / "cut", []) == whole
